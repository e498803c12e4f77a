using System.Security.Cryptography;
using DiskImage.Formats;
using DiskImage.Tests.Oracles;
using Microsoft.Win32.SafeHandles;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Cli;

/// <summary>
/// A target is never an input: <c>convert</c>, <c>create -b</c>, <c>resize</c> and <c>commit</c> given a target that
/// is one of their inputs under another spelling (symbolic link chains, hard links, relative paths,
/// <c>./x</c>, <c>dir/../x</c>, <c>/proc/self/fd/N</c>) exit non-zero and leave every input byte
/// for byte as it was; distinct files still work. Randomized with fixed seeds, printed on failure.
/// </summary>
public sealed class TargetAliasSafetyTests : IDisposable
{
    private const int Size = 1024 * 1024;
    private readonly TempDirectory _dir = new();
    private readonly List<SafeFileHandle> _handles = [];
    private int _counter;

    public void Dispose()
    {
        foreach (SafeFileHandle h in _handles)
        {
            h.Dispose();
        }

        _dir.Dispose();
    }

    [SkippableFact]
    public void Convert_SymlinkToSource_RefusedSourceIntact()
    {
        // The defect: this truncated the source and exited 0.
        string source = _dir.File("disk.qcow2");
        RunOk("create", "-q", "-f", "qcow2", source, "1M");
        WriteGuest(source, 4096, 0x5A);
        string alias = _dir.File("alias.qcow2");
        File.CreateSymbolicLink(alias, source);
        byte[] before = File.ReadAllBytes(source);

        foreach (string format in (string[])["qcow2", "raw"])
        {
            CliResult r = Run("convert", "-O", format, source, alias);
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("Failed to get \"write\" lock", r.StandardError, StringComparison.Ordinal);
            Assert.Contains($"Is another process using the image [{alias}]?", r.StandardError, StringComparison.Ordinal);
            Assert.Equal(before, File.ReadAllBytes(source));
        }
    }

    [SkippableFact]
    public void Convert_TargetThroughBindMount_RefusedSourceIntact()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && Oracle.Find("mount") is not null && Oracle.Find("umount") is not null, "needs mount --bind");
        string sourceDir = _dir.File("src");
        string view = _dir.File("view");
        Directory.CreateDirectory(sourceDir);
        Directory.CreateDirectory(view);
        string source = Path.Combine(sourceDir, "disk.qcow2");
        RunOk("create", "-q", "-f", "qcow2", source, "1M");
        WriteGuest(source, 0, 0x77);
        byte[] before = File.ReadAllBytes(source);
        ToolResult mounted = Oracle.Run("mount", "--bind", sourceDir, view);
        Skip.If(mounted.ExitCode != 0, "mount --bind is not permitted here: " + mounted.StandardError);
        try
        {
            CliResult r = Run("convert", "-O", "qcow2", source, Path.Combine(view, "disk.qcow2"));
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("Failed to get \"write\" lock", r.StandardError, StringComparison.Ordinal);
            r = Run("create", "-q", "-f", "qcow2", "-b", source, "-F", "qcow2", Path.Combine(view, "disk.qcow2"));
            Assert.Equal(1, r.ExitCode);
        }
        finally
        {
            Oracle.Run("umount", view);
        }

        Assert.Equal(before, File.ReadAllBytes(source));
    }

    [SkippableFact]
    public void ImageConverter_TargetIsSourceBySymlink_ThrowsAndSourceIntact()
    {
        string source = _dir.File("disk.qcow2");
        RunOk("create", "-q", "-f", "qcow2", source, "1M");
        WriteGuest(source, 0, 0x33);
        string alias = _dir.File("alias");
        File.CreateSymbolicLink(alias, source);
        string hard = _dir.File("hard");
        HardLink(source, hard);
        byte[] before = File.ReadAllBytes(source);

        using (DiskImageFile image = DiskImageFile.Open(source))
        {
            foreach (string target in (string[])[alias, hard, source, ProcFd(source)])
            {
                Assert.Throws<ArgumentException>(() => DiskImage.Conversion.ImageConverter.Convert(image.Content, target));
            }
        }

        Assert.Equal(before, File.ReadAllBytes(source));
    }

    [SkippableTheory]
    [InlineData(20261207)]
    [InlineData(8)]
    [InlineData(424242)]
    public void Verbs_RandomSpellingsOfInputs_NeverChangeAnInput(int seed)
    {
        var random = new Random(seed);
        string baseRaw = _dir.File("base.raw");
        File.WriteAllBytes(baseRaw, RandomBytes(random, Size));
        string mid = _dir.File("mid.qcow2");
        RunOk("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", mid);
        WriteGuest(mid, 65536, 0x11);
        string top = _dir.File("top.qcow2");
        RunOk("create", "-q", "-f", "qcow2", top, "1M");
        WriteGuest(top, 0, 0x22);

        // An image whose raw backing file is (by a hard link) the image itself.
        string loop = _dir.File("loop.qcow2");
        RunOk("create", "-q", "-f", "qcow2", "-u", "-b", "loop-alias", "-F", "raw", loop, "1M");
        HardLink(loop, _dir.File("loop-alias"));
        Directory.CreateDirectory(_dir.File("d"));
        Directory.CreateDirectory(_dir.File("links"));

        string[] inputs = [baseRaw, mid, top, loop];
        Dictionary<string, byte[]> sums = Checksums(inputs);
        var chains = new Dictionary<string, string[]>
        {
            [baseRaw] = [baseRaw],
            [mid] = [mid, baseRaw],
            [top] = [top],
        };
        string[] sources = [baseRaw, mid, top];

        for (int i = 0; i < 40; i++)
        {
            string verb = (string[])["convert", "create", "resize", "commit"] is var verbs ? verbs[random.Next(verbs.Length)] : "";
            bool alias = random.Next(3) != 0;
            string[] args;
            string context;
            if (verb == "convert")
            {
                string source = sources[random.Next(sources.Length)];
                string[] chain = chains[source];
                string target = alias ? Spell(random, chain[random.Next(chain.Length)]) : Fresh(random);
                bool existing = random.Next(4) == 0;
                if (existing && !alias)
                {
                    RunOk("create", "-q", "-f", "raw", target, "1M");
                }

                string format = random.Next(2) == 0 ? "raw" : "qcow2";
                // A relative backing name is found beside the name given, so the chain's top keeps its directory.
                string sourceName = Spell(random, source, sameDirectory: source == mid);
                args = existing ? ["convert", "-n", "-O", alias ? format : "raw", sourceName, target] : ["convert", "-O", format, sourceName, target];
            }
            else if (verb == "create")
            {
                string backing = sources[random.Next(sources.Length)];
                string[] chain = chains[backing];
                string target = alias ? Spell(random, chain[random.Next(chain.Length)]) : Fresh(random);
                string backingFormat = backing == baseRaw ? "raw" : "qcow2";

                // An absolute backing name keeps the spelling independent of the target's directory.
                string backingName = Path.GetFullPath(Spell(random, backing, allowProcFd: false));
                args = random.Next(3) == 0
                    ? ["create", "-q", "-f", "qcow2", "-u", "-b", backingName, "-F", backingFormat, target, "1M"]
                    : ["create", "-q", "-f", "qcow2", "-b", backingName, "-F", backingFormat, target];
            }
            else if (verb == "commit")
            {
                if (alias)
                {
                    // The image whose backing file is itself, or a base that is the top by another name.
                    args = random.Next(2) == 0
                        ? ["commit", "-q", Spell(random, loop)]
                        : ["commit", "-q", "-b", Spell(random, mid), Spell(random, mid, sameDirectory: true)];
                }
                else
                {
                    // A fresh chain beside the inputs: a copy of the raw base under a new qcow2 overlay.
                    int n = _counter++;
                    File.Copy(baseRaw, _dir.File($"cbase{n}.raw"));
                    string overlay = _dir.File($"ctop{n}.qcow2");
                    RunOk("create", "-q", "-f", "qcow2", "-b", $"cbase{n}.raw", "-F", "raw", overlay);
                    WriteGuest(overlay, 3 * 65536, 0x44);
                    args = random.Next(2) == 0
                        ? ["commit", "-q", Spell(random, overlay, sameDirectory: true)]
                        : ["commit", "-q", "-b", $"cbase{n}.raw", Spell(random, overlay, sameDirectory: true)];
                }
            }
            else
            {
                string image;
                if (alias)
                {
                    image = Spell(random, loop);
                }
                else
                {
                    image = Fresh(random);
                    File.Copy(top, image);
                }

                args = ["resize", "-q", image, "+1M"];
            }

            context = $"seed {seed}, step {i}: diskimage {string.Join(' ', args)}";
            CliResult r = Run(args);
            if (alias)
            {
                Assert.True(r.ExitCode != 0, $"{context}: an alias of an input was accepted\n{r}");
            }
            else
            {
                Assert.True(r.ExitCode == 0, $"{context}: distinct files failed\n{r}");
            }

            foreach ((string path, byte[] sum) in Checksums(inputs))
            {
                Assert.True(sums[path].AsSpan().SequenceEqual(sum), $"{context}: input {Path.GetFileName(path)} changed\n{r}");
            }
        }
    }

    /// <summary>Another name for <paramref name="path"/>: itself, relative, ./x, dir/../x, a symbolic link chain, a hard link or /proc/self/fd/N.</summary>
    private string Spell(Random random, string path, bool allowProcFd = true, bool sameDirectory = false)
    {
        int kinds = OperatingSystem.IsLinux() && allowProcFd && !sameDirectory ? 8 : 7;
        int kind = random.Next(kinds);
        if (sameDirectory && kind == 4)
        {
            kind = 5;
        }

        switch (kind)
        {
            case 0:
                return path;
            case 1:
                return Path.GetRelativePath(Environment.CurrentDirectory, path);
            case 2:
                return "./" + Path.GetRelativePath(Environment.CurrentDirectory, path);
            case 3:
                return Path.Combine(_dir.Path, "d", "..", Path.GetFileName(path));
            case 4:
            {
                // A chain of one to three links, relative or absolute.
                string previous = path;
                int length = 1 + random.Next(3);
                for (int i = 0; i < length; i++)
                {
                    string link = _dir.File($"links/l{_counter++}");
                    File.CreateSymbolicLink(link, random.Next(2) == 0 ? previous : Path.GetRelativePath(_dir.File("links"), previous));
                    previous = link;
                }

                return previous;
            }

            case 5:
            {
                string link = _dir.File($"hard{_counter++}");
                HardLink(path, link);
                return link;
            }

            case 6:
                return Path.GetRelativePath(Environment.CurrentDirectory, Path.Combine(_dir.Path, "d", "..", "links", "..", Path.GetFileName(path)));
            default:
                return ProcFd(path);
        }
    }

    private string Fresh(Random random) =>
        random.Next(2) == 0 ? _dir.File($"new{_counter++}.img") : Path.GetRelativePath(Environment.CurrentDirectory, _dir.File($"new{_counter++}.img"));

    private string ProcFd(string path)
    {
        SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        _handles.Add(handle);
        return $"/proc/self/fd/{handle.DangerousGetHandle()}";
    }

    private static void HardLink(string existing, string link)
    {
        Oracle.Require("ln");
        ToolResult r = Oracle.Run("ln", [existing, link]);
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    private static void WriteGuest(string path, long offset, byte value)
    {
        using DiskImageFile image = DiskImageFile.Open(path, new DiskImageOpenOptions { Writable = true, BackingFiles = BackingFilePolicy.Allow });
        byte[] data = new byte[65536];
        Array.Fill(data, value);
        image.Content.Write(offset, data);
        image.Flush();
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        byte[] data = new byte[length];
        random.NextBytes(data);
        return data;
    }

    private static Dictionary<string, byte[]> Checksums(string[] paths)
    {
        var sums = new Dictionary<string, byte[]>();
        foreach (string path in paths)
        {
            sums[path] = SHA256.HashData(File.ReadAllBytes(path));
        }

        return sums;
    }
}
