using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using DiskImage.Tests.Infrastructure;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// The running transaction: a long run of changes is committed through the journal more than once (each commit
/// a new journal sequence, the journal left empty and needs_recovery clear), operations that fail before changing
/// anything leave the file system usable, and overwriting blocks a file already owns stays allocation-free.
/// </summary>
public sealed class Ext4TransactionTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [SkippableFact]
    public void ManyChanges_CommittedInSeveralJournalTransactions_FsckClean()
    {
        Oracle.Require("e2fsck");
        Oracle.Require("dumpe2fs");
        string image = _temp.File("many");
        Oracle.RunOk("mke2fs", "-q", "-F", "-t", "ext4", "-b", "1024", image, "16M");
        uint before = JournalSequence(image);
        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }, leaveOpen: true))
        {
            for (int d = 0; d < 20; d++)
            {
                fs.CreateDirectory($"/d{d}");
                for (int f = 0; f < 60; f++)
                {
                    using Stream s = fs.OpenFile($"/d{d}/f{f}", FileMode.CreateNew, FileAccess.Write);
                    s.Write(new byte[(f * 37) % 3000]);
                }

                // A name that is already taken fails without changing anything; the file system carries on.
                Assert.Throws<IOException>(() => fs.CreateDirectory($"/d{d}"));
            }
        }

        uint after = JournalSequence(image);
        Assert.True(after - before >= 2, $"journal sequence {before} → {after}: expected a commit before the one of Dispose");
        string header = Oracle.RunOk("dumpe2fs", "-h", image).StandardOutput;
        Assert.DoesNotContain("needs_recovery", header, StringComparison.Ordinal);
        Assert.Contains("Journal start:            0", header, StringComparison.Ordinal);
        ToolResult fsck = Oracle.Run("e2fsck", "-fn", image);
        Assert.True(fsck.ExitCode == 0, fsck.ToString());
    }

    [SkippableFact]
    public void StreamOverwrite_OfOwnBlocks_AllocatesNothing()
    {
        Oracle.Require("mke2fs");
        string image = _temp.File("hot");
        Oracle.RunOk("mke2fs", "-q", "-F", "-t", "ext4", image, "32M");
        using var device = new MemoryBlockDevice(File.ReadAllBytes(image));
        using Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }, leaveOpen: true);
        byte[] buffer = new byte[65536];
        using (Stream s = fs.OpenFile("/f", FileMode.CreateNew, FileAccess.Write))
        {
            for (int i = 0; i < 16; i++)
            {
                s.Write(buffer);
            }
        }

        fs.Flush();
        using Stream w = fs.OpenFile("/f", FileMode.Open, FileAccess.ReadWrite);
        for (int i = 0; i < 32; i++)
        {
            w.Position = (i % 16) * 65536L;
            w.Write(buffer);
        }

        long start = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 256; i++)
        {
            w.Position = (i % 16) * 65536L;
            w.Write(buffer);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - start;
        Assert.True(allocated < 1024, $"{allocated} bytes allocated by 256 overwrites");
    }

    private static uint JournalSequence(string image)
    {
        foreach (string line in Oracle.RunOk("dumpe2fs", "-h", image).StandardOutput.Split('\n'))
        {
            if (line.StartsWith("Journal sequence:", StringComparison.Ordinal))
            {
                return Convert.ToUInt32(line["Journal sequence:".Length..].Trim(), 16);
            }
        }

        throw new InvalidOperationException("dumpe2fs printed no journal sequence.");
    }
}
