using System.Buffers.Binary;
using DiskImage.FileSystems;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// What the dynamic loader needs of an ELF file: its class, byte order and machine, the program
/// interpreter (<c>PT_INTERP</c>) and, from the dynamic segment (<c>PT_DYNAMIC</c>), the needed
/// libraries (<c>DT_NEEDED</c>), <c>DT_RPATH</c> and <c>DT_RUNPATH</c>. Read from the program
/// headers only (as the loader does; section headers may be stripped), every offset and size
/// checked against the file.
/// </summary>
internal sealed class ElfDynamicInfo
{
    private const uint PtLoad = 1;
    private const uint PtDynamic = 2;
    private const uint PtInterp = 3;
    private const long DtNull = 0;
    private const long DtNeeded = 1;
    private const long DtStrtab = 5;
    private const long DtStrsz = 10;
    private const long DtRpath = 15;
    private const long DtRunpath = 29;

    /// <summary>Largest dynamic segment or string table read (real ones are a few KiB).</summary>
    private const long MaxTableSize = 16 << 20;

    /// <summary>Largest interpreter path read.</summary>
    private const long MaxInterpreterSize = 4096;

    private ElfDynamicInfo(bool is64, bool bigEndian, ushort machine)
    {
        Is64Bit = is64;
        IsBigEndian = bigEndian;
        Machine = machine;
    }

    /// <summary>ELFCLASS64 (true) or ELFCLASS32.</summary>
    public bool Is64Bit { get; }

    /// <summary>ELFDATA2MSB (true) or ELFDATA2LSB.</summary>
    public bool IsBigEndian { get; }

    /// <summary><c>e_machine</c> (62 = x86-64, 3 = i386, 183 = AArch64).</summary>
    public ushort Machine { get; }

    /// <summary>The <c>PT_INTERP</c> path, or null for a static binary or a library.</summary>
    public string? Interpreter { get; private set; }

    /// <summary>The <c>DT_NEEDED</c> names in order.</summary>
    public List<string> Needed { get; } = [];

    /// <summary>The <c>DT_RPATH</c> string, or null.</summary>
    public string? RPath { get; private set; }

    /// <summary>The <c>DT_RUNPATH</c> string, or null.</summary>
    public string? RunPath { get; private set; }

    /// <summary>Whether another object can satisfy this one's needs (same class, byte order and machine).</summary>
    public bool IsCompatibleWith(ElfDynamicInfo other) => Is64Bit == other.Is64Bit && IsBigEndian == other.IsBigEndian && Machine == other.Machine;

    /// <summary>Whether <paramref name="header"/> starts with the ELF magic.</summary>
    public static bool HasMagic(ReadOnlySpan<byte> header) => header.Length >= 4 && header[..4].SequenceEqual("\u007FELF"u8);

    /// <summary>Reads an ELF file from a seekable stream.</summary>
    /// <exception cref="InvalidDataException">Not ELF, or a header, table or string lies outside the file or is malformed.</exception>
    /// <exception cref="NotSupportedException">More than 65534 program headers (<c>PN_XNUM</c>).</exception>
    public static ElfDynamicInfo Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        long length = stream.Length;
        Span<byte> ident = stackalloc byte[64];
        if (length < 52 || ReadAt(stream, 0, ident[..(int)Math.Min(64, length)]) < 52 || !HasMagic(ident))
        {
            throw new InvalidDataException("Not an ELF file (no \\x7FELF header).");
        }

        bool is64 = ident[4] switch
        {
            1 => false,
            2 => true,
            _ => throw new InvalidDataException($"ELF class {ident[4]} is neither 32- nor 64-bit."),
        };
        bool big = ident[5] switch
        {
            1 => false,
            2 => true,
            _ => throw new InvalidDataException($"ELF data encoding {ident[5]} is neither little- nor big-endian."),
        };
        if (is64 && length < 64)
        {
            throw new InvalidDataException("The 64-bit ELF header is truncated.");
        }

        var r = new Fields(big);
        var info = new ElfDynamicInfo(is64, big, r.U16(ident[18..]));
        ulong phoff = is64 ? r.U64(ident[32..]) : r.U32(ident[28..]);
        int phentsize = r.U16(ident[(is64 ? 54 : 42)..]);
        int phnum = r.U16(ident[(is64 ? 56 : 44)..]);
        if (phnum == 0xFFFF)
        {
            throw new NotSupportedException("ELF files with more than 65534 program headers (PN_XNUM) are not supported.");
        }

        int minEntry = is64 ? 56 : 32;
        if (phnum == 0)
        {
            return info;
        }

        // As the kernel's loader: the entry size is exactly the structure's, the table at most 64 KiB.
        if (phentsize != minEntry)
        {
            throw new InvalidDataException($"ELF program header size {phentsize} is not {minEntry}.");
        }

        long tableSize = (long)phentsize * phnum;
        if (tableSize > 65536)
        {
            throw new InvalidDataException($"ELF program header table of {tableSize} bytes is larger than 64 KiB.");
        }

        CheckRange(phoff, (ulong)tableSize, length, "program header table");
        byte[] table = new byte[tableSize];
        ReadExactly(stream, (long)phoff, table);

        var loads = new List<(ulong VAddr, ulong Offset, ulong FileSize)>();
        (ulong Offset, ulong Size)? dynamic = null;
        for (int i = 0; i < phnum; i++)
        {
            ReadOnlySpan<byte> ph = table.AsSpan(i * phentsize, minEntry);
            uint type = r.U32(ph);
            ulong offset = is64 ? r.U64(ph[8..]) : r.U32(ph[4..]);
            ulong vaddr = is64 ? r.U64(ph[16..]) : r.U32(ph[8..]);
            ulong filesz = is64 ? r.U64(ph[32..]) : r.U32(ph[16..]);
            switch (type)
            {
                case PtLoad:
                    CheckRange(offset, filesz, length, "loadable segment");
                    loads.Add((vaddr, offset, filesz));
                    break;
                case PtDynamic:
                    CheckRange(offset, filesz, length, "dynamic segment");
                    dynamic ??= (offset, filesz);
                    break;
                case PtInterp:
                    CheckRange(offset, filesz, length, "interpreter path");
                    if (filesz is 0 or > MaxInterpreterSize)
                    {
                        throw new InvalidDataException($"ELF interpreter path of {filesz} bytes.");
                    }

                    byte[] interp = new byte[filesz];
                    ReadExactly(stream, (long)offset, interp);
                    info.Interpreter = CString(interp, 0, "interpreter path");
                    break;
            }
        }

        if (dynamic is { } dyn)
        {
            info.ReadDynamic(stream, length, r, dyn.Offset, dyn.Size, loads);
        }

        return info;
    }

    private void ReadDynamic(Stream stream, long length, Fields r, ulong offset, ulong size, List<(ulong VAddr, ulong Offset, ulong FileSize)> loads)
    {
        if (size > MaxTableSize)
        {
            throw new InvalidDataException($"ELF dynamic segment of {size} bytes is larger than {MaxTableSize}.");
        }

        int entry = Is64Bit ? 16 : 8;
        byte[] table = new byte[size];
        ReadExactly(stream, (long)offset, table);
        ulong? strtab = null;
        ulong? strsz = null;
        var needed = new List<ulong>();
        ulong? rpath = null;
        ulong? runpath = null;
        for (int i = 0; i + entry <= table.Length; i += entry)
        {
            ReadOnlySpan<byte> e = table.AsSpan(i, entry);
            long tag = Is64Bit ? (long)r.U64(e) : (int)r.U32(e);
            ulong value = Is64Bit ? r.U64(e[8..]) : r.U32(e[4..]);
            if (tag == DtNull)
            {
                break;
            }

            switch (tag)
            {
                case DtNeeded: needed.Add(value); break;
                case DtStrtab: strtab = value; break;
                case DtStrsz: strsz = value; break;
                case DtRpath: rpath = value; break;
                case DtRunpath: runpath = value; break;
            }
        }

        if (needed.Count == 0 && rpath is null && runpath is null)
        {
            return;
        }

        if (strtab is not { } address || strsz is not { } tableSize)
        {
            throw new InvalidDataException("ELF dynamic segment names libraries but has no DT_STRTAB/DT_STRSZ.");
        }

        if (tableSize is 0 or > MaxTableSize)
        {
            throw new InvalidDataException($"ELF dynamic string table of {tableSize} bytes.");
        }

        // DT_STRTAB is a virtual address: map it through the loadable segment holding it.
        ulong? fileOffset = null;
        foreach ((ulong vaddr, ulong segOffset, ulong fileSize) in loads)
        {
            if (address >= vaddr && address - vaddr < fileSize)
            {
                fileOffset = segOffset + (address - vaddr);
                break;
            }
        }

        if (fileOffset is not { } strOffset)
        {
            throw new InvalidDataException($"ELF DT_STRTAB address 0x{address:x} lies in no loadable segment.");
        }

        ulong available = (ulong)length - strOffset;
        byte[] strings = new byte[Math.Min(tableSize, available)];
        ReadExactly(stream, (long)strOffset, strings);
        foreach (ulong n in needed)
        {
            Needed.Add(CString(strings, n, "DT_NEEDED name"));
        }

        RPath = rpath is { } rp ? CString(strings, rp, "DT_RPATH") : null;
        RunPath = runpath is { } rn ? CString(strings, rn, "DT_RUNPATH") : null;
    }

    private static string CString(byte[] table, ulong offset, string what)
    {
        if (offset >= (ulong)table.Length)
        {
            throw new InvalidDataException($"ELF {what} at string offset {offset} lies outside the string table ({table.Length} bytes).");
        }

        ReadOnlySpan<byte> rest = table.AsSpan((int)offset);
        int end = rest.IndexOf((byte)0);
        if (end < 0)
        {
            throw new InvalidDataException($"ELF {what} at string offset {offset} is not NUL-terminated.");
        }

        if (end == 0 && what != "DT_RPATH" && what != "DT_RUNPATH")
        {
            throw new InvalidDataException($"ELF {what} is empty.");
        }

        return UnixPathEncoding.GetString(rest[..end]);
    }

    private static void CheckRange(ulong offset, ulong size, long length, string what)
    {
        if (offset > (ulong)length || size > (ulong)length - offset)
        {
            throw new InvalidDataException($"ELF {what} (offset {offset}, {size} bytes) lies outside the file ({length} bytes).");
        }
    }

    private static int ReadAt(Stream stream, long offset, Span<byte> buffer)
    {
        stream.Position = offset;
        return stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
    }

    private static void ReadExactly(Stream stream, long offset, byte[] buffer)
    {
        if (ReadAt(stream, offset, buffer) != buffer.Length)
        {
            throw new InvalidDataException($"ELF file ends inside a table at offset {offset}.");
        }
    }

    /// <summary>Reads fields in the file's byte order.</summary>
    private readonly struct Fields(bool bigEndian)
    {
        public ushort U16(ReadOnlySpan<byte> b) => bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(b) : BinaryPrimitives.ReadUInt16LittleEndian(b);

        public uint U32(ReadOnlySpan<byte> b) => bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b);

        public ulong U64(ReadOnlySpan<byte> b) => bigEndian ? BinaryPrimitives.ReadUInt64BigEndian(b) : BinaryPrimitives.ReadUInt64LittleEndian(b);
    }
}
