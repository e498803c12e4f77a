using System.Buffers.Binary;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.InMemory;
using DiskImage.IO;
using DiskImage.Tests.Infrastructure;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// A writable ext4 file system is marked "not clean" (EXT4_VALID_FS cleared in <c>s_state</c>) on the device before
/// its first change and marked clean again only after a flush has written everything: a write sequence cut after
/// any host write leaves either a clean file system e2fsck accepts, or one dumpe2fs reports as "not clean" (which
/// <c>e2fsck -p</c> checks fully and which is refused for writing) — never "clean" with errors. (A journaled file
/// system is written through its journal instead: <see cref="Ext4JournalCrashTests"/>.)
/// </summary>
public sealed class Ext4NotCleanMarkingTests : IDisposable
{
    private const int MaxCuts = 32;
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [SkippableTheory]
    [InlineData("journal-less", new[] { "-O", "^has_journal" })]
    [InlineData("no-csum", new[] { "-O", "^has_journal,^metadata_csum" })]
    public void CopyIn_CutAfterAnyWrite_NeverCleanWithErrors(string name, string[] mkfsOptions)
    {
        Oracle.Require("e2fsck");
        Oracle.Require("dumpe2fs");
        string formatted = _temp.File(name + ".base");
        Oracle.RunOk("mke2fs", ["-q", "-F", "-t", "ext4", "-b", "1024", .. mkfsOptions, formatted, "8M"]);
        byte[] baseImage = File.ReadAllBytes(formatted);
        InMemoryFileSystem tree = MakeTree();

        // Dry run: how many host writes and flushes the sequence makes.
        var dry = new FaultInjectingBlockDevice(new MemoryBlockDevice((byte[])baseImage.Clone()));
        RunSequence(dry, tree);
        long operations = dry.OperationCount;
        Assert.True(operations > 10, $"only {operations} operations");
        string finished = Save(((MemoryBlockDevice)dry.Inner).Data.ToArray(), name + ".done");
        Assert.Equal("clean", State(finished));
        AssertFsck(finished, expectClean: true, "the uncut sequence");

        int notClean = 0;
        foreach (long cut in CutPoints(operations))
        {
            var device = new FaultInjectingBlockDevice(new MemoryBlockDevice((byte[])baseImage.Clone()), failAfter: cut);
            try
            {
                RunSequence(device, tree);
            }
            catch (IOException) when (device.HasFailed)
            {
            }

            Assert.True(device.HasFailed || cut >= operations, $"cut {cut} of {operations} did not fail");
            string image = Save(((MemoryBlockDevice)device.Inner).Data.ToArray(), $"{name}.cut{cut}");
            string state = State(image);
            if (state == "clean")
            {
                AssertFsck(image, expectClean: true, $"cut after {cut} of {operations} writes (marked clean)");
            }
            else
            {
                Assert.Equal("not clean", state);
                notClean++;

                // Refused for writing until checked.
                using var reopened = new MemoryBlockDevice(File.ReadAllBytes(image));
                Assert.Throws<NotSupportedException>(() => Ext4FileSystem.Open(reopened, new Ext4OpenOptions { Writable = true }, leaveOpen: true));
            }

            File.Delete(image);
        }

        Assert.True(notClean > 0, "no cut left the file system marked not clean");
    }

    [SkippableFact]
    public void OpenWritable_NoChange_LeavesTheDeviceUntouched()
    {
        string formatted = _temp.File("untouched");
        Oracle.RunOk("mke2fs", "-q", "-F", "-t", "ext4", "-b", "1024", formatted, "4M");
        var device = new FaultInjectingBlockDevice(new MemoryBlockDevice(File.ReadAllBytes(formatted)));
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }, leaveOpen: true))
        {
            Assert.True(fs.Exists("/lost+found"));
            fs.Flush();
        }

        Assert.Equal(0, device.WriteCount);
    }

    [SkippableFact]
    public void Write_FirstHostWriteIsTheSuperblockMarkedNotClean()
    {
        string formatted = _temp.File("first");
        Oracle.RunOk("mke2fs", "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-b", "1024", formatted, "4M");
        byte[] bytes = File.ReadAllBytes(formatted);
        var device = new FaultInjectingBlockDevice(new MemoryBlockDevice((byte[])bytes.Clone()), failAfter: 1);
        Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }, leaveOpen: true);
        fs.CreateDirectory("/d"); // buffered in the running transaction: nothing is written yet
        Assert.Equal(0, device.OperationCount);
        Assert.Throws<IOException>(fs.Dispose); // the commit: the marking goes through, the crashed device refuses the rest
        Assert.True(device.HasFailed);

        Span<byte> data = ((MemoryBlockDevice)device.Inner).Data;
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(data[(1024 + 0x3A)..]) & 1);
        data[(1024 + 0x3A)..(1024 + 0x3C)].CopyTo(bytes.AsSpan(1024 + 0x3A));
        data[(1024 + 0x3FC)..(1024 + 0x400)].CopyTo(bytes.AsSpan(1024 + 0x3FC));
        Assert.True(data.SequenceEqual(bytes), "something besides s_state (and the superblock checksum) was written first");
    }

    private static IEnumerable<long> CutPoints(long operations)
    {
        if (operations <= MaxCuts)
        {
            for (long i = 0; i < operations; i++)
            {
                yield return i;
            }

            yield break;
        }

        // The first few (the marking itself), then evenly spread, then the last few (the final flush).
        var cuts = new SortedSet<long> { 0, 1, 2, 3, operations - 3, operations - 2, operations - 1 };
        for (int i = 0; cuts.Count < MaxCuts; i++)
        {
            cuts.Add(operations * i / (MaxCuts - 7));
        }

        foreach (long c in cuts)
        {
            yield return c;
        }
    }

    /// <summary>A copy-in of a small tree, then changes to it (overwrite, delete, rename), then dispose.</summary>
    private static void RunSequence(BlockDevice device, InMemoryFileSystem tree)
    {
        var clock = new UnixTime(1_700_000_000, 0);
        using Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true, Clock = () => clock }, leaveOpen: true);
        FileSystemCopy.Copy(tree, "/", fs, "/");
        using (Stream s = fs.OpenFile("/d0/f1", FileMode.Open, FileAccess.Write))
        {
            s.Seek(0, SeekOrigin.End);
            s.Write(new byte[5000]);
        }

        fs.Delete("/d1/f0");
        fs.Rename("/d2", "/d0/moved");
        fs.CreateSymbolicLink("/link", "d0/f1");
    }

    private static InMemoryFileSystem MakeTree()
    {
        var tree = new InMemoryFileSystem();
        var random = new Random(17);
        for (int d = 0; d < 3; d++)
        {
            tree.CreateDirectory($"/d{d}");
            for (int f = 0; f < 4; f++)
            {
                byte[] data = new byte[random.Next(0, 40_000)];
                random.NextBytes(data);
                using Stream s = tree.OpenFile($"/d{d}/f{f}", FileMode.CreateNew, FileAccess.Write);
                s.Write(data);
            }
        }

        tree.CreateHardLink("/d0/hard", "/d1/f1");
        return tree;
    }

    private string Save(byte[] bytes, string name)
    {
        string path = _temp.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>"clean" or "not clean" (possibly with more words), as dumpe2fs -h prints "Filesystem state:".</summary>
    private static string State(string image)
    {
        foreach (string line in Oracle.RunOk("dumpe2fs", "-h", image).StandardOutput.Split('\n'))
        {
            if (line.StartsWith("Filesystem state:", StringComparison.Ordinal))
            {
                return line["Filesystem state:".Length..].Trim();
            }
        }

        throw new InvalidOperationException("dumpe2fs printed no state.");
    }

    private static void AssertFsck(string image, bool expectClean, string what)
    {
        ToolResult r = Oracle.Run("e2fsck", "-fn", image);
        Assert.True(!expectClean || r.ExitCode == 0, $"{what}: {r}");
    }
}
