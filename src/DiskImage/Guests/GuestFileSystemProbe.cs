using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using DiskImage.FileSystems.Fat;
using DiskImage.IO;

namespace DiskImage.Guests;

/// <summary>What the content probe found on a volume: type, UUID and label as <c>blkid</c> prints them.</summary>
internal readonly record struct GuestProbeResult(GuestFileSystemType Type, string? Uuid, string? Label);

/// <summary>
/// Recognises a volume's content by its signatures (the <c>blkid</c> way; partition type codes are ignored):
/// ext2/3/4 (0xEF53 at 1024 + 0x38), XFS (<c>XFSB</c> at 0), swap (<c>SWAPSPACE2</c> at 4096 − 10),
/// an LVM2 PV (<c>LABELONE</c> + <c>LVM2 001</c> in sectors 0–3), FAT (a sane BPB and 55 AA).
/// Reads at most the first 8 KiB; never throws for malformed content (it is then <see cref="GuestFileSystemType.Unknown"/>).
/// </summary>
internal static class GuestFileSystemProbe
{
    private const int ExtSuperBlock = 1024;
    private const int SwapPageSize = 4096;

    // ext feature bits (superblock s_feature_*), as blkid uses them to tell ext2/3/4 apart.
    private const uint ExtCompatHasJournal = 0x4;
    private const uint ExtIncompatJournalDev = 0x8;
    private const uint Ext3IncompatSupported = 0x2 | 0x4 | 0x10; // filetype, recover, meta_bg
    private const uint Ext3RoCompatSupported = 0x1 | 0x2 | 0x4; // sparse_super, large_file, btree_dir

    public static GuestProbeResult Probe(BlockDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        byte[] head = new byte[8192];
        int n = device.Read(0, head.AsSpan(0, (int)Math.Min(head.Length, device.Length)));
        ReadOnlySpan<byte> h = head.AsSpan(0, n);

        if (n >= ExtSuperBlock + 0x88 && BinaryPrimitives.ReadUInt16LittleEndian(h[(ExtSuperBlock + 0x38)..]) == 0xEF53)
        {
            ReadOnlySpan<byte> sb = h[ExtSuperBlock..];
            uint compat = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x5C..]);
            uint incompat = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x60..]);
            uint roCompat = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x64..]);
            if ((incompat & ExtIncompatJournalDev) == 0)
            {
                GuestFileSystemType type = (incompat & ~Ext3IncompatSupported) != 0 || (roCompat & ~Ext3RoCompatSupported) != 0
                    ? GuestFileSystemType.Ext4
                    : (compat & ExtCompatHasJournal) != 0 ? GuestFileSystemType.Ext3 : GuestFileSystemType.Ext2;
                return new GuestProbeResult(type, FormatUuid(sb.Slice(0x68, 16)), Text(sb.Slice(0x78, 16)));
            }
        }

        if (n >= 120 && h[..4].SequenceEqual("XFSB"u8))
        {
            return new GuestProbeResult(GuestFileSystemType.Xfs, FormatUuid(h.Slice(32, 16)), Text(h.Slice(108, 12)));
        }

        if (n >= SwapPageSize && (h.Slice(SwapPageSize - 10, 10).SequenceEqual("SWAPSPACE2"u8) || h.Slice(SwapPageSize - 10, 10).SequenceEqual("SWAP-SPACE"u8)))
        {
            bool v1 = h[SwapPageSize - 1] == (byte)'2';
            return new GuestProbeResult(GuestFileSystemType.Swap, v1 ? FormatUuid(h.Slice(1036, 16)) : null, v1 ? Text(h.Slice(1052, 16)) : null);
        }

        if (LvmPhysicalVolumeUuid(h) is { } pvUuid)
        {
            return new GuestProbeResult(GuestFileSystemType.LvmPhysicalVolume, pvUuid, null);
        }

        if (n >= 512 && BinaryPrimitives.ReadUInt16LittleEndian(h[510..]) == 0xAA55 && FatBootSector.Probe(h[..512]))
        {
            return ProbeFat(device);
        }

        return new GuestProbeResult(GuestFileSystemType.Unknown, null, null);
    }

    /// <summary>The PV UUID (32 characters, no hyphens) of an LVM2 label in sectors 0–3, or null.</summary>
    internal static string? LvmPhysicalVolumeUuid(ReadOnlySpan<byte> head)
    {
        for (int sector = 0; sector < 4; sector++)
        {
            int at = sector * 512;
            if (head.Length < at + 512)
            {
                return null;
            }

            ReadOnlySpan<byte> label = head.Slice(at, 512);
            if (!label[..8].SequenceEqual("LABELONE"u8) || !label.Slice(24, 8).SequenceEqual("LVM2 001"u8))
            {
                continue;
            }

            // sector_xl must name the sector the label was found in; offset_xl (normally 32) places the pv_header.
            if (BinaryPrimitives.ReadUInt64LittleEndian(label[8..]) != (ulong)sector)
            {
                continue;
            }

            uint offset = BinaryPrimitives.ReadUInt32LittleEndian(label[20..]);
            if (offset < 32 || offset > 512 - 32)
            {
                continue;
            }

            ReadOnlySpan<byte> uuid = label.Slice((int)offset, 32);
            foreach (byte b in uuid)
            {
                if (!char.IsAsciiLetterOrDigit((char)b) && b is not ((byte)'!' or (byte)'#'))
                {
                    return string.Empty;
                }
            }

            return Encoding.ASCII.GetString(uuid);
        }

        return null;
    }

    private static GuestProbeResult ProbeFat(BlockDevice device)
    {
        try
        {
            using FatFileSystem fat = FatFileSystem.Open(device, leaveOpen: true);
            uint id = fat.VolumeId;
            string uuid = string.Create(CultureInfo.InvariantCulture, $"{id >> 16:X4}-{id & 0xFFFF:X4}");
            return new GuestProbeResult(GuestFileSystemType.Fat, uuid, fat.Label.Length == 0 ? null : fat.Label);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
        {
            return new GuestProbeResult(GuestFileSystemType.Unknown, null, null);
        }
    }

    /// <summary>A 16-byte UUID stored in RFC byte order, as blkid prints it (lowercase, 8-4-4-4-12); null when all zero.</summary>
    internal static string? FormatUuid(ReadOnlySpan<byte> raw)
    {
        if (raw.IndexOfAnyExcept((byte)0) < 0)
        {
            return null;
        }

        string hex = Convert.ToHexStringLower(raw);
        return $"{hex[..8]}-{hex[8..12]}-{hex[12..16]}-{hex[16..20]}-{hex[20..]}";
    }

    /// <summary>A NUL-padded label; null when empty.</summary>
    private static string? Text(ReadOnlySpan<byte> raw)
    {
        int end = raw.IndexOf((byte)0);
        ReadOnlySpan<byte> s = end < 0 ? raw : raw[..end];
        return s.Length == 0 ? null : Encoding.UTF8.GetString(s);
    }
}
