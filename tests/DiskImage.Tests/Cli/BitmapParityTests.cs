using System.Text.Json;
using DiskImage.Tests.Formats.Qcow2;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Cli;

/// <summary>
/// <c>diskimage bitmap</c> against <c>qemu-img bitmap</c> (qemu-utils 7.2): twin images take the same
/// steps (bitmap commands, and qemu-io writes that set the bits of enabled bitmaps). One twin is
/// changed by qemu-img alone; the other by diskimage and qemu-img in turn, so each tool reads and
/// changes what the other stored. After every step the outputs and exit codes are equal,
/// <c>qemu-img check</c> finds nothing, <c>qemu-img info</c> shows the same bitmaps and the stored
/// bits (decoded by a test-side reader) are the same: a merge sets exactly the union.
/// </summary>
public sealed class BitmapParityTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, bool> Layouts() => new()
    {
        { "cluster_size=65536", true },
        { "cluster_size=65536", false },
        { "cluster_size=4096,refcount_bits=1", true },
        { "cluster_size=512", false },
        { "cluster_size=2M,extended_l2=on", true },
    };

    [SkippableTheory]
    [MemberData(nameof(Layouts))]
    public void Bitmap_AddMergeClearRemove_SameAsQemuImg(string createOptions, bool oursFirst)
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string theirs = _dir.File("theirs.qcow2");
        string mixed = _dir.File("mixed.qcow2");
        string other = _dir.File("other.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", "-o", createOptions, theirs, "24M");
        File.Copy(theirs, mixed);
        QemuImgOk("create", "-q", "-f", "qcow2", other, "24M");
        QemuImgOk("bitmap", "--add", "-g", "8k", other, "ext");
        QemuIo(other, "qcow2", "write 20M 24k", "write 3M 512");

        (string[] Bitmap, string[] Io)[] steps =
        [
            (["--add", "a"], []),
            (["--add", "-g", "128k", "b"], ["write 0 4k", "write 1M 64k"]),
            (["--add", "--disable", "c"], ["write 5M 1k"]),
            (["--add", "-g", "512", "d"], ["write 7M 3k"]),
            (["--merge", "a", "c"], []),
            (["--merge", "b", "d"], []),
            (["--merge", "d", "b"], []),
            (["--merge", "ext", "-b", other, "-F", "qcow2", "a"], []),
            (["--disable", "b"], ["write 9M 64k"]),
            (["--clear", "a"], ["write 11M 4k"]),
            (["--enable", "--enable", "b"], ["write 13M 4k"]),
            (["--remove", "c"], []),
            (["--add", "--remove", "--add", "c"], []),
            (["--remove", "a"], []),
            (["--remove", "b"], []),
            (["--remove", "c"], []),
            (["--remove", "d"], ["write 15M 4k"]),
            (["--add", "-g", "1M", "again"], ["write 17M 4k"]),
        ];
        bool ours = oursFirst;
        foreach ((string[] bitmap, string[] io) in steps)
        {
            string name = bitmap[^1];
            string[] options = bitmap[..^1];
            string context = $"{createOptions}: bitmap {string.Join(' ', options)} {name} ({(ours ? "diskimage" : "qemu-img")} on the mixed twin)";
            CliResult expected = QemuImg(["bitmap", .. options, theirs, name]);
            Assert.True(expected.ExitCode == 0, context + "\n" + expected);
            CliResult actual = ours ? Run(["bitmap", .. options, mixed, name]) : QemuImg(["bitmap", .. options, mixed, name]);
            Assert.True(expected.ToString() == actual.ToString(), $"{context}\nqemu-img: {expected}\nmixed: {actual}");
            if (io.Length > 0)
            {
                QemuIo(theirs, "qcow2", io);
                QemuIo(mixed, "qcow2", io);
            }

            Judge(theirs, mixed, context);
            ours = !ours;
        }
    }

    [SkippableFact]
    public void Bitmap_MergeAcrossGranularities_SetsExactlyTheUnion()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string theirs = _dir.File("theirs.qcow2");
        string ours = _dir.File("ours.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", theirs, "10M");
        QemuImgOk("bitmap", "--add", "-g", "4k", theirs, "fine");
        QemuImgOk("bitmap", "--add", "-g", "1M", theirs, "coarse");
        QemuImgOk("bitmap", "--add", "-g", "64k", theirs, "mid");
        QemuIo(theirs, "qcow2", "write 0 512", "write 3M 4k", "write 9M 70k");
        QemuImgOk("bitmap", "--disable", theirs, "fine");
        QemuIo(theirs, "qcow2", "write 6M 4k");
        File.Copy(theirs, ours);
        foreach ((string source, string target) in new[] { ("fine", "coarse"), ("coarse", "mid"), ("mid", "fine") })
        {
            QemuImgOk("bitmap", "--merge", source, theirs, target);
            RunOk("bitmap", "--merge", source, ours, target);
            Judge(theirs, ours, $"merge {source} into {target}");
        }

        // The union, by the test's own reading of the stored bits: 'fine' (4k) now covers whole MiBs.
        StoredBitmap fine = BitmapReader.Read(ours).Bitmaps.Single(b => b.Name == "fine");
        Assert.Equal(0xff, fine.Bits[0]);          // 0..32k of the first MiB, from 'coarse'
        Assert.Equal(0xff, fine.Bits[(9 << 20) / 4096 / 8]);
    }

    [SkippableFact]
    public void Bitmap_Errors_SameMessagesAndExitCodesAsQemuImg()
    {
        Oracle.Require("qemu-img");
        string image = _dir.File("img.qcow2");
        string big = _dir.File("big.qcow2");
        string v2 = _dir.File("v2.qcow2");
        string raw = _dir.File("r.raw");
        QemuImgOk("create", "-q", "-f", "qcow2", image, "10M");
        QemuImgOk("create", "-q", "-f", "qcow2", big, "20M");
        QemuImgOk("create", "-q", "-f", "qcow2", "-o", "compat=0.10", v2, "1M");
        QemuImgOk("create", "-q", "-f", "raw", raw, "1M");
        QemuImgOk("bitmap", "--add", image, "x");
        QemuImgOk("bitmap", "--add", big, "y");
        string[][] cases =
        [
            ["bitmap", image, "x"],
            ["bitmap", "--add", image],
            ["bitmap", "--add", "-g", "1000", image, "n"],
            ["bitmap", "--add", "-g", "256", image, "n"],
            ["bitmap", "--add", "-g", "3G", image, "n"],
            ["bitmap", "--add", "-g", "-1", image, "n"],
            ["bitmap", "--add", "-g", "xyz", image, "n"],
            ["bitmap", "--remove", "-g", "64k", image, "x"],
            ["bitmap", "--add", "-F", "qcow2", image, "n"],
            ["bitmap", "--add", "-b", big, image, "n"],
            ["bitmap", "--add", image, "x"],
            ["bitmap", "--add", image, ""],
            ["bitmap", "--remove", image, "nope"],
            ["bitmap", "--clear", image, "nope"],
            ["bitmap", "--enable", image, "nope"],
            ["bitmap", "--disable", image, "nope"],
            ["bitmap", "--merge", "nope", image, "x"],
            ["bitmap", "--merge", "x", image, "nope"],
            ["bitmap", "--merge", "y", "-b", big, image, "x"],
            ["bitmap", "--merge", "y", "-b", big, "-F", "raw", image, "x"],
            ["bitmap", "--add", _dir.File("missing.qcow2"), "n"],
        ];
        string before = InfoBitmaps(image);
        foreach (string[] args in cases)
        {
            CliResult actual = Run(args);
            Assert.True(before == InfoBitmaps(image), string.Join(' ', args));
            Assert.Equal(0, QemuImg("check", image).ExitCode);
            CliResult expected = QemuImg(args);
            Assert.True(expected.ToString() == actual.ToString(), $"{string.Join(' ', args)}\nqemu-img: {expected}\ndiskimage: {actual}");
        }

        // qemu-img names its internal node ('#block123') here; the rest of the message is the same.
        foreach ((string file, string format, string tail) in new[]
        {
            (v2, "qcow2", "Cannot store dirty bitmaps in qcow2 v2 files"),
            (raw, "raw", "Operation not supported"),
        })
        {
            CliResult expected = QemuImg("bitmap", "--add", "-f", format, file, "b");
            CliResult actual = Run("bitmap", "--add", "-f", format, file, "b");
            Assert.Equal(expected.ExitCode, actual.ExitCode);
            Assert.StartsWith("diskimage: Operation add on bitmap b failed: Can't ", actual.StandardError, StringComparison.Ordinal);
            Assert.EndsWith(tail + "\n", actual.StandardError, StringComparison.Ordinal);
            Assert.EndsWith(tail + "\n", expected.StandardError, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public void Bitmap_FailingStep_EarlierStepsKeptAsQemuImgKeepsThem()
    {
        Oracle.Require("qemu-img");
        string theirs = _dir.File("theirs.qcow2");
        string ours = _dir.File("ours.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", theirs, "4M");
        File.Copy(theirs, ours);
        foreach (string[] args in new[] { new[] { "--add", "--add" }, ["--remove", "--remove"], ["--add", "--merge", "nope"] })
        {
            CliResult expected = QemuImg(["bitmap", .. args, theirs, "k"]);
            CliResult actual = Run(["bitmap", .. args, ours, "k"]);
            Assert.Equal(expected.ToString(), actual.ToString());
            Judge(theirs, ours, string.Join(' ', args));
        }
    }

    [SkippableFact]
    public void Bitmap_InconsistentBitmap_OnlyRemoveAllowed()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string theirs = _dir.File("theirs.qcow2");
        string ours = _dir.File("ours.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", theirs, "4M");
        QemuImgOk("bitmap", "--add", theirs, "z");
        QemuIo(theirs, "qcow2", "write 0 4k");
        MarkFirstBitmapInUse(theirs);
        File.Copy(theirs, ours);
        string[][] cases = [["--clear", "z"], ["--enable", "z"], ["--add", "w"], ["--merge", "z", "w"], ["--merge", "w", "z"], ["--remove", "z"]];
        foreach (string[] c in cases)
        {
            CliResult expected = QemuImg(["bitmap", .. c[..^1], theirs, c[^1]]);
            CliResult actual = Run(["bitmap", .. c[..^1], ours, c[^1]]);
            Assert.Equal(expected.ToString(), actual.ToString());
            Judge(theirs, ours, string.Join(' ', c));
        }
    }

    [SkippableFact]
    public void Convert_Bitmaps_CopiedAsQemuImgCopiesThem()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string source = _dir.File("src.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", source, "6M");
        QemuImgOk("bitmap", "--add", source, "a");
        QemuImgOk("bitmap", "--add", "-g", "4k", source, "b");
        QemuIo(source, "qcow2", "write 0 64k", "write 3M 5k");
        QemuImgOk("bitmap", "--disable", source, "b");
        QemuIo(source, "qcow2", "write 5M 4k");
        string theirs = _dir.File("theirs.qcow2");
        string ours = _dir.File("ours.qcow2");
        QemuImgOk("convert", "--bitmaps", "-O", "qcow2", source, theirs);
        RunOk("convert", "--bitmaps", "-O", "qcow2", source, ours);
        Judge(theirs, ours, "convert --bitmaps");

        // Refusals, checked before anything is written; an inconsistent bitmap is skipped with a warning on request.
        string broken = _dir.File("broken.qcow2");
        File.Copy(source, broken);
        MarkFirstBitmapInUse(broken);
        string[][] cases =
        [
            ["convert", "--bitmaps", "-O", "raw", source, _dir.File("x.raw")],
            ["convert", "--bitmaps", "-O", "qcow2", "-o", "compat=0.10", source, _dir.File("x.qcow2")],
            ["convert", "--bitmaps", "-O", "qcow2", source, source, _dir.File("x.qcow2")],
            ["convert", "--bitmaps", "-O", "qcow2", broken, _dir.File("x.qcow2")],
            ["convert", "--bitmaps", "--skip-broken-bitmaps", "-O", "qcow2", broken, _dir.File("y.qcow2")],
        ];
        foreach (string[] args in cases)
        {
            CliResult actual = Run(args);
            Assert.False(File.Exists(_dir.File("x.qcow2")));
            CliResult expected = QemuImg(args);
            Assert.True(expected.ToString() == actual.ToString(), $"{string.Join(' ', args)}\nqemu-img: {expected}\ndiskimage: {actual}");
            File.Delete(_dir.File("x.qcow2")); // qemu-img may leave a target behind
        }
    }

    private static void MarkFirstBitmapInUse(string path)
    {
        byte[] d = File.ReadAllBytes(path);
        int pos = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(100));
        while (System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(pos)) != 0x23852875)
        {
            pos += 8 + (int)((System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(pos + 4)) + 7) & ~7u);
        }

        long dir = (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(d.AsSpan(pos + 8 + 16));
        d[dir + 15] |= 1;
        File.WriteAllBytes(path, d);
    }

    private static void Judge(string theirs, string ours, string context)
    {
        CliResult check = QemuImg("check", ours);
        Assert.True(check.ExitCode == 0 && check.StandardOutput.Contains("No errors were found", StringComparison.Ordinal), $"{context}\nqemu-img check: {check}");
        Assert.Equal(InfoBitmaps(theirs), InfoBitmaps(ours));
        (bool theirAutoclear, List<StoredBitmap> theirBitmaps) = BitmapReader.Read(theirs);
        (bool ourAutoclear, List<StoredBitmap> ourBitmaps) = BitmapReader.Read(ours);
        Assert.True(theirAutoclear == ourAutoclear, $"autoclear bit: qemu {theirAutoclear}, ours {ourAutoclear}\n{context}");
        Assert.Equal(theirBitmaps.Count, ourBitmaps.Count);
        for (int i = 0; i < theirBitmaps.Count; i++)
        {
            StoredBitmap t = theirBitmaps[i];
            StoredBitmap o = ourBitmaps[i];
            Assert.Equal(t.Name, o.Name);
            Assert.True(t.Flags == o.Flags, $"{t.Name}: flags qemu {t.Flags} ours {o.Flags}\n{context}");
            Assert.Equal(t.GranularityBits, o.GranularityBits);
            if (!t.Bits.AsSpan().SequenceEqual(o.Bits))
            {
                int at = t.Bits.AsSpan().CommonPrefixLength(o.Bits);
                Assert.Fail($"{t.Name}: bits differ at byte {at}\n{context}");
            }
        }

        Assert.Equal(0, QemuImg("compare", "-f", "qcow2", "-F", "qcow2", theirs, ours).ExitCode);
    }

    private static string InfoBitmaps(string path)
    {
        CliResult r = QemuImgOk("info", "--output=json", path);
        using JsonDocument doc = JsonDocument.Parse(r.StandardOutput);
        JsonElement data = doc.RootElement.GetProperty("format-specific").GetProperty("data");
        return data.TryGetProperty("bitmaps", out JsonElement b) ? b.GetRawText() : "";
    }
}
