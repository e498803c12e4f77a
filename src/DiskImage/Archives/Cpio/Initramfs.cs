using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using K4os.Compression.LZ4;
using SharpCompress.Compressors.LZMA;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// Packs, lists and unpacks Linux initramfs images: an optional uncompressed early cpio (CPU
/// microcode, ACPI tables; regular file data 16-byte aligned) followed by a compressed main cpio;
/// and, on read, any concatenation of segments the kernel accepts.
/// </summary>
public static class Initramfs
{
    /// <summary>Data alignment in the early segment (Intel microcode must be 16-byte aligned).</summary>
    public const int EarlyDataAlignment = 16;

    /// <summary>Writes an image: <paramref name="early"/> (if any) uncompressed, then <paramref name="main"/> compressed as <see cref="InitramfsWriteOptions.Compression"/>.</summary>
    /// <param name="destination">The stream receiving the image.</param>
    /// <param name="main">The tree of the compressed main archive.</param>
    /// <param name="options">Compression and archive options; null for the defaults.</param>
    /// <param name="early">The tree of the uncompressed early archive, or null for none.</param>
    /// <param name="cancellationToken">Stops before the next entry or chunk of file data (the output is then incomplete).</param>
    /// <exception cref="NotSupportedException">The compression is read-only (xz, lzo).</exception>
    /// <exception cref="OperationCanceledException">Writing was cancelled.</exception>
    public static void Write(Stream destination, ICpioTreeSource main, InitramfsWriteOptions? options = null, ICpioTreeSource? early = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(main);
        options ??= new InitramfsWriteOptions();
        ValidateCompression(options.Compression);
        if (early is not null)
        {
            CpioBuildOptions b = options.Build;
            var earlyOptions = new CpioBuildOptions
            {
                Format = b.Format,
                Reproducible = b.Reproducible,
                ModificationTimeClamp = b.ModificationTimeClamp,
                Uid = b.Uid,
                Gid = b.Gid,
                DataAlignment = EarlyDataAlignment,
                TrailerAlignment = b.TrailerAlignment,
            };
            CpioArchiveBuilder.Write(destination, early, earlyOptions, cancellationToken);
        }

        using (Stream compressor = OpenCompressor(new NonClosingStream(destination), options))
        {
            CpioArchiveBuilder.Write(compressor, main, options.Build, cancellationToken);
        }

        destination.Flush();
    }

    /// <summary>
    /// Packs the host directory <paramref name="sourceDirectory"/> (and optionally an early directory) into the file
    /// <paramref name="outputPath"/>, through a temporary file renamed at the end: a failure or a cancellation leaves
    /// no output (and an existing file of that name unchanged). An existing <paramref name="outputPath"/> is
    /// refused unless <paramref name="overwrite"/> is true.
    /// </summary>
    /// <param name="sourceDirectory">The directory of the main archive.</param>
    /// <param name="outputPath">The image file to write.</param>
    /// <param name="options">Compression and archive options; null for the defaults.</param>
    /// <param name="earlyDirectory">The directory of the uncompressed early archive, or null for none.</param>
    /// <param name="overwrite">Whether an existing <paramref name="outputPath"/> may be replaced; false by default.</param>
    /// <param name="cancellationToken">Stops before the next entry or chunk of file data.</param>
    /// <exception cref="IOException"><paramref name="outputPath"/> exists and <paramref name="overwrite"/> is false (the message names it).</exception>
    /// <exception cref="OperationCanceledException">Packing was cancelled; the temporary file was removed.</exception>
    public static void Pack(string sourceDirectory, string outputPath, InitramfsWriteOptions? options = null, string? earlyDirectory = null, bool overwrite = false, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        if (!overwrite && (Path.Exists(outputPath) || new FileInfo(outputPath).LinkTarget is not null))
        {
            throw new IOException($"'{outputPath}' already exists; pass overwrite: true to replace it.");
        }

        var main = new HostDirectoryTreeSource(sourceDirectory);
        ICpioTreeSource? early = earlyDirectory is null ? null : new HostDirectoryTreeSource(earlyDirectory);
        string temp = outputPath + ".tmp-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        try
        {
            using (var output = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Write(output, main, options, early, cancellationToken);
            }

            cancellationToken.ThrowIfCancellationRequested();

            File.Move(temp, outputPath, overwrite);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>Returns a compressing stream for <paramref name="output"/> that writes one kernel-compatible segment when disposed.</summary>
    /// <exception cref="NotSupportedException">The compression is read-only (xz, lzo).</exception>
    public static Stream OpenCompressor(Stream output, InitramfsWriteOptions options)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(options);
        ValidateCompression(options.Compression);
        Stream sink = output is NonClosingStream ? output : new NonClosingStream(output);
        int? level = options.CompressionLevel;
        switch (options.Compression)
        {
            case InitramfsCompression.None:
                return sink;
            case InitramfsCompression.Gzip:
                return new ParallelGzipWriteStream(sink, Math.Clamp(level ?? 6, 0, 9), Math.Min(options.GzipWorkers ?? Environment.ProcessorCount, 64));
            case InitramfsCompression.Zstd:
            {
                int zlevel = Math.Clamp(level ?? 3, 1, 19);
                var zstd = new CompressionStream(sink, zlevel, 1 << 20, leaveOpen: false);
                zstd.SetParameter(ZSTD_cParameter.ZSTD_c_windowLog, Math.Min(23, ZstdWindowLogFor(zlevel)));
                zstd.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
                int workers = options.ZstdWorkers ?? Environment.ProcessorCount;
                if (workers > 0)
                {
                    zstd.SetParameter(ZSTD_cParameter.ZSTD_c_nbWorkers, Math.Min(workers, 64));
                }

                return zstd;
            }

            case InitramfsCompression.Bzip2:
                return new ParallelBzip2WriteStream(sink, Math.Min(Environment.ProcessorCount, 64));
            case InitramfsCompression.Lzma:
                return new LzmaAloneWriteStream(sink);
            case InitramfsCompression.Lz4:
                return new Lz4LegacyWriteStream(sink, (level ?? 1) switch
                {
                    <= 2 => LZ4Level.L00_FAST,
                    >= 12 => LZ4Level.L12_MAX,
                    int l => (LZ4Level)l,
                });
            default:
                throw new UnreachableException();
        }
    }

    /// <summary>
    /// Reads every entry header of an image (data is skipped), across all segments, as the sequence is enumerated.
    /// <paramref name="image"/> is borrowed: it is never disposed (the caller opened it and closes it).
    /// </summary>
    public static IEnumerable<CpioEntry> List(Stream image, InitramfsReaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        return ListCore(image, options);
    }

    private static IEnumerable<CpioEntry> ListCore(Stream image, InitramfsReaderOptions? options)
    {
        using var reader = new InitramfsReader(image, options, leaveOpen: true);
        while (reader.GetNextEntry() is { } entry)
        {
            yield return entry;
        }
    }

    /// <summary>One line per entry like <c>lsinitramfs</c> (the name), or with <paramref name="longFormat"/> like <c>cpio -tv</c>.</summary>
    public static void WriteListing(Stream image, TextWriter output, bool longFormat = false, InitramfsReaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        foreach (CpioEntry entry in List(image, options))
        {
            output.WriteLine(longFormat ? FormatLong(entry) : entry.Name);
        }
    }

    /// <summary>A <c>cpio -tv</c>-style line: mode, links, uid, gid, size (or major, minor), UTC time, name, link target.</summary>
    public static string FormatLong(CpioEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var sb = new StringBuilder(96);
        sb.Append(entry.EntryType switch
        {
            CpioEntryType.Directory => 'd',
            CpioEntryType.SymbolicLink => 'l',
            CpioEntryType.CharacterDevice => 'c',
            CpioEntryType.BlockDevice => 'b',
            CpioEntryType.Fifo => 'p',
            CpioEntryType.Socket => 's',
            _ => '-',
        });
        int m = (int)entry.Mode;
        ReadOnlySpan<char> rwx = "rwxrwxrwx";
        for (int i = 0; i < 9; i++)
        {
            char c = (m & (1 << (8 - i))) != 0 ? rwx[i] : '-';
            if (i == 2 && (m & 0x800) != 0)
            {
                c = c == 'x' ? 's' : 'S';
            }
            else if (i == 5 && (m & 0x400) != 0)
            {
                c = c == 'x' ? 's' : 'S';
            }
            else if (i == 8 && (m & 0x200) != 0)
            {
                c = c == 'x' ? 't' : 'T';
            }

            sb.Append(c);
        }

        string size = entry.EntryType is CpioEntryType.CharacterDevice or CpioEntryType.BlockDevice
            ? string.Create(CultureInfo.InvariantCulture, $"{entry.RDevMajor}, {entry.RDevMinor}")
            : entry.Length.ToString(CultureInfo.InvariantCulture);
        sb.Append(CultureInfo.InvariantCulture, $" {entry.NLink,3} {entry.Uid,-8} {entry.Gid,-8} {size,10} {entry.ModificationTime.UtcDateTime:yyyy-MM-dd HH:mm:ss} {entry.Name}");
        if (entry.EntryType == CpioEntryType.SymbolicLink)
        {
            sb.Append(" -> ").Append(entry.LinkName);
        }

        return sb.ToString();
    }

    /// <summary>Unpacks every segment of an image under <paramref name="destinationDirectory"/>, never writing outside it.</summary>
    /// <param name="image">The image to read.</param>
    /// <param name="destinationDirectory">The directory receiving the entries (created if missing).</param>
    /// <param name="options">What to restore; null for the defaults.</param>
    /// <param name="cancellationToken">Stops before the next entry (the entries already written stay).</param>
    /// <exception cref="InvalidDataException">The image is malformed or an entry would escape the directory.</exception>
    /// <exception cref="OperationCanceledException">Unpacking was cancelled.</exception>
    public static InitramfsExtractResult Unpack(Stream image, string destinationDirectory, InitramfsExtractOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentException.ThrowIfNullOrEmpty(destinationDirectory);
        options ??= new InitramfsExtractOptions();
        using var reader = new InitramfsReader(image, options.Reader, leaveOpen: true);
        var extractor = new CpioExtractor(destinationDirectory, options);
        while (reader.GetNextEntry() is { } entry)
        {
            cancellationToken.ThrowIfCancellationRequested();
            extractor.Extract(entry, reader.ArchiveNumber);
        }

        extractor.Finish();
        return new InitramfsExtractResult(extractor.Extracted, extractor.Skipped, reader.Segments, reader.Warnings);
    }

    /// <summary>Copies the data of the regular file <paramref name="path"/> (last occurrence wins, as the kernel overlays) to <paramref name="destination"/>.</summary>
    /// <returns>Whether the file was found.</returns>
    public static bool ExtractFile(Stream image, string path, Stream destination, InitramfsReaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(destination);
        string wanted = CpioArchiveBuilder.NormalizePath(path);
        using var reader = new InitramfsReader(image, options, leaveOpen: true);
        MemoryStream? found = null;
        bool any = false;
        var groups = new Dictionary<(uint, uint, uint), string>();
        string? wantedGroupKeyName = null;
        while (reader.GetNextEntry() is { } entry)
        {
            string name;
            try
            {
                name = CpioArchiveBuilder.NormalizePath(entry.Name);
            }
            catch (ArgumentException)
            {
                continue;
            }

            bool match = name == wanted;
            if (entry.IsHardLinkMember)
            {
                var key = (entry.DevMajor, entry.DevMinor, entry.Inode);
                if (match)
                {
                    wantedGroupKeyName = groups.GetValueOrDefault(key) ?? name;
                }

                groups.TryAdd(key, name);
                match |= wantedGroupKeyName is not null && groups.GetValueOrDefault(key) == wantedGroupKeyName && entry.Length > 0;
            }

            if (match && entry.EntryType == CpioEntryType.RegularFile)
            {
                if (entry.Length > 0 || found is null || name == wanted)
                {
                    found = new MemoryStream();
                    entry.DataStream?.CopyTo(found);
                    any = true;
                }
            }
            else if (name == wanted)
            {
                found = null; // replaced by a non-file
                any = false;
            }
        }

        if (!any || found is null)
        {
            return false;
        }

        found.Position = 0;
        found.CopyTo(destination);
        return true;
    }

    private static int ZstdWindowLogFor(int level) => level switch
    {
        <= 1 => 19,
        <= 2 => 20,
        <= 4 => 21,
        <= 7 => 22,
        _ => 23,
    };

    private static void ValidateCompression(InitramfsCompression compression)
    {
        switch (compression)
        {
            case InitramfsCompression.Xz:
                throw new NotSupportedException("Writing xz is not supported: no available encoder writes LZMA2 with the CRC32 check the kernel requires. Use zstd (smaller and faster to unpack), or lzma.");
            case InitramfsCompression.Lzo:
                throw new NotSupportedException("Writing lzo is not supported: no LZO1X encoder is available. Use lz4 or zstd.");
            case InitramfsCompression.None or InitramfsCompression.Gzip or InitramfsCompression.Zstd or InitramfsCompression.Bzip2 or InitramfsCompression.Lzma or InitramfsCompression.Lz4:
                return;
            default:
                throw new ArgumentOutOfRangeException(nameof(compression));
        }
    }
}

/// <summary>Writes an LZMA "alone" stream as <c>lzma</c> does: lc=3 lp=0 pb=2, 1 MiB dictionary, unknown size, end marker.</summary>
internal sealed class LzmaAloneWriteStream : WriteOnlyStreamBase
{
    private readonly LzmaStream _lzma;

    public LzmaAloneWriteStream(Stream output)
    {
        _lzma = LzmaStream.Create(new LzmaEncoderProperties(eos: true, dictionary: 1 << 20), false, output);
        Span<byte> header = stackalloc byte[13];
        _lzma.Properties.AsSpan(0, 5).CopyTo(header);
        header[5..].Fill(0xFF);
        output.Write(header);
    }

    public override void Write(byte[] buffer, int offset, int count) => _lzma.Write(buffer, offset, count);

    public override void Write(ReadOnlySpan<byte> buffer) => _lzma.Write(buffer);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _lzma.Dispose();
        }

        base.Dispose(disposing);
    }
}
