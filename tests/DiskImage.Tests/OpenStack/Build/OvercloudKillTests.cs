using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using DiskImage.OpenStack.Build;
using DiskImage.Tests.Cli;

namespace DiskImage.Tests.OpenStack.Build;

/// <summary>
/// <c>overcloud build</c> as a child process killed (SIGKILL) at seeded random points: no partial file under a final
/// name, only <c>.NAME.tmp-*</c> temporaries (and <c>..NAME.tmp-*</c> ones of a conversion) and locked scratch directories, all removed by the next run, which
/// completes with files byte-identical to an uninterrupted run and a manifest that matches them.
/// </summary>
public sealed partial class OvercloudKillTests
{
    private const long Epoch = 1_700_000_000;
    private const int Seed = 4242;

    // .NAME.tmp-ID, or ..NAME.tmp-ID.GUID.tmp: the file the qcow2 conversion writes before renaming it to .NAME.tmp-ID.
    [GeneratedRegex(@"^\.{1,2}([^.].*?)\.tmp-[0-9a-f]{32}(?:\.[0-9a-f]{32}\.tmp)?$")]
    private static partial Regex TemporaryName();

    [SkippableFact]
    public async Task KilledBuild_AtSeededPoints_NoPartialOutput_NextRunByteIdenticalToUninterrupted()
    {
        using var dir = new TempDirectory();
        string baseImage = dir.File("base.qcow2");
        OvercloudBuildFixture.WriteBaseImage(baseImage);
        File.WriteAllText(dir.File("recipe.yaml"), OvercloudBuildFixture.Recipe);
        OvercloudRecipe recipe = OvercloudRecipe.Parse(OvercloudBuildFixture.Recipe);
        OvercloudBuildResult reference = await OvercloudBuilder.BuildAsync(recipe, new OvercloudBuildOptions { BaseImage = baseImage, OutputDirectory = dir.File("reference"), SourceDateEpoch = Epoch });
        var expected = reference.Outputs.ToDictionary(o => o.File, o => File.ReadAllBytes(o.Path));
        var env = new Dictionary<string, string> { ["SOURCE_DATE_EPOCH"] = Epoch.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        string[] args = ["overcloud", "build", "--all", "--base", baseImage, "--recipe", dir.File("recipe.yaml"), "-o", dir.File("out"), "--tmpdir", dir.File("scratch"), "-q"];

        // How long an uninterrupted child takes (start-up included), to spread the kill points over it.
        var clock = Stopwatch.StartNew();
        using (CliProcess pilot = CliProcess.Start(env, [.. args[..^5], "-o", dir.File("pilot"), "--tmpdir", dir.File("scratch"), "-q"]))
        {
            CliResult done = pilot.WaitForExit();
            Assert.True(done.ExitCode == 0, done.ToString());
        }

        int total = (int)clock.ElapsedMilliseconds;
        var random = new Random(Seed);
        for (int i = 0; i < 5; i++)
        {
            int delay = random.Next(total / 10, total);
            string context = $"seed {Seed}, kill {i} after {delay} ms of {total} ms";
            using (CliProcess child = CliProcess.Start(env, args))
            {
                Thread.Sleep(delay);
                child.Kill();
            }

            AssertNoPartialOutput(dir.File("out"), expected, context);
        }

        using (CliProcess next = CliProcess.Start(env, args))
        {
            CliResult done = next.WaitForExit();
            Assert.True(done.ExitCode == 0, $"seed {Seed}: {done}");
        }

        Assert.Equal([.. expected.Keys.Append(OvercloudBuilder.ManifestFileName).Order(StringComparer.Ordinal)],
            Directory.GetFiles(dir.File("out")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach ((string file, byte[] bytes) in expected)
        {
            Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(dir.File("out/" + file))), $"seed {Seed}: {file} differs from the uninterrupted build");
        }

        AssertManifestMatches(dir.File("out"), $"seed {Seed}, after the next run");
        Assert.Empty(Directory.GetFileSystemEntries(dir.File("scratch")));
    }

    private static void AssertNoPartialOutput(string outDir, Dictionary<string, byte[]> expected, string context)
    {
        if (!Directory.Exists(outDir))
        {
            return;
        }

        foreach (string path in Directory.GetFiles(outDir))
        {
            string name = Path.GetFileName(path);
            if (TemporaryName().Match(name) is { Success: true } m)
            {
                Assert.True(expected.ContainsKey(m.Groups[1].Value) || m.Groups[1].Value == OvercloudBuilder.ManifestFileName, $"{context}: unexpected temporary {name}");
                continue;
            }

            if (name == OvercloudBuilder.ManifestFileName)
            {
                continue;
            }

            Assert.True(expected.TryGetValue(name, out byte[]? bytes), $"{context}: unexpected file {name}");
            Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(path)), $"{context}: {name} is visible but not complete");
        }

        AssertManifestMatches(outDir, context);
    }

    /// <summary>Every file the manifest lists exists with the recorded size and SHA-256.</summary>
    private static void AssertManifestMatches(string outDir, string context)
    {
        string manifest = Path.Combine(outDir, OvercloudBuilder.ManifestFileName);
        if (!File.Exists(manifest))
        {
            return;
        }

        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(manifest));
        foreach (JsonElement e in doc.RootElement.GetProperty("files").EnumerateArray())
        {
            string file = Path.Combine(outDir, e.GetProperty("name").GetString()!);
            Assert.True(File.Exists(file), $"{context}: the manifest lists {file}, which is missing");
            Assert.Equal(e.GetProperty("size").GetInt64(), new FileInfo(file).Length);
            Assert.True(e.GetProperty("sha256").GetString() == OvercloudBuildFixture.Sha256(file), $"{context}: {file} does not match the manifest");
        }
    }
}
