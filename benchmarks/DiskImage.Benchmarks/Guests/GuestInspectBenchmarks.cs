using BenchmarkDotNet.Attributes;
using DiskImage.Guests;

namespace DiskImage.Benchmarks.Guests;

/// <summary>
/// <c>diskimage inspect</c>'s work on a 20 GiB sparse qcow2 whole-disk guest (GPT, ESP, LVM with root, /var and
/// /var/log; see <see cref="GuestBenchData"/>): open the image, find the partitions, PVs and LVs, recognise every
/// file system, find the root and read its os-release, fstab, hostname and architecture. Issue 11 asks for under
/// 100 ms; <c>benchmarks/compare-inspect.sh</c> times <c>virt-inspector</c> on the same disk.
/// </summary>
[MemoryDiagnoser]
public class GuestInspectBenchmarks
{
    private string? _scratch;
    private string _image = null!;

    /// <summary>Builds the guest once (the debootstrap tree from <c>DISKIMAGE_DEBOOTSTRAP_TREE</c> when set).</summary>
    [GlobalSetup]
    public void Setup()
    {
        _scratch = BenchmarkData.CreateScratchDirectory();
        _image = Path.Combine(_scratch, "guest.qcow2");
        GuestBenchData.Build(_image, Environment.GetEnvironmentVariable("DISKIMAGE_DEBOOTSTRAP_TREE") is { Length: > 0 } tree ? tree : null);
    }

    /// <summary>Deletes the image.</summary>
    [GlobalCleanup]
    public void Cleanup() => BenchmarkData.DeleteScratchDirectory(_scratch);

    /// <summary><c>Guest.Open</c> of the qcow2 file and <c>Inspect</c>: what <c>diskimage inspect</c> does before printing.</summary>
    [Benchmark]
    public int OpenAndInspect20GiBQcow2()
    {
        using Guest guest = Guest.Open(_image);
        IReadOnlyList<GuestOperatingSystem> systems = guest.Inspect();
        return systems.Count == 1 ? systems[0].Mounts.Count : throw new InvalidOperationException("The benchmark guest was not inspected as one operating system.");
    }
}
