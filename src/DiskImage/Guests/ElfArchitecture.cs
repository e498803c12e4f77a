using System.Buffers.Binary;
using DiskImage.FileSystems;

namespace DiskImage.Guests;

/// <summary>The architecture of an ELF binary from its header (<c>e_machine</c>, class and byte order), named as libguestfs names it.</summary>
internal static class ElfArchitecture
{
    /// <summary>The binaries libguestfs looks at, in order.</summary>
    public static readonly string[] Probes = ["/bin/bash", "/bin/ls", "/bin/echo", "/bin/rm", "/bin/sh"];

    /// <summary>The architecture of the first of <see cref="Probes"/> that is an ELF file, or null.</summary>
    public static string? Find(IFileSystem fs)
    {
        Span<byte> header = stackalloc byte[20];
        foreach (string path in Probes)
        {
            try
            {
                using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
                if (s.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) == header.Length && Name(header) is { } arch)
                {
                    return arch;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException or ArgumentException)
            {
                // Missing or unreadable: try the next one.
            }
        }

        return null;
    }

    /// <summary>Names the architecture of an ELF header (at least 20 bytes), or null when it is not ELF or not known.</summary>
    public static string? Name(ReadOnlySpan<byte> header)
    {
        if (header.Length < 20 || !header[..4].SequenceEqual("\u007FELF"u8))
        {
            return null;
        }

        bool is64 = header[4] == 2;
        bool bigEndian = header[5] == 2;
        ushort machine = bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(header[18..]) : BinaryPrimitives.ReadUInt16LittleEndian(header[18..]);
        return machine switch
        {
            3 => "i386",
            62 => "x86_64",
            183 => "aarch64",
            40 => "arm",
            20 => "ppc",
            21 => bigEndian ? "ppc64" : "ppc64le",
            22 => is64 ? "s390x" : "s390",
            243 => is64 ? "riscv64" : "riscv32",
            258 => "loongarch64",
            2 => "sparc",
            43 => "sparc64",
            8 => is64 ? "mips64" : "mips",
            50 => "ia64",
            _ => null,
        };
    }
}
