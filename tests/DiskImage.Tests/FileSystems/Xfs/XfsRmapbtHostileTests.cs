using System.Buffers.Binary;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// A damaged reverse-mapping btree in an image opened for writing (our Upstream Format, CRCs re-stamped so the check
/// behind the checksum is what refuses): a root block with a bad magic, and a root that points to itself (a cycle). The
/// open throws <see cref="InvalidDataException"/> naming the tree, and the image is left as it was.
/// </summary>
public sealed class XfsRmapbtHostileTests
{
    private const int AgfCrc = 216;
    private const int BlockCrc = 52;

    [Theory]
    [InlineData("bad magic")]
    [InlineData("cycle")]
    public void OpenWritable_DamagedRmapbt_InvalidDataAndUnchanged(string damage)
    {
        using var temp = new TempDirectory();
        string image = temp.File("u.img");
        using (var device = FileBlockDevice.Create(image, 64L << 20))
        {
            XfsFileSystem.Format(device, new XfsFormatOptions { Profile = XfsFormatProfile.Upstream });
        }

        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        {
            byte[] sb = new byte[512];
            device.ReadExactly(0, sb);
            int blockSize = BinaryPrimitives.ReadInt32BigEndian(sb.AsSpan(4));
            byte[] agf = new byte[512];
            device.ReadExactly(512, agf);
            uint root = BinaryPrimitives.ReadUInt32BigEndian(agf.AsSpan(24));
            byte[] block = new byte[blockSize];
            device.ReadExactly((long)root * blockSize, block);
            Assert.Equal(0x524D4233u, BinaryPrimitives.ReadUInt32BigEndian(block));
            if (damage == "bad magic")
            {
                BinaryPrimitives.WriteUInt32BigEndian(block, 0x524D4234);
            }
            else
            {
                // The root becomes a level-1 node whose only child is itself; the AGF says two levels.
                BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan(4), 1);
                BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan(6), 1);
                int maxKeys = (blockSize - 56) / 44;
                BinaryPrimitives.WriteUInt32BigEndian(block.AsSpan(56 + (maxKeys * 40)), root);
                BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(36), 2);
                XfsChecksum.Update(agf, AgfCrc);
                device.Write(512, agf);
            }

            XfsChecksum.Update(block, BlockCrc);
            device.Write((long)root * blockSize, block);
        }

        byte[] before = File.ReadAllBytes(image);
        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        {
            InvalidDataException e = Assert.Throws<InvalidDataException>(() => XfsFileSystem.Open(device, new XfsOpenOptions { Writable = true }, leaveOpen: true));
            Assert.Contains("ReverseMap", e.Message, StringComparison.Ordinal);
            using XfsFileSystem readOnly = XfsFileSystem.Open(device, leaveOpen: true);
            Assert.Empty(readOnly.EnumerateDirectory("/"));
        }

        Assert.Equal(before, File.ReadAllBytes(image));
    }
}
