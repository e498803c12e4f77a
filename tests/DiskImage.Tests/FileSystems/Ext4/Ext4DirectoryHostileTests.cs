using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using Xunit.Abstractions;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Directory blocks corrupted under a writable file system (after its listing was cached, so the writer's own
/// checks are what meet the damage): adding and removing entries must end normally or with
/// <see cref="InvalidDataException"/> (or <see cref="IOException"/> for a full index), never another exception or a hang.
/// </summary>
public sealed class Ext4DirectoryHostileTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(1024, true, 1)]
    [InlineData(1024, false, 2)]
    [InlineData(4096, true, 3)]
    [InlineData(2048, false, 4)]
    public void AddRemove_CorruptDirectoryBlocks_OnlyInvalidData(int blockSize, bool verifyChecksums, int seed)
    {
        output.WriteLine($"seed {seed}");
        var rng = new Random(seed);
        int failures = 0;
        for (int iteration = 0; iteration < 40; iteration++)
        {
            byte[] image = new byte[8 << 20];
            using (var device = new MemoryBlockDevice(image))
            {
                Ext4FileSystem.Format(device, new Ext4FormatOptions { BlockSize = blockSize, Profile = iteration % 2 == 0 ? Ext4FormatProfile.Debian12 : Ext4FormatProfile.Rhel7 });
            }

            using var fs = Ext4FileSystem.Open(new MemoryBlockDevice(image), new Ext4OpenOptions { Writable = true, VerifyChecksums = verifyChecksums });
            fs.CreateDirectory("/d");
            Ext4Inode d = fs.ReadInode((uint)fs.GetEntry("/d").Inode);
            List<string> names = Ext4DirectoryWriteTests.RandomNames(rng, iteration % 3 == 0 ? 20 : 400);
            foreach (string n in names)
            {
                fs.AddDirectoryEntry(d, n, 11, UnixFileType.RegularFile);
            }

            // Damage a few bytes of the directory's blocks (mostly headers, where the structure lives).
            long blocks = d.Size / blockSize;
            for (int k = 0; k < 1 + rng.Next(4); k++)
            {
                long physical = fs.MapLogicalBlock(d, rng.Next((int)blocks));
                int offset = rng.Next(3) == 0 ? rng.Next(blockSize) : rng.Next(64);
                image[(physical * blockSize) + offset] = (byte)rng.Next(256);
            }

            try
            {
                foreach (string n in Ext4DirectoryWriteTests.RandomNames(rng, 50))
                {
                    if (!names.Contains(n))
                    {
                        fs.AddDirectoryEntry(d, n, 11, UnixFileType.RegularFile);
                    }
                }

                for (int i = 0; i < names.Count; i += 3)
                {
                    fs.RemoveDirectoryEntry(d, names[i]);
                }
            }
            catch (InvalidDataException)
            {
                failures++;
            }
            catch (IOException e) when (e.Message.Contains("index", StringComparison.Ordinal))
            {
                failures++;
            }
        }

        output.WriteLine($"{failures} of 40 runs met the damage");
    }
}
