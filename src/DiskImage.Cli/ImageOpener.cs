using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

namespace DiskImage.Cli;

/// <summary>Opens images for the verbs with qemu-img's error wording, and names backing files the way qemu-img shows them.</summary>
internal static class ImageOpener
{
    /// <summary>Maps a <c>-f</c>/<c>-F</c>/<c>-O</c> format name; null stays null (detect).</summary>
    public static DiskImageFormat? ParseFormat(string? name, string unknownMessagePrefix = "Unknown file format") => name switch
    {
        null => null,
        "qcow2" => DiskImageFormat.Qcow2,
        "raw" => DiskImageFormat.Raw,
        "luks" => DiskImageFormat.Luks,
        _ => throw new CliException($"{unknownMessagePrefix} '{name}'"),
    };

    /// <summary>
    /// Refuses a cache mode qemu-img does not know (<c>-t</c>/<c>-T</c>): none (off), writeback,
    /// writethrough, directsync, unsafe. The mode itself changes nothing in diskimage.
    /// </summary>
    public static void CheckCacheMode(string mode, string message, int exitCode = 1)
    {
        if (mode is not ("none" or "off" or "writeback" or "writethrough" or "directsync" or "unsafe"))
        {
            throw new CliException($"{message}: {mode}", exitCode);
        }
    }

    /// <summary>The format's qemu name.</summary>
    public static string FormatName(DiskImageFormat format) => format switch
    {
        DiskImageFormat.Qcow2 => "qcow2",
        DiskImageFormat.Raw => "raw",
        _ => format.ToString().ToLowerInvariant(),
    };

    /// <summary>
    /// Takes, for a moment, the locks a writable open of <paramref name="path"/> takes. A verb that first
    /// opens an image read-only to look before it changes anything (check -r, resize) calls this first,
    /// so that an image another process holds is refused in qemu-img's words, as its writable open is.
    /// </summary>
    /// <exception cref="CliException">Another process holds the image (exit code 1).</exception>
    public static void RequireWriteLock(string path, string? format)
    {
        bool qcow2 = format is null ? IsQcow2(path) : format == "qcow2";
        try
        {
            FileBlockDevice.Open(path, writable: true, qcow2 ? ImageLockRequest.ForQcow2(true, metadataOnly: false, ImageLocking.Enabled) : ImageLockRequest.ForFile(true, metadataOnly: false, ImageLocking.Enabled)).Dispose();
        }
        catch (IOException e) when (e.Message.StartsWith("Failed to get", StringComparison.Ordinal))
        {
            throw new CliException($"Could not open '{path}': {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not a lock conflict (missing file, permissions...): the open that follows reports it.
        }
    }

    private static bool IsQcow2(string path)
    {
        try
        {
            return DiskImageFile.DetectFormatName(path) == "qcow2";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or InvalidDataException)
        {
            return false;
        }
    }

    /// <summary>
    /// Opens <paramref name="path"/>. Backing files are followed unless <paramref name="followBacking"/>
    /// is false (the CLI's <c>--no-backing</c>); the library's default is to refuse them.
    /// </summary>
    /// <param name="path">The image file.</param>
    /// <param name="format">The <c>-f</c> format name, or null to detect.</param>
    /// <param name="writable">Open for writing.</param>
    /// <param name="followBacking">Open the backing chain.</param>
    /// <param name="exitCode">The exit code of the error when the open fails.</param>
    /// <param name="metadataOnly">
    /// Open read-only for the header only, without the backing chain (<c>info</c> without
    /// <c>--backing-chain</c>, which qemu-img answers from the top image alone even when its backing
    /// file is missing); the image's content is then not available.
    /// </param>
    /// <param name="forceShare">
    /// <c>-U</c>/<c>--force-share</c>: take no lock that keeps others from writing, and open even
    /// while another process writes the image (read-only opens only, as in qemu-img).
    /// </param>
    /// <exception cref="CliException">The image cannot be opened (<paramref name="exitCode"/>).</exception>
    public static DiskImageFile Open(string path, string? format, bool writable, bool followBacking, int exitCode = 1, bool metadataOnly = false, bool forceShare = false)
    {
        if (forceShare && writable)
        {
            throw new CliException($"Could not open '{path}': force-share=on can only be used with read-only images", exitCode);
        }

        // --image-opts: the driver and key-secret named for this file.
        (string? driver, ReadOnlyMemory<byte>? passphrase) = ImageSecrets.ForImage(path);
        format ??= driver;
        DiskImageFormat? parsed;
        try
        {
            parsed = ParseFormat(format, "Unknown driver");
        }
        catch (CliException e)
        {
            throw new CliException($"Could not open '{path}': {e.Message}", exitCode);
        }

        var options = new DiskImageOpenOptions
        {
            Writable = writable,
            Format = parsed,
            BackingFiles = followBacking ? BackingFilePolicy.Allow : BackingFilePolicy.Deny,
            AllowExternalDataFile = (followBacking || metadataOnly) && !writable,
            MetadataOnly = metadataOnly && !writable,
            Locking = forceShare ? ImageLocking.ForceShare : ImageLocking.Enabled,
            Passphrase = passphrase,
        };
        try
        {
            DiskImageFile image = DiskImageFile.Open(path, options);
            if (image is Formats.Luks.LuksImage && passphrase is null && !options.MetadataOnly)
            {
                image.Dispose();
                throw new CliException($"Could not open '{path}': Parameter 'key-secret' is required for cipher", exitCode);
            }

            return image;
        }
        catch (NotSupportedException e) when (e.Message.Contains("DiskImageOpenOptions.Passphrase", StringComparison.Ordinal))
        {
            throw new CliException($"Could not open '{path}': Parameter 'encrypt.key-secret' is required for cipher", exitCode);
        }
        catch (FileNotFoundException e) when (e.FileName is { } missing && !SameFile(missing, path))
        {
            // The image opened but a file of its backing chain is missing.
            string shown = Path.IsPathRooted(path) ? missing : Path.GetRelativePath(Environment.CurrentDirectory, missing);
            throw new CliException($"Could not open '{path}': Could not open backing file: Could not open '{shown}': No such file or directory", exitCode);
        }
        catch (UnsupportedImageFormatException e) when (e.FileName is null || SameFile(e.FileName, path))
        {
            throw new CliException($"Could not open '{path}': {ForeignFormatMessage(e)}", exitCode);
        }
        catch (UnsupportedImageFormatException e)
        {
            // A backing file without a recorded format: -f applies to the top image only.
            throw new CliException($"Could not open '{path}': Could not open backing file: Could not open '{e.FileName}': Image format '{e.FormatName}' is not supported by diskimage", exitCode);
        }
        catch (Exception e) when (IsOpenFailure(e))
        {
            throw new CliException(e is FileNotFoundException or DirectoryNotFoundException
                ? $"Could not open '{path}': Could not open '{path}': {Describe(e)}"
                : $"Could not open '{path}': {Describe(e)}", exitCode);
        }
    }

    /// <summary>A foreign format in CLI words: the format's name and the flag that reads the bytes anyway.</summary>
    public static string ForeignFormatMessage(UnsupportedImageFormatException e) =>
        $"Image format '{e.FormatName}' is not supported by diskimage (use -f raw to read the file's bytes as a raw image)";

    /// <summary>
    /// qemu-img's words when a target cannot be written because it is also an input: qemu-img fails
    /// to take the write lock that its own read of the input holds, and says so; diskimage compares
    /// the files by device and inode before anything is written and refuses with the same text.
    /// </summary>
    /// <param name="target">The target as the user spelled it.</param>
    public static string SameFileMessage(string target) =>
        $"Failed to get \"write\" lock\nIs another process using the image [{target}]?";

    private static bool SameFile(string a, string b) =>
        string.Equals(Path.GetFullPath(a), Path.GetFullPath(b), OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);

    /// <summary>Exceptions that mean "this file cannot be opened as an image" (as opposed to bugs).</summary>
    public static bool IsOpenFailure(Exception e) =>
        e is IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException or ArgumentException or System.Security.Cryptography.CryptographicException;

    /// <summary>An error text in the words qemu-img uses for the common host errors.</summary>
    public static string Describe(Exception e) => e switch
    {
        FileNotFoundException or DirectoryNotFoundException => "No such file or directory",
        UnauthorizedAccessException => "Permission denied",
        ArgumentException => ArgumentMessage(e.Message),
        _ => e.Message,
    };

    // ArgumentException appends " (Parameter 'x')" and, for out-of-range values, "Actual value was ...".
    private static string ArgumentMessage(string message)
    {
        string first = message.Split('\n', 2)[0];
        int parameter = first.LastIndexOf(" (Parameter '", StringComparison.Ordinal);
        return parameter < 0 ? first : first[..parameter];
    }

    /// <summary>
    /// The backing file's path as qemu-img shows it (<c>full-backing-filename</c>): an absolute name
    /// as is, a relative one appended to the directory part of the overlay's name as given.
    /// </summary>
    public static string CombineBackingName(string imageName, string backingName)
    {
        if (Path.IsPathRooted(backingName))
        {
            return backingName;
        }

        int slash = imageName.LastIndexOfAny(['/', Path.DirectorySeparatorChar]);
        return slash < 0 ? backingName : string.Concat(imageName.AsSpan(0, slash + 1), backingName);
    }

    /// <summary>The image and its opened backing images, top first, each with the name qemu-img shows.</summary>
    public static List<(DiskImageFile Image, string Name)> Chain(DiskImageFile top, string topName)
    {
        var chain = new List<(DiskImageFile, string)> { (top, topName) };
        DiskImageFile current = top;
        string name = topName;
        while (current is Qcow2Image q && q.Backing is { } backing && chain.Count <= 1024)
        {
            string? stored = q.GetInfo().BackingFileName;
            name = stored is null ? backing.FileName ?? "" : CombineBackingName(name, stored);
            chain.Add((backing, name));
            current = backing;
        }

        return chain;
    }
}
