using System.Globalization;
using DiskImage.Conversion;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Conversion;

/// <summary>
/// What a conversion does to the host files around it (issue 14): an existing target is swapped for
/// the new image whole, its old file is left untouched (only its cached pages are dropped), and a new
/// qcow2 file is never truncated to zero (on ext4 that makes closing it write the whole file back).
/// </summary>
public sealed class ConvertHostFileTests : IDisposable
{
    private const int Seed = 1414;

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [SkippableTheory]
    [InlineData(DiskImageFormat.Qcow2)]
    [InlineData(DiskImageFormat.Raw)]
    public void Convert_OverExistingTarget_NewImageSwappedIn_OldFileUntouchedAndNotCached(DiskImageFormat format)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "Hard links, page-cache residency and renameat2 are checked on Linux.");
        Oracle.Require("qemu-img");
        Oracle.Require("fincore");
        string sourcePath = _temp.File("source.raw");
        string oldPath = _temp.File("old.raw");
        string target = _temp.File("target.img");
        string keep = _temp.File("keep.img");
        var rng = new Random(Seed);
        byte[] data = new byte[6 << 20];
        rng.NextBytes(data.AsSpan(0, 3 << 20));
        File.WriteAllBytes(sourcePath, data);
        byte[] old = new byte[4 << 20];
        old.AsSpan().Fill(0x5A);
        File.WriteAllBytes(oldPath, old);
        string name = format == DiskImageFormat.Qcow2 ? "qcow2" : "raw";
        Oracle.RunOk("qemu-img", "convert", "-f", "raw", "-O", name, oldPath, target);

        // A second name for the old file, so it can be inspected after the target's name moves on.
        Oracle.RunOk("ln", target, keep);
        Assert.True(FileIdentity.TryGet(target, out FileIdentity oldIdentity));
        byte[] oldBytes = File.ReadAllBytes(keep);
        using (var stream = new FileStream(keep, FileMode.Open, FileAccess.ReadWrite))
        {
            stream.Flush(flushToDisk: true); // clean pages, which the cache can drop
        }

        File.ReadAllBytes(keep); // cached again after the flush
        bool residencyVisible = Resident(keep) > 0 && DropsCleanPages();

        using (DiskImageFile source = DiskImageFile.Open(sourcePath))
        {
            ImageConverter.Convert(source.Content, target, new ConvertOptions { TargetFormat = format, Overwrite = true });
        }

        if (residencyVisible)
        {
            Assert.Equal(0, Resident(keep));
        }

        Assert.Equal(oldBytes, File.ReadAllBytes(keep));
        Assert.True(FileIdentity.TryGet(target, out FileIdentity newIdentity));
        Assert.NotEqual(oldIdentity, newIdentity);
        string[] names = Directory.GetFiles(_temp.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
        Assert.Equal(["keep.img", "old.raw", "source.raw", "target.img"], names);
        ToolResult compare = Oracle.Run("qemu-img", "compare", "-f", "raw", "-F", name, sourcePath, target);
        Assert.True(compare.ExitCode == 0, compare.ToString());
        if (format == DiskImageFormat.Qcow2)
        {
            Oracle.RunOk("qemu-img", "check", "-q", target);
        }
    }

    [Fact]
    public void Convert_OverExistingTargetThatFails_OldTargetKeptUnderItsName()
    {
        string target = _temp.File("existing.qcow2");
        using (Qcow2Image image = Qcow2Image.Create(target, 1 << 20))
        {
            image.Content.Write(0, [1, 2, 3]);
        }

        byte[] before = File.ReadAllBytes(target);
        using var source = new FailingDevice(8 << 20, failAt: 5 << 20);
        Assert.Throws<IOException>(() => ImageConverter.Convert(source, target, new ConvertOptions { Overwrite = true }));
        Assert.Equal(before, File.ReadAllBytes(target));
        Assert.Equal([target], Directory.GetFiles(_temp.Path));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Qcow2Create_TruncatesTheHostToZeroOnlyWhenItHoldsSomething(bool nonEmpty)
    {
        using var host = new RecordingDevice(nonEmpty ? 4096 : 0);
        using (Qcow2Image.Create(host, 16 << 20, leaveOpen: true))
        {
        }

        Assert.Equal(nonEmpty, host.SetLengths.Contains(0));
        Assert.True(host.Length > 0);
    }

    /// <summary>Bytes of <paramref name="path"/> in the page cache, by util-linux fincore.</summary>
    private static long Resident(string path)
    {
        ToolResult r = Oracle.RunOk("fincore", "--bytes", "--noheadings", "--output", "RES", path);
        return long.Parse(r.StandardOutput.Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>Whether this file system drops a file's clean cached pages when asked (tmpfs does not).</summary>
    private bool DropsCleanPages()
    {
        string probe = _temp.File("probe.bin");
        File.WriteAllBytes(probe, new byte[1 << 20]);
        using (var stream = new FileStream(probe, FileMode.Open, FileAccess.ReadWrite))
        {
            stream.Flush(flushToDisk: true);
        }

        File.ReadAllBytes(probe);
        using (FileBlockDevice device = FileBlockDevice.Open(probe))
        {
            device.DropCachedPages();
        }

        bool dropped = Resident(probe) == 0;
        File.Delete(probe);
        return dropped;
    }

    /// <summary>Reads ones until <c>failAt</c>, then fails like a broken disk.</summary>
    private sealed class FailingDevice(long length, long failAt) : BlockDevice
    {
        public override long Length => length;

        public override bool CanWrite => false;

        protected override void ReadCore(long offset, Span<byte> buffer)
        {
            if (offset + buffer.Length > failAt)
            {
                throw new IOException("Simulated read error.");
            }

            buffer.Fill(1);
        }

        protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) => throw new NotSupportedException();

        protected override void FlushCore()
        {
        }
    }

    /// <summary>A growable in-memory device that records every length set on it.</summary>
    private sealed class RecordingDevice(int length) : BlockDevice
    {
        private byte[] _data = new byte[length];

        public List<long> SetLengths { get; } = [];

        public override long Length => _data.Length;

        public override bool CanWrite => true;

        public override bool CanSetLength => true;

        protected override void ReadCore(long offset, Span<byte> buffer) => _data.AsSpan((int)offset, buffer.Length).CopyTo(buffer);

        protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer)
        {
            if (offset + buffer.Length > _data.Length)
            {
                Array.Resize(ref _data, (int)(offset + buffer.Length));
            }

            buffer.CopyTo(_data.AsSpan((int)offset));
        }

        protected override void SetLengthCore(long length)
        {
            SetLengths.Add(length);
            Array.Resize(ref _data, (int)length);
        }

        protected override void FlushCore()
        {
        }
    }
}
