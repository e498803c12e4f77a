using System.Buffers.Binary;
using DiskImage.Tests.Cli;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>
/// <c>diskimage check</c> against <c>qemu-img check</c> (qemu-utils 7.2) on images a normal open
/// refuses or would change: dirty lazy-refcount images, images marked corrupt, and images whose
/// refcount, L1 or snapshot table lies past the end of the file. The same stdout, stderr and exit
/// code on twin images, and afterwards qemu-img check judges our result like its own.
/// </summary>
public sealed class CheckCliParityTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Makes the image <paramref name="kind"/> twice (ours, theirs).</summary>
    private (string Ours, string Theirs) Twins(string kind)
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string ours = _dir.File("ours.qcow2");
        string theirs = _dir.File("theirs.qcow2");
        foreach (string path in (string[])[ours, theirs])
        {
            File.Delete(path);
            switch (kind)
            {
                case "dirty":
                {
                    // qemu-io's abort leaves the dirty bit set and the refcounts of the new clusters unwritten.
                    QemuImgOk("create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", path, "16M");
                    ToolResult r = Oracle.Run("qemu-io", ["-c", "write -P 1 0 1M", "-c", "write -P 2 4M 64k", "-c", "abort", path], TimeSpan.FromMinutes(1));
                    Assert.NotEqual(0, r.ExitCode);
                    Assert.Equal(1UL, Header(path, 72) & 1);
                    break;
                }

                case "corrupt":
                    QemuImgOk("create", "-q", "-f", "qcow2", path, "16M");
                    QemuIo(path, "qcow2", "write -P 3 0 1M");
                    SetHeader(path, 72, Header(path, 72) | 2);
                    break;

                case "snapshot-incomplete":
                    // A version 3 snapshot entry without extra data (as QEMU before 4.2 could leave it).
                    QemuImgOk("create", "-q", "-f", "qcow2", path, "16M");
                    QemuIo(path, "qcow2", "write -P 4 0 1M");
                    QemuImgOk("snapshot", "-c", "s1", path);
                    DropSnapshotExtraData(path);
                    break;

                default:
                    // A snapshot, then the refcount table (48), active L1 (40) or snapshot table (64) moved past the end.
                    QemuImgOk("create", "-q", "-f", "qcow2", path, "16M");
                    QemuIo(path, "qcow2", "write -P 4 0 1M");
                    QemuImgOk("snapshot", "-c", "s1", path);
                    QemuIo(path, "qcow2", "write -P 5 0 64k");
                    int field = kind switch { "reftable-past-eof" => 48, "l1-past-eof" => 40, "snapshots-past-eof" => 64, _ => throw new ArgumentOutOfRangeException(nameof(kind)) };
                    SetHeader(path, field, 0x1000_0000);
                    break;
            }
        }

        return (ours, theirs);
    }

    /// <summary>Rewrites the first snapshot table entry with extra_data_size 0 (id and name move up).</summary>
    private static void DropSnapshotExtraData(string path)
    {
        byte[] d = File.ReadAllBytes(path);
        int table = (int)BinaryPrimitives.ReadUInt64BigEndian(d.AsSpan(64));
        int idSize = BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(table + 12));
        int nameSize = BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(table + 14));
        int extra = (int)BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(table + 36));
        byte[] names = d.AsSpan(table + 40 + extra, idSize + nameSize).ToArray();
        d.AsSpan(table + 40, extra + idSize + nameSize).Clear();
        names.CopyTo(d.AsSpan(table + 40));
        BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(table + 36), 0);
        File.WriteAllBytes(path, d);
    }

    private static ulong Header(string path, int offset)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read);
        byte[] b = new byte[8];
        f.Position = offset;
        f.ReadExactly(b);
        return BinaryPrimitives.ReadUInt64BigEndian(b);
    }

    private static void SetHeader(string path, int offset, ulong value)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        byte[] b = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, value);
        f.Position = offset;
        f.Write(b);
    }

    private static string[] Args(string mode, string output, string path)
    {
        var args = new List<string> { "check" };
        if (mode != "none")
        {
            args.Add("-r");
            args.Add(mode);
        }

        args.Add("--output=" + output);
        args.Add(path);
        return [.. args];
    }

    /// <summary>Runs both tools and compares stdout, stderr and exit code exactly (rebuilt refcount structures land where qemu-img puts them).</summary>
    private (CliResult Expected, CliResult Actual) Compare(string ours, string theirs, string mode, string output)
    {
        CliResult expected = QemuImg(Args(mode, output, theirs));
        CliResult actual = Run(Args(mode, output, ours));
        string context = $"qemu-img: {expected}\nours: {actual}";
        Assert.True(expected.ExitCode == actual.ExitCode, "exit code differs\n" + context);
        Assert.True(expected.StandardOutput.Replace(theirs, ours, StringComparison.Ordinal) == actual.StandardOutput, "stdout differs\n" + context);
        Assert.True(expected.StandardError.Replace(theirs, ours, StringComparison.Ordinal) == actual.StandardError, "stderr differs\n" + context);

        // qemu-img's own verdict on both results agrees.
        Assert.Equal(QemuImg("check", theirs).ExitCode, QemuImg("check", ours).ExitCode);
        return (expected, actual);
    }

    [SkippableTheory]
    [InlineData("none", "human")]
    [InlineData("none", "json")]
    [InlineData("leaks", "human")]
    [InlineData("leaks", "json")]
    [InlineData("all", "human")]
    [InlineData("all", "json")]
    public void Check_DirtyLazyRefcountsImage_SameReportAndExitCodeAsQemuImg(string mode, string output)
    {
        (string ours, string theirs) = Twins("dirty");
        (_, CliResult actual) = Compare(ours, theirs, mode, output);
        switch (mode)
        {
            case "none":
                // Reported, not repaired: the refcounts of the crashed writes are missing.
                Assert.Equal(2, actual.ExitCode);
                Assert.Equal(1UL, Header(ours, 72) & 1);
                break;
            case "leaks":
                // qemu-img refuses to fix leaks when the refcount structures need a rebuild.
                Assert.Equal(1, actual.ExitCode);
                Assert.Contains("Check failed: Input/output error", actual.StandardError, StringComparison.Ordinal);
                break;
            default:
                Assert.Equal(0, actual.ExitCode);
                Assert.Contains(output == "json" ? "\"corruptions-fixed\": 17" : "17 corruptions", actual.StandardOutput, StringComparison.Ordinal);
                Assert.Equal(0UL, Header(ours, 72) & 1);
                Assert.Equal(0, QemuImg("check", ours).ExitCode);
                Assert.Equal(QemuImg("convert", "-O", "raw", theirs, _dir.File("t.raw")).ExitCode, QemuImg("convert", "-O", "raw", ours, _dir.File("o.raw")).ExitCode);
                Assert.Equal(File.ReadAllBytes(_dir.File("t.raw")), File.ReadAllBytes(_dir.File("o.raw")));
                break;
        }
    }

    [SkippableTheory]
    [InlineData("leaks", "human")]
    [InlineData("all", "json")]
    [InlineData("none", "human")]
    public void Check_ImageMarkedCorrupt_RepairClearsCorruptBitAsQemuImg(string mode, string output)
    {
        (string ours, string theirs) = Twins("corrupt");
        Compare(ours, theirs, mode, output);
        Assert.Equal(Header(theirs, 72), Header(ours, 72));
        if (mode != "none")
        {
            Assert.Equal(0UL, Header(ours, 72) & 2);

            // The image is writable for QEMU again.
            QemuIo(ours, "qcow2", "write -P 9 64k 4k");
            Assert.Equal(0, QemuImg("check", ours).ExitCode);
        }
        else
        {
            Assert.Equal(2UL, Header(ours, 72) & 2);
        }
    }

    [SkippableTheory]
    [InlineData("none", "human")]
    [InlineData("leaks", "human")]
    [InlineData("all", "human")]
    [InlineData("all", "json")]
    public void Check_IncompleteSnapshotEntry_RepairRewritesTableAsQemuImg(string mode, string output)
    {
        (string ours, string theirs) = Twins("snapshot-incomplete");
        (_, CliResult actual) = Compare(ours, theirs, mode, output);
        if (mode == "all")
        {
            Assert.Equal(0, actual.ExitCode);
            Assert.Equal(0, QemuImg("check", ours).ExitCode);
            Assert.Contains(" s1 ", QemuImgOk("snapshot", "-l", ours).StandardOutput, StringComparison.Ordinal);
            QemuImgOk("convert", "-l", "s1", "-O", "raw", ours, _dir.File("o.raw"));
            QemuImgOk("convert", "-l", "s1", "-O", "raw", theirs, _dir.File("t.raw"));
            Assert.Equal(File.ReadAllBytes(_dir.File("t.raw")), File.ReadAllBytes(_dir.File("o.raw")));
        }
        else
        {
            Assert.Equal(2, actual.ExitCode);
        }
    }

    [SkippableTheory]
    [InlineData("none")]
    [InlineData("all")]
    public void Check_MissingBackingFileOrBadBitmapDirectory_RefusedAsQemuImg(string mode)
    {
        Oracle.Require("qemu-img");
        string overlay = _dir.File("overlay.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", _dir.File("base.qcow2"), "1M");
        QemuImgOk("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", overlay);
        File.Delete(_dir.File("base.qcow2"));
        CliResult expected = QemuImg(Args(mode, "human", overlay));
        CliResult actual = Run(Args(mode, "human", overlay));
        Assert.Equal(1, expected.ExitCode);
        Assert.Equal(expected, actual);

        // A bitmap directory larger than the file: qemu-img cannot open the image, so it does not check it.
        string bitmaps = _dir.File("bitmaps.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", bitmaps, "1M");
        QemuImgOk("bitmap", "--add", bitmaps, "b0");
        byte[] data = File.ReadAllBytes(bitmaps);
        int ext = data.AsSpan().IndexOf(new byte[] { 0x23, 0x85, 0x28, 0x75 });
        BinaryPrimitives.WriteUInt64BigEndian(data.AsSpan(ext + 16), 1 << 20);
        File.WriteAllBytes(bitmaps, data);
        Assert.Equal(1, QemuImg(Args(mode, "human", bitmaps)).ExitCode);
        CliResult ours = Run(Args(mode, "human", bitmaps));
        Assert.Equal(1, ours.ExitCode);
        Assert.StartsWith("diskimage: Could not open", ours.StandardError, StringComparison.Ordinal);
        Assert.Equal(data, File.ReadAllBytes(bitmaps));
    }

    [SkippableTheory]
    [InlineData("reftable-past-eof", "none")]
    [InlineData("reftable-past-eof", "leaks")]
    [InlineData("reftable-past-eof", "all")]
    [InlineData("l1-past-eof", "none")]
    [InlineData("l1-past-eof", "leaks")]
    [InlineData("l1-past-eof", "all")]
    [InlineData("snapshots-past-eof", "none")]
    [InlineData("snapshots-past-eof", "leaks")]
    [InlineData("snapshots-past-eof", "all")]
    public void Check_TablePastEndOfFile_ChecksAndRepairsAsQemuImg(string kind, string mode)
    {
        (string ours, string theirs) = Twins(kind);
        (_, CliResult actual) = Compare(ours, theirs, mode, "human");

        // Before this, the open refused the image ("extends past the end of the file", exit 1).
        Assert.DoesNotContain("past the end of the file", actual.StandardError, StringComparison.Ordinal);
        Assert.NotEqual(1, mode == "leaks" ? 0 : actual.ExitCode);
        if (kind == "reftable-past-eof" && mode == "all")
        {
            Assert.Equal(0, actual.ExitCode);
            Assert.Equal(0, QemuImg("check", ours).ExitCode);
        }
    }
}
