using System.Buffers.Binary;
using System.Diagnostics;
using SharpCompress.Compressors;
using SharpCompress.Compressors.BZip2;
using SharpCompress.Compressors.LZMA;
using SharpCompress.Compressors.Xz;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// Reads every entry of an initramfs image: any concatenation of uncompressed cpio archives, NUL
/// padding and compressed segments (gzip, zstd, xz, lzma, bzip2, lz4 legacy), each detected by its
/// magic as the kernel's <c>init/initramfs.c</c> does. Streams forward only.
/// </summary>
public sealed class InitramfsReader : IDisposable
{
    private const string Structure = "initramfs";
    private readonly ArchiveInput _outer;
    private readonly InitramfsReaderOptions _options;
    private readonly InitramfsOutputBudget _budget;
    private readonly List<InitramfsSegment> _segments = [];
    private readonly List<string> _warnings = [];
    private InitramfsSegment? _segment;
    private ArchiveInput? _inner;
    private Stream? _decoder;
    private CpioReader? _cpio;
    private bool _end;
    private bool _disposed;

    /// <summary>Creates a reader over an image stream.</summary>
    /// <param name="stream">The image; read forward only.</param>
    /// <param name="options">Limits; defaults when null.</param>
    /// <param name="leaveOpen">Whether to leave <paramref name="stream"/> open on dispose.</param>
    public InitramfsReader(Stream stream, InitramfsReaderOptions? options = null, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _options = options ?? new InitramfsReaderOptions();
        _budget = new InitramfsOutputBudget(_options.MaxDecompressedSize);
        _outer = new ArchiveInput(stream, leaveOpen);
    }

    /// <summary>Segments seen so far (all of them once <see cref="GetNextEntry"/> has returned null).</summary>
    public IReadOnlyList<InitramfsSegment> Segments => _segments;

    /// <summary>The segment of the entry last returned.</summary>
    public InitramfsSegment? CurrentSegment => _segment;

    /// <summary>
    /// A counter that changes at every <c>TRAILER!!!</c>: hard links are resolved within one archive
    /// (the kernel forgets its link table at each trailer).
    /// </summary>
    public int ArchiveNumber { get; private set; }

    /// <summary>Things the kernel would reject or warn about, found while reading (e.g. an lz4 segment that is not last).</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    /// <summary>Returns the next entry of the image, or null after the last segment.</summary>
    /// <param name="copyData">Copy regular file data into memory so it outlives the next call.</param>
    public CpioEntry? GetNextEntry(bool copyData = false)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (!_end)
        {
            if (_cpio is not null)
            {
                CpioEntry? entry = _cpio.GetNextEntry(copyData);
                if (entry is not null)
                {
                    _segment!.EntryCount++;
                    return entry;
                }

                _segment!.ArchiveCount++;
                ArchiveNumber++;
                _cpio = null;
                AfterArchive();
                continue;
            }

            StartSegment();
        }

        return null;
    }

    /// <summary>Disposes the reader and, unless leaveOpen, the stream.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        CloseDecoder();
        _outer.Dispose();
    }

    internal static InitramfsCompression? DetectCompression(ReadOnlySpan<byte> head)
    {
        if (head.Length >= 3 && head[0] == 0x1F && head[1] == 0x8B && head[2] == 8)
        {
            return InitramfsCompression.Gzip;
        }

        if (head.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(head) == 0xFD2FB528)
        {
            return InitramfsCompression.Zstd;
        }

        if (head.Length >= 6 && head[..6].SequenceEqual((ReadOnlySpan<byte>)[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]))
        {
            return InitramfsCompression.Xz;
        }

        if (head.Length >= 4 && head[0] == (byte)'B' && head[1] == (byte)'Z' && head[2] == (byte)'h' && head[3] is >= (byte)'1' and <= (byte)'9')
        {
            return InitramfsCompression.Bzip2;
        }

        if (head.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(head) == Lz4Legacy.Magic)
        {
            return InitramfsCompression.Lz4;
        }

        if (head.Length >= 9 && head[..9].SequenceEqual((ReadOnlySpan<byte>)[0x89, 0x4C, 0x5A, 0x4F, 0x00, 0x0D, 0x0A, 0x1A, 0x0A]))
        {
            return InitramfsCompression.Lzo;
        }

        if (head.Length >= 13 && head[0] == 0x5D && head[1] == 0)
        {
            return InitramfsCompression.Lzma;
        }

        return null;
    }

    private void StartSegment()
    {
        _outer.SkipZeros();
        long offset = _outer.Position;
        if (!_outer.Ensure(1))
        {
            _end = true;
            return;
        }

        _outer.Ensure(16);
        if (_segments.Count > 0 && _segments[^1].Compression == InitramfsCompression.Lz4)
        {
            _warnings.Add($"segment at offset {offset} follows an lz4 segment; the kernel would treat it as part of the lz4 stream");
        }

        ReadOnlySpan<byte> head = _outer.Buffered;
        if (head[0] == (byte)'0')
        {
            if ((offset & 3) != 0)
            {
                FormatError.Throw(Structure, offset, "uncompressed cpio does not start at a multiple of 4 (broken padding)");
            }

            Begin(new InitramfsSegment(_segments.Count, offset, InitramfsCompression.None));
            _cpio = new CpioReader(_outer) { VerifyChecksums = _options.VerifyChecksums };
            return;
        }

        InitramfsCompression? compression = DetectCompression(head);
        if (compression is null)
        {
            if (head.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(head) == 0x184D2204)
            {
                FormatError.Throw(Structure, offset, "LZ4 frame format; the kernel accepts only the legacy format (lz4 -l)");
            }

            FormatError.Throw(Structure, offset, $"invalid magic at start of compressed archive ({Convert.ToHexString(head[..Math.Min(4, head.Length)])})");
        }

        Begin(new InitramfsSegment(_segments.Count, offset, compression.Value));
        Stream decoded;
        try
        {
            decoded = OpenDecoder(compression.Value, offset);
        }
        catch (Exception ex) when (CappedStream.IsDecoderFailure(ex))
        {
            throw FormatError.Create($"{compression.Value} segment", offset, "corrupt header: " + ex.Message);
        }

        _decoder = new CappedStream(decoded, _budget, $"{compression.Value} segment", offset);
        _inner = new ArchiveInput(_decoder, leaveOpen: true);
        _cpio = new CpioReader(_inner) { VerifyChecksums = _options.VerifyChecksums };
    }

    private Stream OpenDecoder(InitramfsCompression compression, long offset)
    {
        switch (compression)
        {
            case InitramfsCompression.Gzip:
                return new GzipMemberReadStream(_outer);
            case InitramfsCompression.Zstd:
            {
                var frame = new ZstdFrameStream(_outer, _options.MaxZstdWindowSize);
                if (frame.WindowSize > 8 << 20)
                {
                    _warnings.Add($"zstd segment at offset {offset} has a {frame.WindowSize}-byte window; the kernel's streaming decoder may refuse windows over 8 MiB");
                }

                var zstd = new DecompressionStream(frame, 128 * 1024, checkEndOfStream: true, leaveOpen: false);
                zstd.SetParameter(ZSTD_dParameter.ZSTD_d_windowLogMax, 27);
                return zstd;
            }

            case InitramfsCompression.Xz:
            {
                _outer.Ensure(8);
                byte check = _outer.Buffered.Length >= 8 ? _outer.Buffered[7] : (byte)0;
                if ((check & 0x0F) > 1)
                {
                    _warnings.Add($"xz segment at offset {offset} uses integrity check {check & 0x0F}; the kernel accepts only none (0) or CRC32 (1)");
                }

                return new XZStream(new ArchiveInputStream(_outer, 64 * 1024));
            }

            case InitramfsCompression.Lzma:
            {
                Span<byte> header = stackalloc byte[13];
                _outer.Buffered[..13].CopyTo(header);
                _outer.Advance(13);
                long size = BinaryPrimitives.ReadInt64LittleEndian(header[5..]);
                uint dict = BinaryPrimitives.ReadUInt32LittleEndian(header[1..]);
                if (dict > 1u << 30 || size < -1)
                {
                    FormatError.Throw("lzma segment", offset, "implausible dictionary or size in header");
                }

                return LzmaStream.Create(header[..5].ToArray(), new ArchiveInputStream(_outer, 64 * 1024), -1, size, leaveOpen: false);
            }

            case InitramfsCompression.Bzip2:
                return BZip2Stream.Create(new ArchiveInputStream(_outer, 64 * 1024), CompressionMode.Decompress, decompressConcatenated: false, leaveOpen: false, tolerateTruncatedStream: false);
            case InitramfsCompression.Lz4:
                return new Lz4LegacyReadStream(_outer);
            case InitramfsCompression.Lzo:
                return new LzopReadStream(_outer);
            default:
                throw new UnreachableException();
        }
    }

    private void Begin(InitramfsSegment segment)
    {
        _segments.Add(segment);
        _segment = segment;
    }

    private void AfterArchive()
    {
        if (_inner is not null)
        {
            // Inside a compressed segment: more archives may follow after NULs; anything else is junk.
            _inner.SkipZeros();
            int next = _inner.Peek();
            if (next == '0')
            {
                _cpio = new CpioReader(_inner) { VerifyChecksums = _options.VerifyChecksums };
                return;
            }

            if (next >= 0)
            {
                FormatError.Throw(Structure, _segment!.Offset, "junk within compressed archive");
            }

            _segment!.DecompressedLength = _inner.Position;
            CloseDecoder();
            _segment.Length = _outer.Position - _segment.Offset;
            return;
        }

        _segment!.Length = _outer.Position - _segment.Offset;
        _segment.DecompressedLength = _segment.Length;
    }

    private void CloseDecoder()
    {
        _inner?.Dispose();
        _inner = null;
        _decoder?.Dispose();
        _decoder = null;
    }
}
