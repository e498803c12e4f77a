using System.Buffers.Binary;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using DiskImage.Tests.Infrastructure;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Replay on open (issue 9): a journal written by debugfs (<c>journal_open</c>/<c>journal_write</c>/<c>journal_close</c>,
/// with and without checksums; a transaction with an escaped block, one revoking a block of the first) and left
/// needing recovery is replayed when we open the file system for writing: the image then holds the same bytes as
/// after <c>e2fsck -fy</c>'s replay (outside the two superblocks), the revoked block is not replayed, and
/// <c>e2fsck -fn</c> passes. A read-only open still refuses such a file system.
/// </summary>
public sealed class Ext4JournalReplayTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [SkippableTheory]
    [InlineData("csum-v3", "jo -c", new string[0], "1024")]
    [InlineData("no-csum", "jo", new[] { "-O", "^metadata_csum" }, "1024")]
    [InlineData("csum-v3-4k", "jo -c", new string[0], "4096")]
    public void DebugfsJournal_OpenWritable_ReplaysLikeE2fsck(string name, string journalOpen, string[] mkfsOptions, string blockSize)
    {
        Oracle.Require("debugfs");
        Oracle.Require("e2fsck");
        int bs = int.Parse(blockSize, System.Globalization.CultureInfo.InvariantCulture);
        string image = _temp.File(name);
        Oracle.RunOk("mke2fs", ["-q", "-F", "-t", "ext4", "-b", blockSize, .. mkfsOptions, image, "16M"]);
        long[] free = FreeBlocks(image, 3);

        // Three blocks of data; the first starts with the jbd2 magic, so the journal must escape it.
        byte[] data = new byte[3 * bs];
        new Random(5).NextBytes(data);
        BinaryPrimitives.WriteUInt32BigEndian(data, 0xC03B3998);
        string dataFile = _temp.File(name + ".data");
        File.WriteAllBytes(dataFile, data);
        string commands = _temp.File(name + ".cmd");
        File.WriteAllText(commands, $"{journalOpen}\njw -b {free[0]},{free[1]},{free[2]} {dataFile}\njw -r {free[2]}\njc\n");
        Oracle.RunOk("debugfs", "-w", "-f", commands, image);
        Assert.Contains("needs_recovery", Header(image, "Filesystem features:"), StringComparison.Ordinal);
        byte[] before = File.ReadAllBytes(image);

        // A read-only open still refuses a journal that needs recovery.
        using (var ro = new MemoryBlockDevice((byte[])before.Clone()))
        {
            Assert.Throws<NotSupportedException>(() => Ext4FileSystem.Open(ro, leaveOpen: true));
        }

        string byE2fsck = _temp.File(name + ".e2fsck");
        File.Copy(image, byE2fsck);
        ToolResult fy = Oracle.Run("e2fsck", "-fy", byE2fsck);
        Assert.True(fy.ExitCode is 0 or 1, fy.ToString());

        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }, leaveOpen: true))
        {
            Assert.True(fs.Exists("/lost+found"));
        }

        ToolResult fn = Oracle.Run("e2fsck", "-fn", image);
        Assert.True(fn.ExitCode == 0, $"after our replay: {fn}");
        Assert.DoesNotContain("needs_recovery", Header(image, "Filesystem features:"), StringComparison.Ordinal);
        Assert.Equal("0", Header(image, "Journal start:"));

        byte[] ours = File.ReadAllBytes(image);
        byte[] theirs = File.ReadAllBytes(byE2fsck);
        Assert.True(ours.AsSpan((int)(free[0] * bs), 2 * bs).SequenceEqual(data.AsSpan(0, 2 * bs)), "the logged blocks were not replayed");
        Assert.True(ours.AsSpan((int)(free[2] * bs), bs).SequenceEqual(before.AsSpan((int)(free[2] * bs), bs)), "a revoked block was replayed");

        // Same bytes as e2fsck's replay, outside the file-system superblock and the journal superblock.
        long journalSuper = long.Parse(Oracle.RunOk("debugfs", "-R", "bmap <8> 0", image).StandardOutput.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var differing = new SortedSet<long>();
        for (int i = 0; i < ours.Length; i++)
        {
            if (ours[i] != theirs[i] && !(i >= 1024 && i < 2048) && i / bs != journalSuper)
            {
                differing.Add(i / bs);
            }
        }

        Assert.True(differing.Count == 0, $"blocks differing from e2fsck's replay: {string.Join(", ", differing)}");
    }

    private static long[] FreeBlocks(string image, int count)
    {
        string output = Oracle.RunOk("debugfs", "-R", $"ffb {count} 3000", image).StandardOutput;
        string list = output[(output.IndexOf(':', StringComparison.Ordinal) + 1)..];
        long[] blocks = [.. list.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => long.Parse(s, System.Globalization.CultureInfo.InvariantCulture))];
        Assert.Equal(count, blocks.Length);
        return blocks;
    }

    private static string Header(string image, string key)
    {
        foreach (string line in Oracle.RunOk("dumpe2fs", "-h", image).StandardOutput.Split('\n'))
        {
            if (line.StartsWith(key, StringComparison.Ordinal))
            {
                return line[key.Length..].Trim();
            }
        }

        return string.Empty;
    }
}
