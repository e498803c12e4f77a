using System.Globalization;
using System.Text;
using DiskImage.FileSystems;
using DiskImage.FileSystems.InMemory;

namespace DiskImage.Tests.FileSystems;

/// <summary>What a randomized operation sequence may do on the file system under test.</summary>
public sealed class RandomOperationOptions
{
    /// <summary>Whether the file system keeps nanoseconds (false: 128-byte ext4 inodes); generated times then have none.</summary>
    public bool NanosecondTimes { get; init; } = true;

    /// <summary>Smallest seconds value of a generated time.</summary>
    public long MinSeconds { get; init; } = int.MinValue;

    /// <summary>Largest seconds value of a generated time.</summary>
    public long MaxSeconds { get; init; } = int.MaxValue;

    /// <summary>Whether regular files get data (false: only empty files are created, never written).</summary>
    public bool FileData { get; init; } = true;

    /// <summary>Largest file a write may produce.</summary>
    public int MaxFileSize { get; init; } = 3 << 20;

    /// <summary>Bytes one inode's xattrs may take in one xattr block (a block minus its header).</summary>
    public int XattrBlockBudget { get; init; } = 4096 - 64;

    /// <summary>Whether "bulk" operations fill one directory with hundreds of entries (htree conversion, leaf splits).</summary>
    public bool LargeDirectories { get; init; } = true;

    /// <summary>How many entries bulk operations add to one directory at most (scaled to the block size).</summary>
    public int BulkEntries { get; init; } = 600;

    /// <summary>Largest device major number generated (ext4: 12 bits; XFS: 9 bits, as the kernel's mknod allows).</summary>
    public int MaxDeviceMajor { get; init; } = 0xFFF;

    /// <summary>Largest device minor number generated (ext4: 20 bits; XFS: 18 bits).</summary>
    public int MaxDeviceMinor { get; init; } = 0xFFFFF;

    /// <summary>Fewest operations in a sequence.</summary>
    public int MinOperations { get; init; } = 30;

    /// <summary>Most operations in a sequence.</summary>
    public int MaxOperations { get; init; } = 200;

    /// <summary>Paths the generator never touches (and never creates below), e.g. "/lost+found".</summary>
    public IReadOnlyList<string> Protected { get; init; } = ["/lost+found"];
}

/// <summary>The kinds of operation a <see cref="RandomOperation"/> performs.</summary>
public enum RandomOperationKind
{
    CreateFile,
    Overwrite,
    Append,
    Truncate,
    CreateDirectory,
    Delete,
    Rename,
    Symlink,
    HardLink,
    Device,
    Fifo,
    Socket,
    SetMode,
    SetOwner,
    SetTimes,
    SetXattr,
    RemoveXattr,
    BulkCreate,
    BulkDelete,
    OpenDirectoryAsFile,
}

/// <summary>
/// One operation of a randomized sequence, fully determined by its fields (data comes from a seed),
/// so the same operation can be applied to two file systems and printed to reproduce a failure.
/// </summary>
public sealed class RandomOperation
{
    public required RandomOperationKind Kind { get; init; }

    public required string Path { get; init; }

    /// <summary>Second path: rename destination, hard-link source, symlink target, xattr name.</summary>
    public string? Other { get; init; }

    public FileMode Mode { get; init; } = FileMode.CreateNew;

    public long Offset { get; init; }

    public long Length { get; init; }

    public int DataSeed { get; init; }

    public int Permissions { get; init; }

    public uint UserId { get; init; }

    public uint GroupId { get; init; }

    public int Major { get; init; }

    public int Minor { get; init; }

    public UnixFileType DeviceType { get; init; }

    public UnixTime? AccessTime { get; init; }

    public UnixTime? ModificationTime { get; init; }

    public byte[]? Value { get; init; }

    /// <summary>Names created or deleted by bulk operations, inside <see cref="Path"/>.</summary>
    public IReadOnlyList<string>? Names { get; init; }

    /// <summary>Applies the operation; returns a value to compare (RemoveXattr's result) or null.</summary>
    public object? Apply(IFileSystem fs)
    {
        switch (Kind)
        {
            case RandomOperationKind.CreateFile:
                using (Stream s = fs.OpenFile(Path, Mode, FileAccess.Write))
                {
                    WriteData(s, 0, Length, DataSeed);
                }

                return null;
            case RandomOperationKind.Overwrite:
                using (Stream s = fs.OpenFile(Path, FileMode.Open, FileAccess.ReadWrite))
                {
                    s.Seek(Offset, SeekOrigin.Begin);
                    WriteData(s, Offset, Length, DataSeed);
                }

                return null;
            case RandomOperationKind.Append:
                using (Stream s = fs.OpenFile(Path, FileMode.Append, FileAccess.Write))
                {
                    WriteData(s, s.Position, Length, DataSeed);
                }

                return null;
            case RandomOperationKind.Truncate:
                using (Stream s = fs.OpenFile(Path, FileMode.Open, FileAccess.Write))
                {
                    s.SetLength(Length);
                }

                return null;
            case RandomOperationKind.CreateDirectory:
                fs.CreateDirectory(Path, (UnixFileMode)Permissions);
                return null;
            case RandomOperationKind.Delete:
                fs.Delete(Path);
                return null;
            case RandomOperationKind.Rename:
                fs.Rename(Path, Other!);
                return null;
            case RandomOperationKind.Symlink:
                fs.CreateSymbolicLink(Path, Other!);
                return null;
            case RandomOperationKind.HardLink:
                fs.CreateHardLink(Path, Other!);
                return null;
            case RandomOperationKind.Device:
                fs.CreateDevice(Path, DeviceType, Major, Minor, (UnixFileMode)Permissions);
                return null;
            case RandomOperationKind.Fifo:
                fs.CreateFifo(Path, (UnixFileMode)Permissions);
                return null;
            case RandomOperationKind.Socket:
                fs.CreateSocket(Path, (UnixFileMode)Permissions);
                return null;
            case RandomOperationKind.SetMode:
                fs.SetMode(Path, (UnixFileMode)Permissions);
                return null;
            case RandomOperationKind.SetOwner:
                fs.SetOwner(Path, UserId, GroupId);
                return null;
            case RandomOperationKind.SetTimes:
                fs.SetTimes(Path, AccessTime, ModificationTime);
                return null;
            case RandomOperationKind.SetXattr:
                fs.SetXattr(Path, Other!, Value);
                return null;
            case RandomOperationKind.RemoveXattr:
                return fs.RemoveXattr(Path, Other!);
            case RandomOperationKind.BulkCreate:
                for (int i = 0; i < Names!.Count; i++)
                {
                    string p = FileSystemPath(Path, Names[i]);
                    if (Other is not null)
                    {
                        fs.CreateHardLink(p, Other);
                    }
                    else
                    {
                        fs.OpenFile(p, FileMode.CreateNew, FileAccess.Write).Dispose();
                    }
                }

                return null;
            case RandomOperationKind.BulkDelete:
                for (int i = 0; i < Names!.Count; i++)
                {
                    fs.Delete(FileSystemPath(Path, Names[i]));
                }

                return null;
            case RandomOperationKind.OpenDirectoryAsFile:
                fs.OpenFile(Path, FileMode.Open, FileAccess.Read).Dispose();
                return null;
            default:
                throw new InvalidOperationException(Kind.ToString());
        }
    }

    /// <summary>The bytes an operation writes at file offset <paramref name="offset"/> (a function of the seed only).</summary>
    public static void WriteData(Stream s, long offset, long length, int seed)
    {
        var rng = new Random(seed);
        byte[] buffer = new byte[(int)Math.Min(length, 1 << 18)];
        long done = 0;
        while (done < length)
        {
            // Uneven chunk sizes exercise partial-block writes and block-crossing writes.
            int n = (int)Math.Min(length - done, rng.Next(1, buffer.Length + 1));
            if (rng.Next(8) == 0)
            {
                buffer.AsSpan(0, n).Clear(); // zero runs: content that is all zeros must still read back
            }
            else
            {
                rng.NextBytes(buffer.AsSpan(0, n));
            }

            s.Write(buffer, 0, n);
            done += n;
        }

        _ = offset;
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(Kind).Append(' ').Append(Quote(Path));
        switch (Kind)
        {
            case RandomOperationKind.CreateFile:
                sb.Append(CultureInfo.InvariantCulture, $" mode={Mode} length={Length} seed={DataSeed}");
                break;
            case RandomOperationKind.Overwrite:
                sb.Append(CultureInfo.InvariantCulture, $" offset={Offset} length={Length} seed={DataSeed}");
                break;
            case RandomOperationKind.Append:
                sb.Append(CultureInfo.InvariantCulture, $" length={Length} seed={DataSeed}");
                break;
            case RandomOperationKind.Truncate:
                sb.Append(CultureInfo.InvariantCulture, $" length={Length}");
                break;
            case RandomOperationKind.CreateDirectory or RandomOperationKind.Fifo or RandomOperationKind.Socket or RandomOperationKind.SetMode:
                sb.Append(CultureInfo.InvariantCulture, $" mode=0{Convert.ToString(Permissions, 8)}");
                break;
            case RandomOperationKind.Rename or RandomOperationKind.Symlink or RandomOperationKind.HardLink or RandomOperationKind.RemoveXattr:
                sb.Append(' ').Append(Quote(Other!));
                break;
            case RandomOperationKind.Device:
                sb.Append(CultureInfo.InvariantCulture, $" {DeviceType} {Major}:{Minor} mode=0{Convert.ToString(Permissions, 8)}");
                break;
            case RandomOperationKind.SetOwner:
                sb.Append(CultureInfo.InvariantCulture, $" {UserId}:{GroupId}");
                break;
            case RandomOperationKind.SetTimes:
                sb.Append(CultureInfo.InvariantCulture, $" atime={AccessTime?.ToString() ?? "-"} mtime={ModificationTime?.ToString() ?? "-"}");
                break;
            case RandomOperationKind.SetXattr:
                sb.Append(' ').Append(Other).Append(CultureInfo.InvariantCulture, $" ({Value!.Length} bytes) {Convert.ToHexString(Value.AsSpan(0, Math.Min(Value.Length, 24)))}");
                break;
            case RandomOperationKind.BulkCreate or RandomOperationKind.BulkDelete:
                sb.Append(CultureInfo.InvariantCulture, $" {Names!.Count} names (first {Quote(Names.Count > 0 ? Names[0] : "")})");
                if (Other is not null)
                {
                    sb.Append(" hard links to ").Append(Quote(Other));
                }

                break;
        }

        return sb.ToString();
    }

    internal static string FileSystemPath(string dir, string name) => dir == "/" ? "/" + name : dir + "/" + name;

    private static string Quote(string s) => s.Length > 80
        ? $"\"{s[..40]}…{s[^20..]}\"({Encoding.UTF8.GetByteCount(s)} bytes)"
        : "\"" + s + "\"";
}

/// <summary>
/// Generates seeded random operation sequences over <see cref="IFileSystem"/> and applies each operation to
/// the file system under test and to an <see cref="InMemoryFileSystem"/> model. The next operation is chosen
/// from the model's state, so the sequence depends only on the seed (and the options).
/// </summary>
public sealed class RandomOperationRunner
{
    private static readonly string[] UserXattrNames = ["user.a", "user.comment", "user.mime_type", "user.a_rather_long_attribute_name_for_the_entry_table"];
    private static readonly string[] TrustedXattrNames = ["trusted.x", "trusted.overlay.opaque"];

    private readonly Random _rng;
    private readonly RandomOperationOptions _options;
    private readonly InMemoryFileSystem _model;
    private readonly List<string> _log = [];
    private readonly List<RandomOperation> _operations = [];
    private int _nameCounter;
    private int _bulkBudget;

    public RandomOperationRunner(int seed, InMemoryFileSystem model, RandomOperationOptions? options = null)
    {
        Seed = seed;
        _rng = new Random(seed);
        _model = model;
        _options = options ?? new RandomOperationOptions();
        _bulkBudget = _options.BulkEntries * 3;
    }

    public int Seed { get; }

    /// <summary>The operations applied so far, with their outcome (for failure messages).</summary>
    public IReadOnlyList<string> Log => _log;

    /// <summary>The operations generated so far (to replay or minimize a failing sequence).</summary>
    public IReadOnlyList<RandomOperation> Operations => _operations;

    /// <summary>Log text for an assertion message.</summary>
    public string Describe() => $"seed {Seed}, {_log.Count} operations:\n  " + string.Join("\n  ", _log);

    /// <summary>
    /// Copies the tree of <paramref name="source"/> (as its reader sees it) into an empty model: types, modes,
    /// owners, mtimes, xattrs, link targets, device numbers, content and hard links.
    /// </summary>
    public static void Mirror(IFileSystem source, InMemoryFileSystem model)
    {
        UnixFileInfo root = source.GetEntry("/");
        CopyAttributes(source, model, root, "/");
        var links = new Dictionary<long, string>();
        MirrorDirectory(source, model, "/", links);
        model.SetTimes("/", root.AccessTime, root.ModificationTime);
    }

    /// <summary>Generates and applies a whole sequence (its length drawn from the options).</summary>
    public void Run(IFileSystem target)
    {
        int count = _rng.Next(_options.MinOperations, _options.MaxOperations + 1);
        for (int i = 0; i < count; i++)
        {
            Step(target);
        }
    }

    /// <summary>Generates one operation from the model's state and applies it to both file systems.</summary>
    public void Step(IFileSystem target)
    {
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        RandomOperation op = Next();
        _operations.Add(op);
        long t1 = System.Diagnostics.Stopwatch.GetTimestamp();
        Exception? modelError = null, targetError = null;
        object? modelResult = null, targetResult = null;
        try
        {
            modelResult = op.Apply(_model);
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException or NotSupportedException)
        {
            modelError = e;
        }

        long t2 = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            targetResult = op.Apply(target);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            targetError = e;
        }

        long t3 = System.Diagnostics.Stopwatch.GetTimestamp();
        double genMs = System.Diagnostics.Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds;
        double modelMs = System.Diagnostics.Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds;
        double targetMs = System.Diagnostics.Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds;
        string timing = genMs + modelMs + targetMs > 100 ? string.Create(CultureInfo.InvariantCulture, $" [generate {genMs:F0} ms, model {modelMs:F0} ms, target {targetMs:F0} ms]") : string.Empty;
        _log.Add($"[{_log.Count}] {op}" + (modelError is null ? string.Empty : $" → {modelError.GetType().Name}") + timing);
        if (modelError?.GetType() != targetError?.GetType())
        {
            Assert.Fail($"Operation {op} threw {Name(targetError)} on the file system under test but {Name(modelError)} on the model.\n" +
                $"{targetError}\n{Describe()}");
        }

        if (!Equals(modelResult, targetResult))
        {
            Assert.Fail($"Operation {op} returned {targetResult} on the file system under test but {modelResult} on the model.\n{Describe()}");
        }
    }

    /// <summary>
    /// Applies a fixed list of operations to both file systems (no generation); returns the index of the first
    /// operation whose outcome differs (exception type or result), or -1.
    /// </summary>
    public static int Replay(IReadOnlyList<RandomOperation> operations, IFileSystem target, InMemoryFileSystem model)
    {
        for (int i = 0; i < operations.Count; i++)
        {
            object? a = null, b = null;
            Exception? ea = null, eb = null;
            try
            {
                a = operations[i].Apply(model);
            }
            catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException or NotSupportedException)
            {
                ea = e;
            }

            try
            {
                b = operations[i].Apply(target);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                eb = e;
            }

            if (ea?.GetType() != eb?.GetType() || !Equals(a, b))
            {
                return i;
            }
        }

        return -1;
    }

    private static string Name(Exception? e) => e is null ? "nothing" : e.GetType().FullName!;

    private RandomOperation Next()
    {
        var dirs = new List<string>();
        var entries = new List<UnixFileInfo>();
        Walk("/", dirs, entries);
        List<UnixFileInfo> files = entries.FindAll(e => e.Type == UnixFileType.RegularFile);

        while (true)
        {
            int pick = _rng.Next(1000);
            RandomOperation? op = pick switch
            {
                < 130 => CreateFile(dirs, files),
                < 190 => _options.FileData && files.Count > 0 ? Overwrite(files) : null,
                < 230 => _options.FileData && files.Count > 0 ? Append(files) : null,
                < 270 => _options.FileData && files.Count > 0 ? Truncate(files) : null,
                < 350 => new RandomOperation { Kind = RandomOperationKind.CreateDirectory, Path = NewPath(dirs), Permissions = Permissions(0x1ED) },
                < 420 => entries.Count > 0 ? Delete(entries, dirs) : null,
                < 500 => entries.Count > 0 ? Rename(entries, dirs) : null,
                < 550 => new RandomOperation { Kind = RandomOperationKind.Symlink, Path = NewPath(dirs), Other = LinkTarget(entries) },
                < 590 => entries.Count > 0 ? HardLink(entries, dirs) : null,
                < 610 => Device(dirs),
                < 620 => new RandomOperation { Kind = RandomOperationKind.Fifo, Path = NewPath(dirs), Permissions = Permissions(0x1A4) },
                < 630 => new RandomOperation { Kind = RandomOperationKind.Socket, Path = NewPath(dirs), Permissions = Permissions(0x1ED) },
                < 670 => entries.Count > 0 ? new RandomOperation { Kind = RandomOperationKind.SetMode, Path = Any(entries).Path, Permissions = _rng.Next(0x1000) } : null,
                < 710 => entries.Count > 0 || _rng.Next(4) == 0 ? SetOwner(entries) : null,
                < 760 => SetTimes(entries),
                < 860 => SetXattr(entries),
                < 900 => RemoveXattr(entries),
                < 930 => _options.LargeDirectories ? BulkCreate(dirs, files) : null,
                < 950 => BulkDelete(dirs),
                < 960 => new RandomOperation { Kind = RandomOperationKind.OpenDirectoryAsFile, Path = Any(dirs) },
                _ => Provoke(dirs, entries),
            };
            if (op is not null)
            {
                return op;
            }
        }
    }

    private void Walk(string dir, List<string> dirs, List<UnixFileInfo> entries)
    {
        dirs.Add(dir);
        foreach (UnixFileInfo e in _model.EnumerateDirectory(dir))
        {
            if (IsProtected(e.Path))
            {
                continue;
            }

            entries.Add(e);
            if (e.Type == UnixFileType.Directory)
            {
                Walk(e.Path, dirs, entries);
            }
        }
    }

    private bool IsProtected(string path)
    {
        foreach (string p in _options.Protected)
        {
            if (path == p || path.StartsWith(p + "/", StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private T Any<T>(List<T> list) => list[_rng.Next(list.Count)];

    private string NewPath(List<string> dirs, bool allowTooLong = true) => RandomOperation.FileSystemPath(Any(dirs), NewName(allowTooLong));

    private string NewName(bool allowTooLong = true)
    {
        int n = ++_nameCounter;
        return _rng.Next(100) switch
        {
            < 70 => "n" + n.ToString(CultureInfo.InvariantCulture),
            < 80 => $"with space {n}",
            < 87 => $"ünï-日本-{n}",
            < 95 => Pad($"long{n}-", _rng.Next(60, 200)),
            < 99 => Pad($"max{n}-", 255),
            _ when allowTooLong => Pad($"toolong{n}-", 256), // one byte over the limit: PathTooLongException on both
            _ => Pad($"max{n}-", 255),
        };
    }

    private static string Pad(string prefix, int bytes) => prefix + new string('x', bytes - Encoding.UTF8.GetByteCount(prefix));

    private int Permissions(int usual) => _rng.Next(4) == 0 ? _rng.Next(0x1000) : usual;

    private long FileLength(long max)
    {
        long n = _rng.Next(100) switch
        {
            < 10 => 0,
            < 60 => _rng.Next(1, 16 << 10),
            < 92 => _rng.Next(16 << 10, 256 << 10),
            _ => _rng.Next(256 << 10, Math.Max((256 << 10) + 1, _options.MaxFileSize)),
        };
        return Math.Min(n, max);
    }

    private RandomOperation CreateFile(List<string> dirs, List<UnixFileInfo> files)
    {
        bool replace = files.Count > 0 && _rng.Next(5) == 0;
        return new RandomOperation
        {
            Kind = RandomOperationKind.CreateFile,
            // InMemoryFileSystem.OpenFile does not check the name length of a new file, so no over-long names here.
            Path = replace ? Any(files).Path : NewPath(dirs, allowTooLong: false),
            Mode = replace ? (_rng.Next(2) == 0 ? FileMode.Create : FileMode.Truncate) : FileMode.CreateNew,
            Length = _options.FileData ? FileLength(_options.MaxFileSize) : 0,
            DataSeed = _rng.Next(),
        };
    }

    private RandomOperation Overwrite(List<UnixFileInfo> files)
    {
        UnixFileInfo f = Any(files);
        long offset = _rng.Next(4) switch
        {
            0 => 0,
            1 => f.Size == 0 ? 0 : _rng.NextInt64(f.Size), // inside
            2 => f.Size + _rng.Next(1, 1 << 20), // past the end: a hole
            _ => _rng.NextInt64(Math.Max(1, _options.MaxFileSize - (64 << 10))), // anywhere
        };
        offset = Math.Min(offset, _options.MaxFileSize - 1);
        long length = Math.Min(FileLength(_options.MaxFileSize), _options.MaxFileSize - offset);
        return new RandomOperation { Kind = RandomOperationKind.Overwrite, Path = f.Path, Offset = offset, Length = length, DataSeed = _rng.Next() };
    }

    private RandomOperation Append(List<UnixFileInfo> files)
    {
        UnixFileInfo f = Any(files);
        long length = Math.Max(0, Math.Min(FileLength(_options.MaxFileSize), _options.MaxFileSize - f.Size));
        return new RandomOperation { Kind = RandomOperationKind.Append, Path = f.Path, Length = length, DataSeed = _rng.Next() };
    }

    private RandomOperation Truncate(List<UnixFileInfo> files)
    {
        UnixFileInfo f = Any(files);
        long length = _rng.Next(4) switch
        {
            0 => 0,
            1 => f.Size == 0 ? 0 : _rng.NextInt64(f.Size), // shrink
            2 => f.Size + _rng.Next(1, 3 << 20), // grow sparse
            _ => f.Size == 0 ? 1 : (f.Size & ~4095L) + (_rng.Next(2) == 0 ? 0 : 4096), // block boundaries
        };
        return new RandomOperation { Kind = RandomOperationKind.Truncate, Path = f.Path, Length = Math.Min(length, _options.MaxFileSize) };
    }

    private RandomOperation Delete(List<UnixFileInfo> entries, List<string> dirs)
    {
        // Prefer leaves: deleting a non-empty directory is an (allowed) error case but should not dominate.
        UnixFileInfo e = Any(entries);
        if (e.Type == UnixFileType.Directory && _rng.Next(3) != 0)
        {
            string? empty = dirs.Find(d => d != "/" && !_model.EnumerateDirectory(d).Any());
            if (empty is not null)
            {
                return new RandomOperation { Kind = RandomOperationKind.Delete, Path = empty };
            }
        }

        return new RandomOperation { Kind = RandomOperationKind.Delete, Path = e.Path };
    }

    private RandomOperation Rename(List<UnixFileInfo> entries, List<string> dirs)
    {
        UnixFileInfo src = Any(entries);
        string dst = _rng.Next(10) switch
        {
            < 5 => NewPath(dirs),
            < 9 => Any(entries).Path, // replace an existing entry (or a type/emptiness error)
            _ => src.Type == UnixFileType.Directory ? RandomOperation.FileSystemPath(src.Path, NewName()) : NewPath(dirs), // into itself
        };
        return new RandomOperation { Kind = RandomOperationKind.Rename, Path = src.Path, Other = dst };
    }

    private string LinkTarget(List<UnixFileInfo> entries)
    {
        return _rng.Next(6) switch
        {
            0 when entries.Count > 0 => Any(entries).Path, // absolute, to something real
            1 => "../" + NewName(),
            2 => Pad("/long/target/", _rng.Next(61, 300)), // slow symlink (over 60 bytes)
            3 => Pad("/longer/target/ü/", _rng.Next(300, 1000)),
            4 => new string('t', 60), // exactly the fast-symlink limit
            _ => "t" + _rng.Next(1000).ToString(CultureInfo.InvariantCulture),
        };
    }

    private RandomOperation HardLink(List<UnixFileInfo> entries, List<string> dirs)
    {
        UnixFileInfo src = Any(entries); // a directory gives IOException on both
        return new RandomOperation { Kind = RandomOperationKind.HardLink, Path = NewPath(dirs), Other = src.Path };
    }

    private RandomOperation Device(List<string> dirs)
    {
        bool small = _rng.Next(2) == 0;
        return new RandomOperation
        {
            Kind = RandomOperationKind.Device,
            Path = NewPath(dirs),
            DeviceType = _rng.Next(2) == 0 ? UnixFileType.CharacterDevice : UnixFileType.BlockDevice,
            Major = small ? _rng.Next(256) : _rng.Next(_options.MaxDeviceMajor + 1),
            Minor = small ? _rng.Next(256) : _rng.Next(_options.MaxDeviceMinor + 1),
            Permissions = Permissions(0x1B0),
        };
    }

    private RandomOperation SetOwner(List<UnixFileInfo> entries)
    {
        uint[] ids = [0, 1, 100, 1000, 65534, 65535, 65536, 70000, 4_000_000_000];
        return new RandomOperation
        {
            Kind = RandomOperationKind.SetOwner,
            Path = entries.Count > 0 && _rng.Next(8) != 0 ? Any(entries).Path : "/",
            UserId = ids[_rng.Next(ids.Length)],
            GroupId = ids[_rng.Next(ids.Length)],
        };
    }

    private RandomOperation SetTimes(List<UnixFileInfo> entries)
    {
        string path = entries.Count > 0 && _rng.Next(8) != 0 ? Any(entries).Path : "/";
        int which = _rng.Next(5);
        return new RandomOperation
        {
            Kind = RandomOperationKind.SetTimes,
            Path = path,
            AccessTime = which == 0 ? null : RandomTime(),
            ModificationTime = which == 1 ? null : RandomTime(),
        };
    }

    /// <summary>A time outside a day around now, so that times set by the file system itself can be told apart.</summary>
    public UnixTime RandomTime()
    {
        long now = UnixTime.Now.Seconds;
        long s;
        do
        {
            s = _rng.Next(6) switch
            {
                0 => 0,
                1 => _rng.NextInt64(Math.Max(_options.MinSeconds, -1_000_000_000), 0), // before 1970
                2 => int.MaxValue - _rng.Next(0, 1000), // 2038 boundary
                3 => _rng.NextInt64(int.MaxValue, Math.Max((long)int.MaxValue + 1, _options.MaxSeconds)), // after 2038 where possible
                _ => _rng.NextInt64(0, int.MaxValue),
            };
            s = Math.Clamp(s, _options.MinSeconds, _options.MaxSeconds);
        }
        while (Math.Abs(s - now) < 86400);

        int ns = _options.NanosecondTimes ? _rng.Next(4) switch { 0 => 0, 1 => 999_999_999, _ => _rng.Next(1_000_000_000) } : 0;
        return new UnixTime(s, ns);
    }

    private RandomOperation? SetXattr(List<UnixFileInfo> entries)
    {
        UnixFileInfo? e = entries.Count > 0 && _rng.Next(8) != 0 ? Any(entries) : null;
        string path = e?.Path ?? "/";
        UnixFileType type = e?.Type ?? UnixFileType.Directory;
        bool fileOrDir = type is UnixFileType.RegularFile or UnixFileType.Directory;
        string name;
        byte[] value;
        int kind = _rng.Next(10);
        if (kind < 4 && fileOrDir)
        {
            name = UserXattrNames[_rng.Next(UserXattrNames.Length)];
            value = RandomValue();
        }
        else if (kind < 5)
        {
            name = TrustedXattrNames[_rng.Next(TrustedXattrNames.Length)];
            value = RandomValue();
        }
        else if (kind < 7)
        {
            name = "security.selinux";
            string[] labels = ["system_u:object_r:etc_t:s0", "system_u:object_r:bin_t:s0", "unconfined_u:object_r:user_home_t:s0:c0.c1023"];
            value = Encoding.ASCII.GetBytes(labels[_rng.Next(labels.Length)] + "\0");
        }
        else if (fileOrDir)
        {
            bool dflt = type == UnixFileType.Directory && _rng.Next(2) == 0;
            name = dflt ? "system.posix_acl_default" : "system.posix_acl_access";
            value = RandomAcl();
        }
        else
        {
            return null;
        }

        // Keep one inode's xattrs within one xattr block (the generator does not test ENOSPC).
        IReadOnlyDictionary<string, byte[]> existing = _model.Exists(path) ? _model.GetXattrs(path) : new Dictionary<string, byte[]>();
        int need = XattrCost(name, value.Length);
        foreach ((string n, byte[] v) in existing)
        {
            if (n != name)
            {
                need += XattrCost(n, v.Length);
            }
        }

        if (need > _options.XattrBlockBudget)
        {
            return null;
        }

        return new RandomOperation { Kind = RandomOperationKind.SetXattr, Path = path, Other = name, Value = value };
    }

    private static int XattrCost(string name, int valueLength) => 16 + ((Encoding.UTF8.GetByteCount(name) + 3) & ~3) + ((valueLength + 3) & ~3);

    private byte[] RandomValue()
    {
        int length = _rng.Next(10) switch
        {
            0 => 0,
            < 6 => _rng.Next(1, 32),
            < 8 => _rng.Next(32, 200),
            _ => _rng.Next(400, Math.Max(401, Math.Min(2000, _options.XattrBlockBudget - 200))), // spills out of the inode
        };
        byte[] v = new byte[length];
        _rng.NextBytes(v);
        return v;
    }

    /// <summary>A valid POSIX ACL in the standard xattr encoding (version 2, entries sorted by tag then id).</summary>
    private byte[] RandomAcl()
    {
        const uint Undefined = uint.MaxValue;
        var entries = new List<(ushort Tag, ushort Perm, uint Id)> { (0x01, (ushort)_rng.Next(8), Undefined) };
        int users = _rng.Next(3) == 0 ? 0 : _rng.Next(1, 4);
        int groups = _rng.Next(3) == 0 ? 0 : _rng.Next(0, 3);
        foreach (uint id in Ids(users))
        {
            entries.Add((0x02, (ushort)_rng.Next(8), id));
        }

        entries.Add((0x04, (ushort)_rng.Next(8), Undefined));
        foreach (uint id in Ids(groups))
        {
            entries.Add((0x08, (ushort)_rng.Next(8), id));
        }

        if (users + groups > 0)
        {
            entries.Add((0x10, (ushort)_rng.Next(8), Undefined));
        }

        entries.Add((0x20, (ushort)_rng.Next(8), Undefined));
        byte[] value = new byte[4 + (8 * entries.Count)];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(value, 2);
        for (int i = 0; i < entries.Count; i++)
        {
            Span<byte> e = value.AsSpan(4 + (8 * i), 8);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(e, entries[i].Tag);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(e[2..], entries[i].Perm);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(e[4..], entries[i].Id);
        }

        return value;

        IEnumerable<uint> Ids(int count)
        {
            var set = new SortedSet<uint>();
            while (set.Count < count)
            {
                set.Add((uint)_rng.Next(0, 70000));
            }

            return set;
        }
    }

    private RandomOperation? RemoveXattr(List<UnixFileInfo> entries)
    {
        if (entries.Count == 0)
        {
            return null;
        }

        UnixFileInfo e = Any(entries);
        IReadOnlyDictionary<string, byte[]> x = _model.GetXattrs(e.Path);
        string name = x.Count > 0 && _rng.Next(5) != 0 ? x.Keys.ElementAt(_rng.Next(x.Count)) : "user.absent";
        return new RandomOperation { Kind = RandomOperationKind.RemoveXattr, Path = e.Path, Other = name };
    }

    private RandomOperation? BulkCreate(List<string> dirs, List<UnixFileInfo> files)
    {
        if (_bulkBudget < 50)
        {
            return null;
        }

        int count = Math.Min(_bulkBudget, _rng.Next(_options.BulkEntries / 4, _options.BulkEntries + 1));
        _bulkBudget -= count;
        string dir = Any(dirs);
        int nameLength = _rng.Next(3) switch { 0 => 12, 1 => 40, _ => _rng.Next(60, 200) };
        var names = new List<string>(count);
        string stem = "b" + (++_nameCounter).ToString(CultureInfo.InvariantCulture) + "-";
        for (int i = 0; i < count; i++)
        {
            string name = stem + i.ToString(CultureInfo.InvariantCulture) + "-";
            names.Add(Pad(name, Math.Max(Encoding.UTF8.GetByteCount(name), nameLength - _rng.Next(8))));
        }

        // Half of the bulk operations make hard links to one file: many names, few inodes.
        string? linkTo = files.Count > 0 && _rng.Next(2) == 0 ? Any(files).Path : null;
        return new RandomOperation { Kind = RandomOperationKind.BulkCreate, Path = dir, Names = names, Other = linkTo };
    }

    private RandomOperation? BulkDelete(List<string> dirs)
    {
        string? big = null;
        List<UnixFileInfo>? children = null;
        foreach (string d in dirs)
        {
            var c = _model.EnumerateDirectory(d).Where(e => e.Type != UnixFileType.Directory && !IsProtected(e.Path)).ToList();
            if (c.Count >= 40 && (children is null || _rng.Next(2) == 0))
            {
                big = d;
                children = c;
            }
        }

        if (big is null)
        {
            return null;
        }

        // Delete a random share: whole leaf blocks empty out, others keep a few entries.
        double share = _rng.NextDouble();
        var names = children!.Where(_ => _rng.NextDouble() < share).Select(e => e.Name).ToList();
        return new RandomOperation { Kind = RandomOperationKind.BulkDelete, Path = big, Names = names };
    }

    private RandomOperation Provoke(List<string> dirs, List<UnixFileInfo> entries)
    {
        // Operations that must fail the same way on both file systems.
        return _rng.Next(6) switch
        {
            0 when entries.Count > 0 => new RandomOperation { Kind = RandomOperationKind.CreateDirectory, Path = Any(entries).Path, Permissions = 0x1ED },
            1 => new RandomOperation { Kind = RandomOperationKind.CreateFile, Path = RandomOperation.FileSystemPath(NewPath(dirs), "child"), Length = 1, DataSeed = 1 },
            2 when entries.Count > 0 => new RandomOperation { Kind = RandomOperationKind.CreateFile, Path = Any(entries).Path, Mode = FileMode.CreateNew, Length = 1, DataSeed = 1 },
            3 => new RandomOperation { Kind = RandomOperationKind.Delete, Path = NewPath(dirs) },
            4 => new RandomOperation { Kind = RandomOperationKind.Rename, Path = NewPath(dirs), Other = NewPath(dirs) },
            _ => new RandomOperation { Kind = RandomOperationKind.Delete, Path = "/" },
        };
    }

    private static void MirrorDirectory(IFileSystem source, InMemoryFileSystem model, string dir, Dictionary<long, string> links)
    {
        foreach (UnixFileInfo e in source.EnumerateDirectory(dir))
        {
            if (e.Type != UnixFileType.Directory && e.LinkCount > 1 && links.TryGetValue(e.Inode, out string? first))
            {
                model.CreateHardLink(e.Path, first);
                continue;
            }

            switch (e.Type)
            {
                case UnixFileType.Directory:
                    model.CreateDirectory(e.Path, e.Mode);
                    MirrorDirectory(source, model, e.Path, links);
                    break;
                case UnixFileType.RegularFile:
                    using (Stream from = source.OpenFile(e.Path, FileMode.Open, FileAccess.Read))
                    using (Stream to = model.OpenFile(e.Path, FileMode.CreateNew, FileAccess.Write))
                    {
                        from.CopyTo(to);
                    }

                    break;
                case UnixFileType.SymbolicLink:
                    model.CreateSymbolicLink(e.Path, e.LinkTarget!);
                    break;
                case UnixFileType.CharacterDevice or UnixFileType.BlockDevice:
                    model.CreateDevice(e.Path, e.Type, e.DeviceMajor, e.DeviceMinor, e.Mode);
                    break;
                case UnixFileType.Fifo:
                    model.CreateFifo(e.Path, e.Mode);
                    break;
                case UnixFileType.Socket:
                    model.CreateSocket(e.Path, e.Mode);
                    break;
            }

            links[e.Inode] = e.Path;
            CopyAttributes(source, model, e, e.Path);
            if (e.Type == UnixFileType.Directory)
            {
                model.SetTimes(e.Path, e.AccessTime, e.ModificationTime);
            }
        }
    }

    private static void CopyAttributes(IFileSystem source, InMemoryFileSystem model, UnixFileInfo e, string path)
    {
        model.SetMode(path, e.Mode);
        model.SetOwner(path, e.UserId, e.GroupId);
        foreach ((string name, byte[] value) in source.GetXattrs(path))
        {
            model.SetXattr(path, name, value);
        }

        model.SetTimes(path, e.AccessTime, e.ModificationTime);
    }
}
