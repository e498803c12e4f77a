using DiskImage.FileSystems;

namespace DiskImage.Tests.FileSystems.Fat;

/// <summary>
/// Randomized operation sequences for FAT, applied to the file system under test and to an
/// <see cref="DiskImage.FileSystems.InMemory.InMemoryFileSystem"/> model. Only what FAT represents: files
/// (create, overwrite inside and past the end, append, truncate and grow), directories, delete, rename and
/// move (replacing files), and bulk creation that makes directories grow past one cluster. Names come from a
/// pool whose members differ case-insensitively (FAT lookups ignore case) and mix 8.3 names in each case,
/// long names, spaces, several dots and non-ASCII letters. Fully determined by the seed.
/// </summary>
public sealed class FatRandomOperations
{
    private static readonly string[] Pool =
    [
        "readme.txt", "KERNEL.IMG", "Makefile", "grub.cfg", "A long file name.txt", "x.y.z", "a+b.txt", ".hidden",
        "name with.many.dots.txt", "Ünïcödé ✓", "BOOTX64.EFI", "config", "very long name number one.data",
        "very long name number two.data", "Mixed.Case", "abc", "DIR", "sub dir", "e", "f.c", "f.h", "logs",
    ];

    private readonly Random _rng;
    private readonly IFileSystem _model;
    private readonly int _maxFile;
    private readonly bool _fixedRoot;

    public FatRandomOperations(int seed, IFileSystem model, int maxFile, bool fixedRoot)
    {
        _rng = new Random(seed);
        _model = model;
        _maxFile = maxFile;
        _fixedRoot = fixedRoot;
    }

    /// <summary>What was done, one line per operation, to reproduce a failure.</summary>
    public List<string> Log { get; } = [];

    /// <summary>Runs <paramref name="count"/> operations on both file systems.</summary>
    public void Run(IFileSystem target, int count)
    {
        for (int i = 0; i < count; i++)
        {
            Action<IFileSystem>? op = Next(out string text);
            if (op is null)
            {
                continue;
            }

            Log.Add(text);
            op(_model);
            op(target);
        }
    }

    private Action<IFileSystem>? Next(out string text)
    {
        List<string> dirs = Directories();
        List<string> files = Files();
        int kind = _rng.Next(100);
        string dir = dirs[_rng.Next(dirs.Count)];
        if (kind < 25 || files.Count == 0)
        {
            string path = FreeName(dir);
            int length = Size();
            int seed = _rng.Next();
            text = $"create {path} {length}";
            return fs => Write(fs, path, FileMode.CreateNew, 0, length, seed);
        }

        string file = files[_rng.Next(files.Count)];
        long size = _model.GetEntry(file).Size;
        switch (kind)
        {
            case < 35:
            {
                long offset = _rng.NextInt64(size + 3000);
                int length = _rng.Next(1, 9000);
                int seed = _rng.Next();
                text = $"overwrite {file} at {offset} {length}";
                return fs => Write(fs, file, FileMode.Open, offset, length, seed);
            }

            case < 42:
            {
                int length = _rng.Next(1, 5000);
                int seed = _rng.Next();
                text = $"append {file} {length}";
                return fs => Write(fs, file, FileMode.Append, -1, length, seed);
            }

            case < 50:
            {
                long length = _rng.NextInt64(Math.Max(1, size * 2));
                text = $"truncate {file} {length}";
                return fs =>
                {
                    using Stream s = fs.OpenFile(file, FileMode.Open, FileAccess.Write);
                    s.SetLength(length);
                };
            }

            case < 60:
            {
                if (_fixedRoot && dir == "/" && _model.EnumerateDirectory("/").Count() > 20)
                {
                    dir = dirs[^1];
                }

                string path = FreeName(dir);
                text = $"mkdir {path}";
                return fs => fs.CreateDirectory(path);
            }

            case < 72:
            {
                string victim = files[_rng.Next(files.Count)];
                foreach (string d in dirs)
                {
                    if (d != "/" && !_model.EnumerateDirectory(d).Any() && _rng.Next(3) == 0)
                    {
                        victim = d;
                    }
                }

                text = $"delete {victim}";
                return fs => fs.Delete(victim);
            }

            case < 88:
            {
                bool moveDir = dirs.Count > 1 && _rng.Next(3) == 0;
                string source = moveDir ? dirs[1 + _rng.Next(dirs.Count - 1)] : file;
                List<string> targets = dirs.Where(d => !(d + "/").StartsWith(source + "/", StringComparison.Ordinal)).ToList();
                string targetDir = targets[_rng.Next(targets.Count)];
                string destination = !moveDir && _rng.Next(3) == 0 && files.Count > 1
                    ? files[_rng.Next(files.Count)]
                    : FreeName(targetDir);
                if (destination == source)
                {
                    text = string.Empty;
                    return null;
                }

                text = $"rename {source} {destination}";
                return fs => fs.Rename(source, destination);
            }

            default:
            {
                string target = dirs.Count > 1 ? dirs[1 + _rng.Next(dirs.Count - 1)] : FreeName("/");
                int n = _rng.Next(20, 120);
                int seed = _rng.Next();
                text = $"bulk {target} {n}";
                return fs =>
                {
                    if (!fs.Exists(target))
                    {
                        fs.CreateDirectory(target);
                    }

                    for (int k = 0; k < n; k++)
                    {
                        string p = $"{target}/bulk entry {seed % 1000} number {k}.txt";
                        if (!fs.Exists(p))
                        {
                            Write(fs, p, FileMode.CreateNew, 0, k % 7 * 100, seed + k);
                        }
                    }
                };
            }
        }
    }

    private int Size() => _rng.Next(6) switch
    {
        0 => 0,
        1 => _rng.Next(1, 100),
        2 => 2048 * _rng.Next(1, 4),
        3 => (2048 * _rng.Next(1, 4)) + 1,
        _ => _rng.Next(_maxFile),
    };

    private string FreeName(string dir)
    {
        for (int attempt = 0; ; attempt++)
        {
            string name = Pool[_rng.Next(Pool.Length)];
            if (attempt > 5)
            {
                name = $"{name} {_rng.Next(1000)}";
            }

            string path = dir == "/" ? "/" + name : dir + "/" + name;
            if (!_model.Exists(path) && !_model.EnumerateDirectory(dir).Any(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase)))
            {
                return path;
            }
        }
    }

    private List<string> Directories()
    {
        var list = new List<string> { "/" };
        for (int i = 0; i < list.Count; i++)
        {
            foreach (UnixFileInfo e in _model.EnumerateDirectory(list[i]))
            {
                if (e.IsDirectory)
                {
                    list.Add(e.Path);
                }
            }
        }

        list.Sort(StringComparer.Ordinal);
        return list;
    }

    private List<string> Files()
    {
        var list = new List<string>();
        foreach (string d in Directories())
        {
            foreach (UnixFileInfo e in _model.EnumerateDirectory(d))
            {
                if (!e.IsDirectory)
                {
                    list.Add(e.Path);
                }
            }
        }

        list.Sort(StringComparer.Ordinal);
        return list;
    }

    private static void Write(IFileSystem fs, string path, FileMode mode, long offset, int length, int seed)
    {
        byte[] data = new byte[length];
        new Random(seed).NextBytes(data);
        using Stream s = fs.OpenFile(path, mode, mode == FileMode.Append ? FileAccess.Write : FileAccess.ReadWrite);
        if (offset >= 0)
        {
            // The model's write inside a file drops the bytes after it (see RandomOperationsTests); keep them by hand.
            byte[] tail = [];
            if (offset + length < s.Length)
            {
                tail = new byte[s.Length - offset - length];
                s.Position = offset + length;
                s.ReadExactly(tail);
            }

            s.Position = offset;
            s.Write(data);
            s.Write(tail);
        }
        else
        {
            s.Write(data);
        }
    }
}
