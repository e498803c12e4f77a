using System.Buffers.Binary;
using DiskImage.IO;
using Microsoft.Win32.SafeHandles;

namespace DiskImage.Formats;

/// <summary>
/// Recognizes image formats by their headers the way qemu-img probes them (block driver probe
/// functions of QEMU 7.2), so that an image DiskImage does not read is refused by name instead of
/// being read as raw. Names are qemu-img's format names.
/// </summary>
/// <remarks>
/// Beyond qemu-img: a VHD footer ("conectix") in the last 512 bytes (fixed VHD, which qemu-img probes
/// as raw), a DMG "koly" trailer and a LUKS header of any version are recognized too, and a cloop
/// script header must be complete (qemu-img accepts a file shorter than the script that matches it).
/// </remarks>
internal static class ImageFormatProbe
{
    /// <summary>Bytes read from the start of the file (qemu's probe buffer).</summary>
    public const int HeaderLength = 512;

    /// <summary>Bytes read from the end of the file (VHD footer, DMG trailer).</summary>
    public const int TrailerLength = 512;

    private const uint Qcow2Magic = 0x514649FB; // "QFI\xfb"
    private const uint Vmdk4Magic = 0x4B444D56; // "KDMV"
    private const uint Vmdk3Magic = 0x434F5744; // "COWD"
    private const uint VdiSignature = 0xBEDA107F; // little-endian at 0x40
    private const int VdiHeaderLength = 512;
    private const uint QedMagic = 0x00444551; // "QED\0" little-endian
    private const int QedHeaderLength = 64;
    private const int QcowHeaderLength = 48;
    private const int ParallelsHeaderLength = 64;
    private const uint ParallelsVersion = 2;
    private const int BochsHeaderLength = 512;
    private const uint BochsVersion = 0x00020000;
    private const uint BochsVersion1 = 0x00010000;

    private static ReadOnlySpan<byte> Vhdx => "vhdxfile"u8;

    private static ReadOnlySpan<byte> VpcCookie => "conectix"u8;

    private static ReadOnlySpan<byte> LuksMagic => [(byte)'L', (byte)'U', (byte)'K', (byte)'S', 0xBA, 0xBE];

    private static ReadOnlySpan<byte> ParallelsMagic => "WithoutFreeSpace"u8;

    private static ReadOnlySpan<byte> ParallelsMagic2 => "WithouFreSpacExt"u8;

    private static ReadOnlySpan<byte> BochsMagic => "Bochs Virtual HD Image\0"u8;

    private static ReadOnlySpan<byte> BochsRedolog => "Redolog\0"u8;

    private static ReadOnlySpan<byte> BochsGrowing => "Growing\0"u8;

    private static ReadOnlySpan<byte> CloopMagic => "#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n"u8;

    private static ReadOnlySpan<byte> DmgTrailer => "koly"u8;

    /// <summary>
    /// The format of the file at <paramref name="path"/>: <c>raw</c>, <c>qcow2</c> or the name of a
    /// foreign format.
    /// </summary>
    public static string Probe(string path)
    {
        using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        Span<byte> header = stackalloc byte[HeaderLength];
        int n = RandomAccess.Read(handle, header, 0);
        header = header[..n];
        string byHeader = Probe(header, default);
        long length = RandomAccess.GetLength(handle);
        if (byHeader != "raw" || length < TrailerLength || TrailerIsHole(handle, length))
        {
            return byHeader == "raw" ? Probe(header, default, path) : byHeader;
        }

        Span<byte> trailer = stackalloc byte[TrailerLength];
        int t = RandomAccess.Read(handle, trailer, length - TrailerLength);
        return Probe(header, trailer[..t], path);
    }

    // A trailer in a hole (or an unwritten preallocated extent) reads as zeros and holds no footer;
    // not reading it also keeps the page cache from turning that extent into data for SEEK_DATA.
    private static bool TrailerIsHole(SafeFileHandle handle, long length)
    {
        if (!LinuxFileInterop.IsSupported)
        {
            return false;
        }

        try
        {
            long data = LinuxFileInterop.Seek(handle, length - TrailerLength, LinuxFileInterop.SeekData);
            return data == -LinuxFileInterop.ENXIO || data >= length;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
        catch (DllNotFoundException)
        {
            return false;
        }
    }

    /// <summary>
    /// The format named by the first bytes of an image (<paramref name="header"/>, up to
    /// <see cref="HeaderLength"/>), its last <see cref="TrailerLength"/> bytes (may be empty) and,
    /// for DMG only, its file name (may be null).
    /// </summary>
    public static string Probe(ReadOnlySpan<byte> header, ReadOnlySpan<byte> trailer, string? fileName = null)
    {
        if (header.Length >= 4)
        {
            uint magic = BinaryPrimitives.ReadUInt32BigEndian(header);
            if (magic == Qcow2Magic)
            {
                // qcow (version 1) and qcow2 share the magic; qcow2 validates its own version on open.
                return header.Length >= QcowHeaderLength && BinaryPrimitives.ReadUInt32BigEndian(header[4..]) == 1 ? "qcow" : "qcow2";
            }

            if (magic is Vmdk4Magic or Vmdk3Magic)
            {
                return "vmdk";
            }
        }

        if (header.StartsWith(Vhdx))
        {
            return "vhdx";
        }

        if (header.StartsWith(VpcCookie))
        {
            return "vpc";
        }

        if (header.Length >= VdiHeaderLength && BinaryPrimitives.ReadUInt32LittleEndian(header[0x40..]) == VdiSignature)
        {
            return "vdi";
        }

        if (header.Length >= QedHeaderLength && BinaryPrimitives.ReadUInt32LittleEndian(header) == QedMagic)
        {
            return "qed";
        }

        if (header.Length >= ParallelsHeaderLength &&
            (header.StartsWith(ParallelsMagic) || header.StartsWith(ParallelsMagic2)) &&
            BinaryPrimitives.ReadUInt32LittleEndian(header[16..]) == ParallelsVersion)
        {
            return "parallels";
        }

        if (header.Length >= 8 && header.StartsWith(LuksMagic))
        {
            return "luks";
        }

        if (header.Length >= BochsHeaderLength &&
            header.StartsWith(BochsMagic) &&
            header[32..].StartsWith(BochsRedolog) &&
            header[48..].StartsWith(BochsGrowing) &&
            BinaryPrimitives.ReadUInt32LittleEndian(header[64..]) is BochsVersion or BochsVersion1)
        {
            return "bochs";
        }

        if (IsVmdkDescriptor(header))
        {
            return "vmdk";
        }

        if (header.StartsWith(CloopMagic))
        {
            return "cloop";
        }

        if (trailer.Length >= TrailerLength)
        {
            if (trailer.StartsWith(DmgTrailer))
            {
                return "dmg";
            }

            if (trailer.StartsWith(VpcCookie))
            {
                return "vpc";
            }
        }

        if (fileName is { Length: > 4 } && fileName.EndsWith(".dmg", StringComparison.Ordinal))
        {
            return "dmg";
        }

        return "raw";
    }

    /// <summary>A VMDK text descriptor: comment lines and blank lines, then <c>version=1</c>, <c>2</c> or <c>3</c>.</summary>
    private static bool IsVmdkDescriptor(ReadOnlySpan<byte> buffer)
    {
        int p = 0;
        while (p < buffer.Length)
        {
            if (buffer[p] == (byte)'#')
            {
                int end = buffer[p..].IndexOf((byte)'\n');
                if (end < 0)
                {
                    return false;
                }

                p += end + 1;
                continue;
            }

            if (buffer[p] == (byte)' ')
            {
                while (p < buffer.Length && buffer[p] == (byte)' ')
                {
                    p++;
                }

                if (p < buffer.Length && buffer[p] == (byte)'\r')
                {
                    p++;
                }

                // Only blank lines may come before the version line.
                if (p == buffer.Length || buffer[p] != (byte)'\n')
                {
                    return false;
                }

                p++;
                continue;
            }

            ReadOnlySpan<byte> rest = buffer[p..];
            if (rest.Length >= 9 && rest.StartsWith("version="u8) && rest[8] is (byte)'1' or (byte)'2' or (byte)'3')
            {
                return (rest.Length >= 10 && rest[9] == (byte)'\n') || (rest.Length >= 11 && rest[9] == (byte)'\r' && rest[10] == (byte)'\n');
            }

            return false;
        }

        return false;
    }
}
