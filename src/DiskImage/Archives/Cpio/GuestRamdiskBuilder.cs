using System.Text;
using DiskImage.FileSystems;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// Assembles an initramfs from a guest's own file system: chosen programs with their ELF interpreter and shared
/// libraries (resolved inside the guest as its <c>ld.so</c> resolves them), kernel modules with their
/// dependencies (the guest's <c>modules.dep</c>), whole guest directories, an <c>/init</c> and extra files, written
/// as a newc cpio archive through <see cref="Initramfs.Write"/> in the chosen compression. Paths are resolved
/// inside the guest (symbolic links included in the ramdisk as they are); nothing of the host is read but the
/// extra files that name it.
/// </summary>
public static class GuestRamdiskBuilder
{
    /// <summary>The guest directories searched for a binary given by name, in order.</summary>
    internal static readonly string[] SearchPath = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

    /// <summary>
    /// Writes the ramdisk <paramref name="options"/> describe, made from <paramref name="guestRoot"/>, to
    /// <paramref name="output"/>. Every entry is owned by root, has the same modification time
    /// (<see cref="GuestRamdiskOptions.ModificationTime"/>, else <c>SOURCE_DATE_EPOCH</c>, else 0) and the archive is
    /// sorted, so the same guest and options give the same bytes.
    /// </summary>
    /// <param name="guestRoot">The guest's root file system (read only; nothing is written to it).</param>
    /// <param name="options">What to include and how to compress.</param>
    /// <param name="output">The stream receiving the compressed archive (left open).</param>
    /// <param name="cancellationToken">Stops before the next entry or chunk of data; the output is then incomplete.</param>
    /// <exception cref="FileNotFoundException">A binary, library, module, tree, init or extra file named is not in the guest (or on the host).</exception>
    /// <exception cref="InvalidDataException">An ELF file or module index of the guest is malformed.</exception>
    /// <exception cref="NotSupportedException">The compression is read-only (xz, lzo).</exception>
    /// <exception cref="ArgumentException">Both <see cref="GuestRamdiskOptions.InitScript"/> and <see cref="GuestRamdiskOptions.InitGuestPath"/> are set, or a path is not absolute.</exception>
    public static Task BuildAsync(IFileSystem guestRoot, GuestRamdiskOptions options, Stream output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(guestRoot);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(output);
        if (options.InitScript is not null && options.InitGuestPath is not null)
        {
            throw new ArgumentException("Give either InitScript or InitGuestPath, not both.", nameof(options));
        }

        if (options.Compression is InitramfsCompression.Xz or InitramfsCompression.Lzo)
        {
            throw new NotSupportedException($"{options.Compression} is read only: no encoder writes what the kernel accepts.");
        }

        return Task.Run(() => Build(guestRoot, options, output, cancellationToken), cancellationToken);
    }

    private static void Build(IFileSystem guest, GuestRamdiskOptions options, Stream output, CancellationToken cancellationToken)
    {
        long mtime = options.ModificationTime is { } t ? Math.Max(0, t.ToUnixTimeSeconds()) : new CpioBuildOptions { Reproducible = true }.EffectiveClamp() ?? 0;
        GuestRamdiskTree tree = Assemble(guest, options, mtime, cancellationToken);
        var writeOptions = new InitramfsWriteOptions
        {
            Compression = options.Compression,
            CompressionLevel = options.CompressionLevel,
            Build = new CpioBuildOptions { Uid = 0, Gid = 0, ModificationTimeClamp = DateTimeOffset.FromUnixTimeSeconds(mtime) },
        };
        Initramfs.Write(output, tree, writeOptions, cancellationToken: cancellationToken);
    }

    /// <summary>Collects the entries of the ramdisk (everything but the writing).</summary>
    internal static GuestRamdiskTree Assemble(IFileSystem guest, GuestRamdiskOptions options, long mtime, CancellationToken cancellationToken)
    {
        var tree = new GuestRamdiskTree(guest, mtime);
        foreach (string dir in options.Trees)
        {
            tree.AddGuestTree(RequireAbsolute(dir), cancellationToken);
        }

        if (options.BaseLayout)
        {
            foreach (string dir in (string[])["dev", "proc", "sys", "run", "root"])
            {
                tree.EnsureDirectory(dir, (UnixFileMode)0x1ED);
            }

            tree.EnsureDirectory("tmp", (UnixFileMode)0x3FF);
            tree.EnsureDevice("dev/console", CpioEntryType.CharacterDevice, 5, 1, (UnixFileMode)0x180);
            tree.EnsureDevice("dev/null", CpioEntryType.CharacterDevice, 1, 3, (UnixFileMode)0x1B6);
        }

        var libraries = new GuestLibraryResolver(tree);
        foreach (string binary in options.Binaries)
        {
            libraries.AddProgram(FindBinary(tree, binary), cancellationToken);
        }

        if (options.Modules.Count > 0)
        {
            GuestModuleResolver modules = GuestModuleResolver.Open(tree, options.KernelVersion);
            foreach (string module in options.Modules)
            {
                modules.Add(module, cancellationToken);
            }

            modules.AddIndexFiles();
        }

        if (options.InitScript is { } script)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(script);
            tree.AddFile("init", (UnixFileMode)0x1ED, bytes.Length, () => new MemoryStream(bytes, writable: false));
            if (bytes.Length > 2 && bytes[0] == '#' && bytes[1] == '!' && GuestLibraryResolver.Shebang(bytes.AsSpan(2)) is { } interpreter)
            {
                libraries.AddProgram(interpreter, cancellationToken);
            }
        }
        else if (options.InitGuestPath is { } initPath)
        {
            libraries.AddProgram(RequireAbsolute(initPath), cancellationToken);
            (string resolved, UnixFileInfo info) = tree.TryResolve(initPath) ?? throw new FileNotFoundException($"'{initPath}' is not in the guest.", initPath);
            if (info.Type != UnixFileType.RegularFile)
            {
                throw new FileNotFoundException($"'{initPath}' is not a regular file in the guest.", initPath);
            }

            tree.AddFile("init", (UnixFileMode)0x1ED, info.Size, () => guest.OpenFile("/" + resolved, FileMode.Open, FileAccess.Read));
        }

        foreach (GuestRamdiskFile extra in options.ExtraFiles)
        {
            cancellationToken.ThrowIfCancellationRequested();
            AddExtra(tree, extra, cancellationToken);
        }

        return tree;
    }

    /// <summary>The guest path of a binary given by path or by name (searched in <see cref="SearchPath"/>).</summary>
    internal static string FindBinary(GuestRamdiskTree tree, string binary)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(binary);
        if (binary.Contains('/', StringComparison.Ordinal))
        {
            return RequireAbsolute(binary);
        }

        foreach (string dir in SearchPath)
        {
            string path = dir + "/" + binary;
            if (tree.TryResolve(path) is { } hit && hit.Info.Type == UnixFileType.RegularFile)
            {
                return path;
            }
        }

        throw new FileNotFoundException($"'{binary}' is not in the guest's {string.Join(':', SearchPath)}.", binary);
    }

    private static void AddExtra(GuestRamdiskTree tree, GuestRamdiskFile extra, CancellationToken cancellationToken)
    {
        string destination = extra.Destination.TrimStart('/');
        switch (extra.Source)
        {
            case GuestRamdiskFileSource.Content:
            {
                byte[] bytes = extra.Content.ToArray();
                tree.AddFile(destination, extra.Mode ?? (UnixFileMode)0x1A4, bytes.Length, () => new MemoryStream(bytes, writable: false));
                break;
            }

            case GuestRamdiskFileSource.Guest:
            {
                string source = extra.SourcePath!;
                (string resolved, UnixFileInfo info) = tree.TryResolve(source) ?? throw new FileNotFoundException($"'{source}' is not in the guest.", source);
                CopyGuest(tree, resolved, info, destination, extra.Mode, cancellationToken);
                break;
            }

            case GuestRamdiskFileSource.Host:
            {
                string source = extra.SourcePath!;
                if (Directory.Exists(source))
                {
                    foreach (CpioTreeItem item in new HostDirectoryTreeSource(source).EnumerateItems())
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        string rel = CpioArchiveBuilder.NormalizePath(item.Path);
                        tree.AddItem(rel.Length == 0 ? destination : destination + "/" + rel, item);
                    }
                }
                else if (File.Exists(source))
                {
                    UnixFileMode mode = extra.Mode ?? (OperatingSystem.IsWindows() ? (UnixFileMode)0x1A4 : File.GetUnixFileMode(source));
                    tree.AddFile(destination, mode, new FileInfo(source).Length, () => File.OpenRead(source));
                }
                else
                {
                    throw new FileNotFoundException($"'{source}' does not exist on the host.", source);
                }

                break;
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(extra), extra.Source, "Unknown source.");
        }
    }

    private static void CopyGuest(GuestRamdiskTree tree, string resolved, UnixFileInfo info, string destination, UnixFileMode? mode, CancellationToken cancellationToken)
    {
        IFileSystem guest = tree.Guest;
        string guestPath = "/" + resolved;
        switch (info.Type)
        {
            case UnixFileType.RegularFile:
                tree.AddFile(destination, mode ?? (info.Mode & (UnixFileMode)0xFFF), info.Size, () => guest.OpenFile(guestPath, FileMode.Open, FileAccess.Read));
                break;
            case UnixFileType.Directory:
                tree.EnsureDirectory(destination, info.Mode & (UnixFileMode)0xFFF);
                foreach (UnixFileInfo child in guest.EnumerateDirectory(resolved.Length == 0 ? "/" : guestPath))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    string childPath = resolved.Length == 0 ? child.Name : resolved + "/" + child.Name;
                    CopyGuest(tree, childPath, child, destination + "/" + child.Name, null, cancellationToken);
                }

                break;
            case UnixFileType.SymbolicLink:
                tree.AddItem(destination, new CpioTreeItem(destination, CpioEntryType.SymbolicLink) { LinkTarget = info.LinkTarget ?? guest.GetEntry(guestPath).LinkTarget });
                break;
            default:
                var type = info.Type switch
                {
                    UnixFileType.CharacterDevice => CpioEntryType.CharacterDevice,
                    UnixFileType.BlockDevice => CpioEntryType.BlockDevice,
                    UnixFileType.Fifo => CpioEntryType.Fifo,
                    _ => CpioEntryType.Socket,
                };
                tree.AddItem(destination, new CpioTreeItem(destination, type) { Mode = info.Mode & (UnixFileMode)0xFFF, RDevMajor = (uint)info.DeviceMajor, RDevMinor = (uint)info.DeviceMinor });
                break;
        }
    }

    private static string RequireAbsolute(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return path.StartsWith('/') ? path : throw new ArgumentException($"Guest path '{path}' is not absolute.", nameof(path));
    }
}
