using System.Text;
using DiskImage.FileSystems;
using DiskImage.FileSystems.InMemory;

namespace DiskImage.Tests.Customization;

/// <summary>A small Debian-like guest in an <see cref="InMemoryFileSystem"/> for the customization tests.</summary>
internal static class GuestFixture
{
    public const string Shadow = "root:$6$old$oldhash:19000:0:99999:7:::\nalice:!:19001:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n";

    public static InMemoryFileSystem Create()
    {
        var fs = new InMemoryFileSystem();
        foreach (string d in (string[])["/etc", "/etc/systemd", "/etc/systemd/system", "/etc/init.d", "/root", "/home", "/home/alice", "/usr", "/usr/share", "/usr/share/zoneinfo", "/usr/share/zoneinfo/Europe", "/var", "/var/log", "/var/log/apt", "/tmp", "/opt"])
        {
            fs.CreateDirectory(d);
        }

        fs.SetOwner("/home/alice", 1000, 1000);
        Write(fs, "/etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n");
        Write(fs, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n");
        Write(fs, "/etc/shadow", Shadow);
        fs.SetMode("/etc/shadow", (UnixFileMode)0x1A0); // 0640
        fs.SetOwner("/etc/shadow", 0, 42);
        Write(fs, "/etc/hostname", "oldhost\n");
        Write(fs, "/etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\toldhost.example.org oldhost\n");
        Write(fs, "/etc/issue", "Debian GNU/Linux 12 \\n \\l\n\n");
        Write(fs, "/usr/share/zoneinfo/Europe/Berlin", "TZif2");
        fs.CreateSymbolicLink("/etc/localtime", "/usr/share/zoneinfo/Etc/UTC");
        Write(fs, "/var/log/apt/history.log", "old history\n");
        Write(fs, "/var/log/dpkg.log", "dpkg log\n");
        return fs;
    }

    public static void Write(IFileSystem fs, string path, string text)
    {
        using Stream s = fs.OpenFile(path, FileMode.Create, FileAccess.Write);
        s.Write(Encoding.UTF8.GetBytes(text));
    }

    public static void WriteBytes(IFileSystem fs, string path, byte[] data)
    {
        using Stream s = fs.OpenFile(path, FileMode.Create, FileAccess.Write);
        s.Write(data);
    }

    public static string Read(IFileSystem fs, string path)
    {
        using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
        using var r = new StreamReader(s, Encoding.UTF8);
        return r.ReadToEnd();
    }

    /// <summary>Every entry with type, mode, owner, link target and content hash: equal snapshots mean nothing changed.</summary>
    public static string Snapshot(IFileSystem fs)
    {
        var sb = new StringBuilder();
        var stack = new Stack<string>();
        stack.Push("/");
        while (stack.Count > 0)
        {
            string p = stack.Pop();
            UnixFileInfo e = fs.GetEntry(p);
            sb.Append(p).Append(' ').Append(e.Type).Append(' ').Append(Convert.ToString((int)e.Mode, 8)).Append(' ').Append(e.UserId).Append(':').Append(e.GroupId)
                .Append(' ').Append(e.LinkTarget).Append(' ').Append(e.ModificationTime);
            if (e.Type == UnixFileType.RegularFile)
            {
                using Stream s = fs.OpenFile(p, FileMode.Open, FileAccess.Read);
                sb.Append(' ').Append(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(s)));
            }

            sb.Append('\n');
            if (e.IsDirectory)
            {
                foreach (UnixFileInfo c in fs.EnumerateDirectory(p).OrderBy(c => c.Name, StringComparer.Ordinal))
                {
                    stack.Push(c.Path);
                }
            }
        }

        return sb.ToString();
    }
}
