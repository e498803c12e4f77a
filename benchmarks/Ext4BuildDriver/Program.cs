using System.Diagnostics;
using System.Globalization;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.Host;
using DiskImage.IO;

// Usage: Ext4BuildDriver <source-dir> <image> [size-bytes|+extra-bytes] [debian12|rhel7] [block-size]
// Prints the size used and the wall time of the build (not of process start-up) to stderr.
if (args.Length < 2 || !OperatingSystem.IsLinux())
{
    Console.Error.WriteLine("usage: Ext4BuildDriver <source-dir> <image> [size-bytes|+extra-bytes] [debian12|rhel7] [block-size]");
    return 2;
}

var format = new Ext4FormatOptions
{
    Profile = args.Length > 3 && args[3] == "rhel7" ? Ext4FormatProfile.Rhel7 : Ext4FormatProfile.Debian12,
    BlockSize = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : null,
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
    size = Ext4FileSystem.ComputeBuildSize(source, new Ext4BuildOptions { Format = format, ExtraBytes = extra });
}

using (var device = FileBlockDevice.Create(args[1], size, overwrite: true))
{
    Ext4FileSystem.Build(device, source, new Ext4BuildOptions { Format = format });
}

Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"size {size} build {sw.Elapsed.TotalSeconds:F3} s"));
return 0;
