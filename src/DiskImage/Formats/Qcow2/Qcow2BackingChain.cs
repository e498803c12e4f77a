using DiskImage.Formats.Raw;
using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <summary>
/// Resolves and opens the files an image names: its backing file (following the open policy, the
/// depth limit and loop detection) and its external data file.
/// </summary>
internal static class Qcow2BackingChain
{
    internal static string CanonicalPath(string path)
    {
        string full = Path.GetFullPath(path);
        try
        {
            FileSystemInfo? target = File.ResolveLinkTarget(full, returnFinalTarget: true);
            if (target is not null)
            {
                full = target.FullName;
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return full;
    }

    /// <summary>The backing name joined to the overlay's directory as given (relative stays relative), like qemu's <c>full-backing-filename</c>.</summary>
    internal static string CombineBackingPath(string name, string? overlayFileName)
    {
        if (Path.IsPathRooted(name) || overlayFileName is null)
        {
            return name;
        }

        string? dir = Path.GetDirectoryName(overlayFileName);
        return string.IsNullOrEmpty(dir) ? name : Path.Combine(dir, name);
    }

    internal static string ResolveBackingPath(string name, string? overlayFileName)
    {
        if (Path.IsPathRooted(name))
        {
            return name;
        }

        string? dir = overlayFileName is null ? null : Path.GetDirectoryName(Path.GetFullPath(overlayFileName));
        return Path.GetFullPath(Path.Combine(dir ?? Directory.GetCurrentDirectory(), name));
    }

    /// <summary>Opens the external data file (read-only; the caller allowed it) named by the "DATA" extension.</summary>
    internal static FileBlockDevice OpenDataFile(Qcow2Header header, string? fileName, bool writable, Qcow2OpenContext context)
    {
        string? name = header.ExternalDataFileName;
        if (string.IsNullOrEmpty(name))
        {
            FormatError.Throw("qcow2 header", Qcow2Header.Field.IncompatibleFeatures, "the external data file bit is set but the image names no data file.");
        }

        if (writable)
        {
            FormatError.Unsupported($"Writing qcow2 images whose data lives in an external data file ('{name}') is not supported; open it read-only.");
        }

        if (name.StartsWith("json:", StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal))
        {
            FormatError.Unsupported($"The data file name '{name}' is not a plain file name.");
        }

        string path = ResolveBackingPath(name, fileName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The external data file '{name}' (resolved to '{path}') does not exist.", path);
        }

        if (!context.Visited.Add(CanonicalPath(path)))
        {
            FormatError.Throw("qcow2 header", -1, $"the external data file '{name}' is the image itself or one of its backing files.");
        }

        return FileBlockDevice.Open(path, writable: false);
    }

    internal static DiskImageFile OpenBacking(Qcow2Header header, string? fileName, DiskImageOpenOptions options, Qcow2OpenContext context)
    {
        string name = header.BackingFileName!;
        if (options.BackingFiles != BackingFilePolicy.Allow)
        {
            FormatError.Unsupported($"The qcow2 image names the backing file '{name}'; following backing files is denied by default. Set DiskImageOpenOptions.BackingFiles to BackingFilePolicy.Allow to open it.");
        }

        if (name.Length == 0 || name.StartsWith("json:", StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal))
        {
            FormatError.Unsupported($"The backing file name '{name}' is not a plain file name.");
        }

        if (context.Depth + 1 > options.MaxBackingChainDepth)
        {
            FormatError.Throw("qcow2 backing chain", -1, $"the backing chain is deeper than DiskImageOpenOptions.MaxBackingChainDepth ({options.MaxBackingChainDepth}).");
        }

        string path = ResolveBackingPath(name, fileName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The backing file '{name}' (resolved to '{path}') does not exist.", path);
        }

        string? format = header.BackingFormat;
        DiskImageFormat kind;
        if (format is null)
        {
            // No backing format recorded: detect by content, but a qcow2 magic is never read as raw.
            kind = DiskImageFile.DetectFormat(path);
        }
        else
        {
            kind = format switch
            {
                "qcow2" => DiskImageFormat.Qcow2,
                "raw" => DiskImageFormat.Raw,
                _ => throw new NotSupportedException($"The backing file '{name}' has format '{format}', which is not supported (only qcow2 and raw)."),
            };
            if (kind == DiskImageFormat.Raw && DiskImageFile.DetectFormat(path) == DiskImageFormat.Qcow2)
            {
                // Stated raw while the content is qcow2: honour the statement, as QEMU does (the format is explicit).
                kind = DiskImageFormat.Raw;
            }
        }

        var backingOptions = new DiskImageOpenOptions
        {
            Writable = false,
            BackingFiles = options.BackingFiles,
            AllowExternalDataFile = options.AllowExternalDataFile,
            MaxBackingChainDepth = options.MaxBackingChainDepth,
            Format = kind,
            Locking = options.Locking,
        };
        if (kind == DiskImageFormat.Raw)
        {
            string canonical = CanonicalPath(path);
            if (!context.Visited.Add(canonical))
            {
                FormatError.Throw("qcow2 backing chain", -1, $"the backing chain loops: '{path}' is reached twice.");
            }

            return RawImage.Open(path, backingOptions);
        }

        context.Depth++;
        try
        {
            return Qcow2Image.OpenFile(path, backingOptions, context);
        }
        finally
        {
            context.Depth--;
        }
    }
}
