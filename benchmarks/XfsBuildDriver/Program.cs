using System.Diagnostics;
using System.Globalization;
using DiskImage.FileSystems.Host;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;

// Usage: XfsBuildDriver <source-dir> <image> [size-bytes|+extra-bytes] [debian12|rhel9|rhel8|rhel7]
// Prints the size used and the wall time of the build (not of process start-up) to stderr.
if (args.Length < 2 || !OperatingSystem.IsLinux())
{
    Console.Error.WriteLine("usage: XfsBuildDriver <source-dir> <image> [size-bytes|+extra-bytes] [debian12|rhel9|rhel8|rhel7]");
    return 2;
}

var format = new XfsFormatOptions
{
    Profile = args.Length > 3 ? args[3] switch
    {
        "rhel7" => XfsFormatProfile.Rhel7,
        "rhel8" => XfsFormatProfile.Rhel8,
        "rhel9" => XfsFormatProfile.Rhel9,
        _ => XfsFormatProfile.Debian12,
    } : XfsFormatProfile.Debian12,
};
var sw = Stopwatch.StartNew();
using var source = new HostDirectoryFileSystem(args[0]);
long size;
if (args.Length > 2 && !args[2].StartsWith('+'))
{
    size = long.Parse(args[2], CultureInfo.InvariantCulture);
}
else
{
    long extra = args.Length > 2 ? long.Parse(args[2][1..], CultureInfo.InvariantCulture) : 0;
    size = XfsFileSystem.ComputeBuildSize(source, new XfsBuildOptions { Format = format, ExtraBytes = extra });
}

using (var device = FileBlockDevice.Create(args[1], size, overwrite: true))
{
    XfsFileSystem.Build(device, source, new XfsBuildOptions { Format = format });
}

Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"size {size} build {sw.Elapsed.TotalSeconds:F3} s"));
return 0;
