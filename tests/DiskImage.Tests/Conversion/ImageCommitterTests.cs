using DiskImage.Conversion;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Conversion;

/// <summary>The library side of commit, rebase and snapshots, judged by qemu-img check and compare.</summary>
public sealed class ImageCommitterTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [SkippableFact]
    public void Commit_ImageWhoseBackingIsItselfByHardLink_ThrowsNothingWritten()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("ln");
        string image = _dir.File("loop.qcow2");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", "alias.img", "-F", "raw", image, "1M");
        Oracle.RunOk("ln", image, _dir.File("alias.img"));
        byte[] before = File.ReadAllBytes(image);
        Assert.Throws<IOException>(() => ImageCommitter.Commit(image));
        Assert.Equal(before, File.ReadAllBytes(image));
    }

    [SkippableFact]
    public void Commit_LibraryIntoBackingFile_GuestViewKeptTopEmptied()
    {
        Oracle.Require("qemu-img");
        string baseImage = _dir.File("base.qcow2");
        string top = _dir.File("top.qcow2");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", baseImage, "1M");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top, "2M");
        var options = new DiskImageOpenOptions { Writable = true, BackingFiles = BackingFilePolicy.Allow };
        using (var image = Qcow2Image.Open(top, options))
        {
            byte[] data = new byte[100_000];
            new Random(8).NextBytes(data);
            image.Content.Write(300_000, data);
            image.Content.Write(1_600_000, data);
        }

        string before = _dir.File("before.raw");
        Oracle.RunOk("qemu-img", "convert", "-O", "raw", top, before);
        var progress = new List<ConvertProgress>();
        ImageCommitter.Commit(top, progress: new SynchronousProgress(progress));

        Assert.Equal(0, Oracle.Run("qemu-img", "check", baseImage).ExitCode);
        Assert.Equal(0, Oracle.Run("qemu-img", "check", top).ExitCode);
        Assert.Equal(0, Oracle.Run("qemu-img", "compare", before, top).ExitCode);
        Assert.Equal(0, Oracle.Run("qemu-img", "compare", before, baseImage).ExitCode);
        Assert.DoesNotContain("top.qcow2", Oracle.RunOk("qemu-img", "map", top).StandardOutput, StringComparison.Ordinal);
        Assert.Equal(2L << 20, progress[^1].Processed);
    }

    [SkippableFact]
    public void Rebase_LibraryFlatten_GuestViewKeptNoBackingFile()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string baseImage = _dir.File("base.raw");
        string top = _dir.File("top.qcow2");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "raw", baseImage, "1M");
        Oracle.RunOk("qemu-io", "-f", "raw", "-c", "write -P 7 4096 300000", baseImage);
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", top);
        Oracle.RunOk("qemu-io", "-f", "qcow2", "-c", "write -P 9 65536 4096", top);
        string before = _dir.File("before.raw");
        Oracle.RunOk("qemu-img", "convert", "-O", "raw", top, before);

        ImageRebaser.Rebase(top, null);

        Assert.Equal(0, Oracle.Run("qemu-img", "check", top).ExitCode);
        Assert.Equal(0, Oracle.Run("qemu-img", "compare", before, top).ExitCode);
        using var image = Qcow2Image.Open(top);
        Assert.Null(image.GetInfo().BackingFileName);
    }

    private sealed class SynchronousProgress(List<ConvertProgress> list) : IProgress<ConvertProgress>
    {
        public void Report(ConvertProgress value) => list.Add(value);
    }
}
