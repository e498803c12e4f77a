using System.Text;
using DiskImage.FileSystems;

namespace DiskImage.Tests.FileSystems.Conformance;

/// <summary>
/// The small tree every file system under test must contain for the read conformance suite. It can be
/// created through <see cref="IFileSystem"/> or on the host (for images built by other tools).
/// </summary>
public static class ConformanceTree
{
    public static readonly byte[] HelloContent = Encoding.UTF8.GetBytes("hello, file system\n");
    public static readonly UnixTime FixedTime = new(1_700_000_000, 123_456_789);

    public static byte[] PatternContent(int length, int seed)
    {
        byte[] b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>Creates the tree through the contract.</summary>
    public static void Populate(IFileSystem fs)
    {
        Write(fs, "/hello.txt", HelloContent);
        fs.SetMode("/hello.txt", (UnixFileMode)0x1A0); // 0640
        fs.SetOwner("/hello.txt", 1000, 1001);
        fs.SetTimes("/hello.txt", FixedTime, FixedTime);
        fs.SetXattr("/hello.txt", "user.comment", "greeting"u8);
        fs.CreateDirectory("/dir");
        fs.CreateDirectory("/dir/sub", (UnixFileMode)0x1C0); // 0700
        Write(fs, "/dir/sub/data.bin", PatternContent(70_000, 1));
        fs.OpenFile("/empty", FileMode.CreateNew, FileAccess.Write).Dispose();
        fs.CreateSymbolicLink("/link", "hello.txt");
        fs.CreateSymbolicLink("/dir/up", "/dir/sub");
        fs.CreateHardLink("/dir/hard", "/hello.txt");
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    /// <summary>Creates the same tree in a host directory (owners need root; a caller that is not root must skip).</summary>
    public static void WriteToHost(string root)
    {
        File.WriteAllBytes(Path.Combine(root, "hello.txt"), HelloContent);
        File.SetUnixFileMode(Path.Combine(root, "hello.txt"), (UnixFileMode)0x1A0);
        Directory.CreateDirectory(Path.Combine(root, "dir", "sub"));
        File.SetUnixFileMode(Path.Combine(root, "dir", "sub"), (UnixFileMode)0x1C0);
        File.WriteAllBytes(Path.Combine(root, "dir", "sub", "data.bin"), PatternContent(70_000, 1));
        File.WriteAllBytes(Path.Combine(root, "empty"), []);
        File.CreateSymbolicLink(Path.Combine(root, "link"), "hello.txt");
        File.CreateSymbolicLink(Path.Combine(root, "dir", "up"), "/dir/sub");
        HostFiles.Link(Path.Combine(root, "hello.txt"), Path.Combine(root, "dir", "hard"));
        HostFiles.SetXattr(Path.Combine(root, "hello.txt"), "user.comment", "greeting"u8.ToArray());
        HostFiles.Chown(Path.Combine(root, "hello.txt"), 1000, 1001);
        HostFiles.SetTimes(Path.Combine(root, "hello.txt"), FixedTime, FixedTime);
    }

    public static void Write(IFileSystem fs, string path, byte[] content)
    {
        using Stream s = fs.OpenFile(path, FileMode.Create, FileAccess.Write);
        s.Write(content);
    }

    public static byte[] ReadAll(IFileSystem fs, string path)
    {
        using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
        var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }
}
