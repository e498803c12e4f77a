using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// Every metadata structure of an XFS image, found by scanning it: each AG's superblock, AGF, AGI and AGFL; every
/// block (at block or directory-block alignment) that starts with a known magic — short and long btree blocks, directory
/// data, leaf, node and free-index blocks, attribute leaves and nodes, remote attribute values and symlink blocks; every
/// inode slot with the inode magic; and the log's record headers. The kinds are the mutation fuzzer's targets; the CRC
/// offset lets it re-stamp a structure after damaging it so the parsers behind the checksum check are reached.
/// </summary>
internal sealed class XfsMetadataMap
{
    private readonly Dictionary<string, List<XfsStructure>> _byKind = new(StringComparer.Ordinal);

    public IReadOnlyList<string> Kinds => [.. _byKind.Keys.Order(StringComparer.Ordinal)];

    public required bool HasCrc { get; init; }

    public required int BlockSize { get; init; }

    public required int SectorSize { get; init; }

    public required int AgBlockLog { get; init; }

    public required long AgBlocks { get; init; }

    public IReadOnlyList<XfsStructure> Of(string kind) => _byKind[kind];

    public int Count(string kind) => _byKind.TryGetValue(kind, out List<XfsStructure>? l) ? l.Count : 0;

    /// <summary>The file-system block number (<c>agno &lt;&lt; agblklog | agbno</c>) of a device offset.</summary>
    public ulong FsBlock(long offset)
    {
        long linear = offset / BlockSize;
        return ((ulong)(linear / AgBlocks) << AgBlockLog) | (ulong)(linear % AgBlocks);
    }

    public static XfsMetadataMap Scan(BlockDevice device)
    {
        byte[] sb = new byte[512];
        device.ReadExactly(0, sb);
        int blockSize = (int)Be32(sb, 4);
        long agBlocks = Be32(sb, 0x54);
        uint agCount = Be32(sb, 0x58);
        int sectorSize = Be16(sb, 0x66);
        int inodeSize = Be16(sb, 0x68);
        int dirBlockSize = blockSize << sb[0xC0];
        bool crc = (Be16(sb, 0x64) & 0xF) == 5;
        long logStart = (long)Be64(sb, 48);
        long logBlocks = Be32(sb, 96);
        int agBlockLog = sb[0x7C];
        var map = new XfsMetadataMap { HasCrc = crc, BlockSize = blockSize, SectorSize = sectorSize, AgBlockLog = agBlockLog, AgBlocks = agBlocks };
        long logOffset = ((logStart >> agBlockLog) * agBlocks + (logStart & ((1L << agBlockLog) - 1))) * blockSize;
        long logEnd = logOffset + (logBlocks * blockSize);

        for (long ag = 0; ag < agCount; ag++)
        {
            long at = ag * agBlocks * blockSize;
            map.Add("superblock", at, sectorSize, crc ? 0xE0 : -1, ag == 0);
            map.Add("agf", at + sectorSize, sectorSize, crc ? 216 : -1, true);
            map.Add("agi", at + (2 * sectorSize), sectorSize, crc ? 312 : -1, true);
            map.Add("agfl", at + (3 * sectorSize), sectorSize, crc ? 32 : -1, true);
        }

        byte[] buffer = new byte[4 << 20];
        long length = device.Length / blockSize * blockSize;
        for (long pos = 0; pos < length; pos += buffer.Length)
        {
            int n = (int)Math.Min(buffer.Length, length - pos);
            device.ReadExactly(pos, buffer.AsSpan(0, n));
            for (int i = 0; i < n; i += blockSize)
            {
                long o = pos + i;
                if (o >= logOffset && o < logEnd)
                {
                    for (int k = 0; k < blockSize; k += 512)
                    {
                        if (Be32(buffer, i + k) == 0xFEEDBABE)
                        {
                            map.Add("log record", o + k, 512, -1, true);
                        }
                    }
                }
                else
                {
                    ClassifyBlock(map, buffer.AsSpan(i, blockSize), o, blockSize, dirBlockSize, inodeSize, crc);
                }
            }
        }

        return map;
    }

    private static void ClassifyBlock(XfsMetadataMap map, ReadOnlySpan<byte> b, long offset, int blockSize, int dirBlockSize, int inodeSize, bool crc)
    {
        uint magic = Be32(b, 0);
        ushort daMagic = Be16(b, 8);
        switch (magic)
        {
            case 0x58465342 or 0x58414746 or 0x58414749 or 0x5841464C: // XFSB XAGF XAGI XAFL (added per AG above)
                return;
            case 0x424D4133 or 0x424D4150: // BMA3 BMAP
                map.Add("bmbt", offset, blockSize, crc ? 64 : -1, true);
                return;
            case 0x41423342 or 0x41423343 or 0x41425442 or 0x41425443: // AB3B AB3C ABTB ABTC
                map.Add("free-space btree", offset, blockSize, crc ? 52 : -1, true);
                return;
            case 0x49414233 or 0x46494233 or 0x49414254 or 0x46494254: // IAB3 FIB3 IABT FIBT
                map.Add("inode btree", offset, blockSize, crc ? 52 : -1, true);
                return;
            case 0x52334643: // R3FC
                map.Add("refcount btree", offset, blockSize, 52, true);
                return;
            case 0x58444233 or 0x58443242: // XDB3 XD2B
                map.Add("directory block", offset, dirBlockSize, crc ? 4 : -1, true);
                return;
            case 0x58444433 or 0x58443244: // XDD3 XD2D
                map.Add("directory data", offset, dirBlockSize, crc ? 4 : -1, true);
                return;
            case 0x58444633 or 0x58443246: // XDF3 XD2F
                map.Add("directory free index", offset, dirBlockSize, crc ? 4 : -1, true);
                return;
            case 0x5841524D: // XARM
                map.Add("remote attribute value", offset, blockSize, 12, true);
                return;
            case 0x58534C4D: // XSLM
                map.Add("remote symlink", offset, blockSize, 12, true);
                return;
        }

        switch (daMagic)
        {
            case 0x3DF1 or 0x3DFF or 0xD2F1 or 0xD2FF: // directory leaf1 / leafn
                map.Add("directory leaf", offset, dirBlockSize, crc ? 12 : -1, true);
                return;
            case 0x3EBE or 0xFEBE: // da node (directory or attributes)
                // Directory or attribute node: the owner is not known here, so the CRC is re-stamped over one block.
                map.Add("dabtree node", offset, blockSize, crc ? 12 : -1, true);
                return;
            case 0x3BEE or 0xFBEE:
                map.Add("attribute leaf", offset, blockSize, crc ? 12 : -1, true);
                return;
        }

        for (int i = 0; i + inodeSize <= b.Length; i += inodeSize)
        {
            if (Be16(b, i) == 0x494E && b[i + 4] is 1 or 2 or 3)
            {
                map.Add("inode", offset + i, inodeSize, crc ? 100 : -1, Be16(b, i + 2) != 0);
            }
        }
    }

    private void Add(string kind, long offset, int length, int crcOffset, bool inUse)
    {
        if (!_byKind.TryGetValue(kind, out List<XfsStructure>? list))
        {
            _byKind[kind] = list = [];
        }

        list.Add(new XfsStructure(kind, offset, length, crcOffset, inUse));
    }

    private static ushort Be16(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt16BigEndian(s[o..]);

    private static uint Be32(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt32BigEndian(s[o..]);

    private static ulong Be64(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt64BigEndian(s[o..]);
}
