using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Locking;

/// <summary>
/// The library's image locks against QEMU 7.2 running as a second process (qemu-io holding the image,
/// or qemu-img/qemu-io opening an image the library holds): every outcome is the one a second QEMU
/// process gets in the same situation.
/// </summary>
public sealed class QemuLockLibraryTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>The open modes, as qemu-io flags: read-write, read-only, read-only with force-share.</summary>
    public static TheoryData<string> Modes => ["rw", "ro", "ro-U"];

    internal static string[] QemuFlags(string mode) => mode switch
    {
        "rw" => [],
        "ro" => ["-r"],
        "ro-U" => ["-r", "-U"],
        _ => throw new ArgumentOutOfRangeException(nameof(mode)),
    };

    internal static DiskImageOpenOptions Options(string mode) => new()
    {
        Writable = mode == "rw",
        Locking = mode == "ro-U" ? ImageLocking.ForceShare : ImageLocking.Enabled,
    };

    // Whether a second opener in mode 'second' succeeds while a first one holds the qcow2 image in mode 'first'.
    private static bool Qcow2Compatible(string first, string second) => (first, second) switch
    {
        ("rw", "ro-U") or ("ro", "ro") or ("ro", "ro-U") or ("ro-U", _) => true,
        _ => false,
    };

    private string NewQcow2(string name = "disk.qcow2")
    {
        string path = _temp.File(name);
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", path, "64M");
        return path;
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void Open_Qcow2HeldByQemuIo_SucceedsExactlyWhereSecondQemuIoDoes(string holderMode)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "QEMU's image locks are taken on Linux only.");
        string image = NewQcow2();
        using var holder = QemuImageHolder.Start(image, "qcow2", QemuFlags(holderMode));
        foreach (string mode in new[] { "rw", "ro", "ro-U" })
        {
            ToolResult qemu = Oracle.Run("qemu-io", ["-f", "qcow2", .. QemuFlags(mode), "-c", "read 0 512", image], TimeSpan.FromSeconds(30));
            string? error = null;
            try
            {
                using DiskImageFile file = DiskImageFile.Open(image, Options(mode));
                _ = file.Content.Length;
            }
            catch (IOException e)
            {
                error = e.Message;
            }

            string context = $"holder {holderMode}, second open {mode}: qemu-io {qemu.ExitCode} {qemu.StandardError.Trim()}; DiskImage: {error ?? "opened"}";
            Assert.True(Qcow2Compatible(holderMode, mode) == (qemu.ExitCode == 0), "qemu-io itself: " + context);
            Assert.True((error is null) == (qemu.ExitCode == 0), context);
            if (error is not null)
            {
                // The same words as QEMU: 'Failed to get "write" lock' / 'Is another process using the image [path]?'.
                Assert.Contains(error, qemu.StandardError.Replace("\r", "", StringComparison.Ordinal), StringComparison.Ordinal);
            }
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void QemuTools_OnQcow2HeldByLibrary_BehaveAsWithQemuIoHolder(string holderMode)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "QEMU's image locks are taken on Linux only.");
        string image = NewQcow2();
        string[][] actions =
        [
            ["qemu-img", "info", image],
            ["qemu-img", "info", "-U", image],
            ["qemu-img", "check", image],
            ["qemu-img", "check", "-U", image],
            ["qemu-img", "check", "-r", "all", image],
            ["qemu-img", "map", image],
            ["qemu-img", "resize", image, "64M"],
            ["qemu-io", "-f", "qcow2", "-c", "write 0 512", image],
            ["qemu-io", "-f", "qcow2", "-r", "-c", "read 0 512", image],
            ["qemu-io", "-f", "qcow2", "-r", "-U", "-c", "read 0 512", image],
        ];

        var withQemu = new List<ToolResult>();
        using (QemuImageHolder.Start(image, "qcow2", QemuFlags(holderMode)))
        {
            foreach (string[] a in actions)
            {
                withQemu.Add(Oracle.Run(a[0], a[1..], TimeSpan.FromSeconds(30)));
            }
        }

        var withLibrary = new List<ToolResult>();
        using (DiskImageFile held = DiskImageFile.Open(image, Options(holderMode)))
        {
            foreach (string[] a in actions)
            {
                withLibrary.Add(Oracle.Run(a[0], a[1..], TimeSpan.FromSeconds(30)));
            }
        }

        int failures = 0;
        for (int i = 0; i < actions.Length; i++)
        {
            string context = $"holder {holderMode}: {string.Join(' ', actions[i])}\nwith qemu-io holding: {withQemu[i]}\nwith DiskImage holding: {withLibrary[i]}";
            Assert.True(withQemu[i].ExitCode == withLibrary[i].ExitCode, context);
            Assert.True(withQemu[i].StandardError == withLibrary[i].StandardError, context);
            failures += withQemu[i].ExitCode != 0 ? 1 : 0;
        }

        // The matrix is not vacuous: a writer or reader holding the image blocks some of the tools.
        Assert.Equal(holderMode switch { "rw" => 7, "ro" => 3, _ => 0 }, failures);
    }

    [SkippableFact]
    public void Open_TwoWritableOpensInOneProcess_SecondThrowsIOException()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "QEMU's image locks are taken on Linux only.");
        string image = NewQcow2();
        using (DiskImageFile first = DiskImageFile.Open(image, new DiskImageOpenOptions { Writable = true }))
        {
            IOException e = Assert.Throws<IOException>(() => DiskImageFile.Open(image, new DiskImageOpenOptions { Writable = true }));
            Assert.Equal($"Failed to get \"write\" lock\nIs another process using the image [{image}]?", e.Message);
            Assert.Throws<IOException>(() => DiskImageFile.Open(image));
            Assert.Throws<IOException>(() => FileBlockDevice.Open(image, writable: true));
            using DiskImageFile shared = DiskImageFile.Open(image, new DiskImageOpenOptions { Locking = ImageLocking.ForceShare });
        }

        using DiskImageFile again = DiskImageFile.Open(image, new DiskImageOpenOptions { Writable = true });
    }

    [SkippableFact]
    public void FileBlockDevice_TwoWritableOpens_SecondThrowsIOException()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "QEMU's image locks are taken on Linux only.");
        string path = _temp.File("plain.img");
        using (FileBlockDevice.Create(path, 1 << 20))
        {
        }

        using (FileBlockDevice first = FileBlockDevice.Open(path, writable: true))
        {
            IOException e = Assert.Throws<IOException>(() => FileBlockDevice.Open(path, writable: true));
            Assert.StartsWith("Failed to get \"write\" lock", e.Message, StringComparison.Ordinal);
            Assert.Throws<IOException>(() => FileBlockDevice.Create(path, 1 << 20));
            Assert.Equal(1 << 20, new FileInfo(path).Length);

            // Readers of a plain file share everything, as qemu-img does for raw images.
            using FileBlockDevice reader = FileBlockDevice.Open(path);
            using FileBlockDevice unlocked = FileBlockDevice.Open(path, writable: true, ImageLocking.Disabled);
        }

        using FileBlockDevice again = FileBlockDevice.Open(path, writable: true);
        Assert.Throws<ArgumentException>(() => FileBlockDevice.Open(path, writable: true, ImageLocking.ForceShare));
    }

    [SkippableFact]
    public void Raw_HeldByQemuIoWritable_LibraryWriterRefusedReaderAllowed()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "QEMU's image locks are taken on Linux only.");
        string image = _temp.File("disk.raw");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "raw", image, "16M");
        using (QemuImageHolder.Start(image, "raw"))
        {
            IOException e = Assert.Throws<IOException>(() => DiskImageFile.Open(image, new DiskImageOpenOptions { Writable = true, Format = DiskImageFormat.Raw }));
            Assert.StartsWith("Failed to get shared \"write\" lock", e.Message, StringComparison.Ordinal);
            using DiskImageFile reader = DiskImageFile.Open(image, new DiskImageOpenOptions { Format = DiskImageFormat.Raw });
            Assert.Equal(16L << 20, reader.Content.Length);
        }
    }

    [SkippableFact]
    public void Raw_HeldByLibraryWritable_QemuWriterRefusedReadersAllowed()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "QEMU's image locks are taken on Linux only.");
        string image = _temp.File("disk.raw");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "raw", image, "16M");
        using (DiskImageFile held = DiskImageFile.Open(image, new DiskImageOpenOptions { Writable = true, Format = DiskImageFormat.Raw }))
        {
            ToolResult write = Oracle.Run("qemu-io", "-f", "raw", "-c", "write 0 512", image);
            Assert.True(write.ExitCode != 0 && write.StandardError.Contains("Failed to get \"write\" lock", StringComparison.Ordinal), write.ToString());
            ToolResult resize = Oracle.Run("qemu-img", "resize", "-f", "raw", image, "32M");
            Assert.True(resize.ExitCode != 0, resize.ToString());
            Oracle.RunOk("qemu-img", "info", "-f", "raw", image);
            Oracle.RunOk("qemu-io", "-f", "raw", "-r", "-c", "read 0 512", image);
        }

        Assert.Equal(16L << 20, new FileInfo(image).Length);
        Oracle.RunOk("qemu-io", "-f", "raw", "-c", "write 0 512", image);
    }

    [SkippableFact]
    public void Create_OverImageQemuHolds_RefusedAndFileUnchanged()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "QEMU's image locks are taken on Linux only.");
        string image = NewQcow2();
        Oracle.RunOk("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 1M", image);
        byte[] before = File.ReadAllBytes(image);
        using (QemuImageHolder.Start(image, "qcow2", "-r"))
        {
            Assert.Throws<IOException>(() => Qcow2Image.Create(image, 1 << 20));
            Assert.Throws<IOException>(() => Qcow2Image.Check(image, Qcow2RepairMode.All));
            Assert.Equal(0, Qcow2Image.Check(image).Corruptions);
        }

        Assert.Equal(before, File.ReadAllBytes(image));
    }
}
