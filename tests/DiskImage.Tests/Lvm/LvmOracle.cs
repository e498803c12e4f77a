using System.Text.Json.Nodes;
using DiskImage.Tests.Oracles;
using DiskImage.Tests.Partitions;

namespace DiskImage.Tests.Lvm;

/// <summary>
/// lvm2 2.03.16 (Debian 12) as the judge of LVM metadata. This kernel has no device-mapper, so every command
/// runs with activation off, sees only the test's own loop devices (a filter, no devices file) and keeps no
/// backup or archive copies.
/// </summary>
internal sealed class LvmOracle : IDisposable
{
    private readonly List<SectorLoopDevice> _loops = [];

    private LvmOracle()
    {
    }

    /// <summary>The loop device of each image, in order.</summary>
    public IReadOnlyList<string> Devices => _loops.ConvertAll(l => l.Path);

    /// <summary>Attaches each image to a loop device (skips without root, loop devices or lvm2).</summary>
    public static LvmOracle Attach(params string[] images)
    {
        Oracle.Require("lvm");
        Environment.SetEnvironmentVariable("LVM_SUPPRESS_FD_WARNINGS", "1");
        var oracle = new LvmOracle();
        try
        {
            foreach (string image in images)
            {
                oracle._loops.Add(SectorLoopDevice.Attach(image));
            }
        }
        catch
        {
            oracle.Dispose();
            throw;
        }

        return oracle;
    }

    /// <summary>A unique VG name, so tests running at once never see each other's groups.</summary>
    public static string NewVolumeGroupName(string prefix) => $"{prefix}{Guid.NewGuid():N}"[..(prefix.Length + 10)];

    /// <summary>The <c>--config</c> string: no activation, only our devices, no backups.</summary>
    public string Config
    {
        get
        {
            string accept = string.Join(",", _loops.ConvertAll(l => $"\"a|^{l.Path}$|\""));
            return $"global{{activation=0}} devices{{filter=[{accept},\"r|.*|\"] global_filter=[{accept},\"r|.*|\"] scan_lvs=0 use_devicesfile=0 obtain_device_list_from_udev=0}} backup{{backup=0 archive=0}}";
        }
    }

    /// <summary>Runs an lvm command (<c>pvcreate</c>, <c>lvs</c>, …) with <see cref="Config"/>.</summary>
    public ToolResult Run(string command, params string[] arguments) =>
        Oracle.Run("lvm", [command, "--config", Config, .. arguments], TimeSpan.FromMinutes(2));

    /// <summary>Runs an lvm command and asserts exit code 0.</summary>
    public ToolResult RunOk(string command, params string[] arguments)
    {
        ToolResult r = Run(command, arguments);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r;
    }

    /// <summary>stderr without the warnings every command prints here (no device-mapper, no zeroing, no backup).</summary>
    public static string Complaints(ToolResult r)
    {
        var lines = new List<string>();
        foreach (string line in r.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (line.StartsWith("WARNING: Activation disabled", StringComparison.Ordinal) || line.Contains("not zeroed", StringComparison.Ordinal)
                || line.StartsWith("WARNING: Skipping zeroing", StringComparison.Ordinal) || line.Contains("NOT backed up", StringComparison.Ordinal))
            {
                continue;
            }

            lines.Add(line);
        }

        return string.Join('\n', lines);
    }

    /// <summary>A report (<c>lvs</c>, <c>vgs</c>, <c>pvs</c>) as JSON rows.</summary>
    public JsonArray Report(string command, string fields, params string[] extra)
    {
        ToolResult r = RunOk(command, ["--reportformat", "json", "--units", "b", "--nosuffix", "-o", fields, .. extra]);
        JsonNode root = JsonNode.Parse(r.StandardOutput)!;
        JsonObject first = root["report"]![0]!.AsObject();
        foreach (KeyValuePair<string, JsonNode?> e in first)
        {
            return e.Value!.AsArray();
        }

        return [];
    }

    public void Dispose()
    {
        foreach (SectorLoopDevice l in _loops)
        {
            l.Dispose();
        }

        _loops.Clear();
    }
}
