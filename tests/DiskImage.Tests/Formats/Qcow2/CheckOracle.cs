using System.Text.Json;
using DiskImage.Formats.Qcow2;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>qemu-img check's verdict on a file, parsed from <c>--output=json</c>.</summary>
public sealed record QemuCheck(int ExitCode, long Corruptions, long Leaks, long CorruptionsFixed, long LeaksFixed, long CheckErrors,
    long ImageEndOffset, long TotalClusters, long AllocatedClusters, long FragmentedClusters, long CompressedClusters, string Output)
{
    /// <summary>Runs <c>qemu-img check -f qcow2 --output=json [-r mode]</c> on <paramref name="path"/>.</summary>
    public static QemuCheck Run(string path, Qcow2RepairMode repair = Qcow2RepairMode.None)
    {
        var args = new List<string> { "check", "-f", "qcow2", "--output=json" };
        if (repair != Qcow2RepairMode.None)
        {
            args.Add("-r");
            args.Add(repair == Qcow2RepairMode.All ? "all" : "leaks");
        }

        args.Add(path);
        return RunArguments(args);
    }

    /// <summary>Runs <c>qemu-img</c> with <paramref name="args"/> (a check with <c>--output=json</c>) and parses the result.</summary>
    public static QemuCheck RunArguments(IEnumerable<string> args)
    {
        ToolResult r = Oracle.Run("qemu-img", args, TimeSpan.FromMinutes(2));
        string text = r.StandardOutput.Trim();
        long Get(JsonElement root, string name) => root.TryGetProperty(name, out JsonElement e) ? e.GetInt64() : 0;
        if (text.StartsWith('{'))
        {
            using JsonDocument doc = JsonDocument.Parse(text);
            JsonElement root = doc.RootElement;
            return new QemuCheck(r.ExitCode, Get(root, "corruptions"), Get(root, "leaks"), Get(root, "corruptions-fixed"), Get(root, "leaks-fixed"),
                Get(root, "check-errors"), Get(root, "image-end-offset"), Get(root, "total-clusters"), Get(root, "allocated-clusters"),
                Get(root, "fragmented-clusters"), Get(root, "compressed-clusters"), r.ToString());
        }

        return new QemuCheck(r.ExitCode, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, r.ToString());
    }

    /// <summary>Asserts that our result carries the same counters and exit code as qemu-img's.</summary>
    public void AssertSameAs(Qcow2CheckResult ours, bool compareLayout = true)
    {
        string context = $"qemu-img: {Output}\nours: {Describe(ours)}";
        Assert.True(ExitCode == ours.ExitCode, "exit code differs\n" + context);
        Assert.True(Corruptions == ours.Corruptions, "corruptions differ\n" + context);
        Assert.True(Leaks == ours.Leaks, "leaks differ\n" + context);
        Assert.True(CheckErrors == ours.CheckErrors, "check-errors differ\n" + context);
        if (compareLayout)
        {
            Assert.True(ImageEndOffset == ours.ImageEndOffset, "image-end-offset differs\n" + context);
            Assert.True(TotalClusters == ours.TotalClusters, "total-clusters differs\n" + context);
            Assert.True(AllocatedClusters == ours.AllocatedClusters, "allocated-clusters differs\n" + context);
            Assert.True(FragmentedClusters == ours.FragmentedClusters, "fragmented-clusters differs\n" + context);
            Assert.True(CompressedClusters == ours.CompressedClusters, "compressed-clusters differs\n" + context);
        }
    }

    /// <summary>One-line summary plus messages of our result, for assertion output.</summary>
    public static string Describe(Qcow2CheckResult r) =>
        $"exit={r.ExitCode} corruptions={r.Corruptions} leaks={r.Leaks} corruptions-fixed={r.CorruptionsFixed} leaks-fixed={r.LeaksFixed} " +
        $"check-errors={r.CheckErrors} end={r.ImageEndOffset} total={r.TotalClusters} allocated={r.AllocatedClusters} " +
        $"fragmented={r.FragmentedClusters} compressed={r.CompressedClusters}\n  " + string.Join("\n  ", r.Messages.Take(50));
}
