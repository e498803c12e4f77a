using System.Buffers;
using System.IO.Compression;
using ZstdSharp.Unsafe;

namespace DiskImage.Formats.Qcow2;

/// <summary>Compresses and decompresses single qcow2 clusters. Thread-safe; callers may compress clusters on several threads.</summary>
public static class Qcow2Compression
{
    /// <summary>The deflate level qemu-img uses (zlib's default): 6.</summary>
    public const int DefaultDeflateLevel = 6;

    /// <summary>The Zstandard level qemu-img uses (zstd's default): 3.</summary>
    public const int DefaultZstdLevel = 3;

    /// <summary>The lowest deflate level accepted (0: stored blocks, which never shrink a cluster).</summary>
    public const int MinDeflateLevel = 0;

    /// <summary>The highest deflate level accepted.</summary>
    public const int MaxDeflateLevel = 9;

    /// <summary>The lowest Zstandard level accepted (levels below 1 trade ratio for speed).</summary>
    public const int MinZstdLevel = -7;

    /// <summary>The highest Zstandard level accepted.</summary>
    public const int MaxZstdLevel = 22;

    // Largest zstd window accepted when decoding: clusters are at most 2 MiB, so a larger window
    // can only come from a crafted descriptor and must not make the decoder allocate much.
    private const int ZstdMaxWindowLog = 22;

    [ThreadStatic]
    private static ZstdSharp.Compressor? t_zstdCompressor;

    [ThreadStatic]
    private static ZstdDecoder? t_zstdDecoder;

    [ThreadStatic]
    private static SpanReadStream? t_inflateInput;

    /// <summary>
    /// Compresses one whole cluster into <paramref name="destination"/>. Returns <see langword="false"/>
    /// when the output would not be smaller than the cluster (store it uncompressed instead).
    /// </summary>
    public static bool TryCompress(Qcow2CompressionType type, ReadOnlySpan<byte> cluster, Span<byte> destination, out int bytesWritten) =>
        TryCompress(type, cluster, destination, DefaultLevel(type), out bytesWritten);

    /// <summary>The level <see cref="TryCompress(Qcow2CompressionType, ReadOnlySpan{byte}, Span{byte}, out int)"/> uses for <paramref name="type"/>: qemu-img's.</summary>
    public static int DefaultLevel(Qcow2CompressionType type) => type == Qcow2CompressionType.Zstd ? DefaultZstdLevel : DefaultDeflateLevel;

    /// <summary>
    /// Compresses one whole cluster at compression <paramref name="level"/> (deflate
    /// <see cref="MinDeflateLevel"/>..<see cref="MaxDeflateLevel"/>, zstd
    /// <see cref="MinZstdLevel"/>..<see cref="MaxZstdLevel"/>). Returns <see langword="false"/> when the
    /// output would not be smaller than the cluster (store it uncompressed instead).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="level"/> is out of range for <paramref name="type"/>.</exception>
    public static bool TryCompress(Qcow2CompressionType type, ReadOnlySpan<byte> cluster, Span<byte> destination, int level, out int bytesWritten)
    {
        ValidateLevel(type, level);
        bytesWritten = 0;
        int limit = Math.Min(destination.Length, cluster.Length - 1);
        if (limit <= 0)
        {
            return false;
        }

        switch (type)
        {
            case Qcow2CompressionType.Deflate:
                return TryDeflate(cluster, destination[..limit], level, out bytesWritten);
            case Qcow2CompressionType.Zstd:
                ZstdSharp.Compressor? zstd = t_zstdCompressor;
                if (zstd is null || zstd.Level != level)
                {
                    zstd?.Dispose();
                    zstd = t_zstdCompressor = new ZstdSharp.Compressor(level);
                }

                return zstd.TryWrap(cluster, destination[..limit], out bytesWritten);
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown compression type.");
        }
    }

    /// <summary>
    /// Decompresses one cluster: fills <paramref name="destination"/> (the cluster) exactly, ignoring
    /// any input after the end of the compressed stream (the next compressed cluster may share a sector).
    /// </summary>
    /// <exception cref="InvalidDataException">The data is not a valid stream, or yields less than a cluster.</exception>
    public static void Decompress(Qcow2CompressionType type, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        switch (type)
        {
            case Qcow2CompressionType.Deflate:
                Inflate(source, destination);
                break;
            case Qcow2CompressionType.Zstd:
                (t_zstdDecoder ??= new ZstdDecoder()).Decompress(source, destination);
                break;
            default:
                throw new NotSupportedException($"qcow2 compression type {(int)type} is not supported.");
        }
    }

    /// <summary>Throws when <paramref name="level"/> is out of range for <paramref name="type"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The level is out of range.</exception>
    public static void ValidateLevel(Qcow2CompressionType type, int level)
    {
        (int min, int max) = type == Qcow2CompressionType.Zstd ? (MinZstdLevel, MaxZstdLevel) : (MinDeflateLevel, MaxDeflateLevel);
        if (level < min || level > max)
        {
            throw new ArgumentOutOfRangeException(nameof(level), level, $"The {(type == Qcow2CompressionType.Zstd ? "zstd" : "deflate")} compression level must be between {min} and {max}.");
        }
    }

    private static bool TryDeflate(ReadOnlySpan<byte> cluster, Span<byte> destination, int level, out int bytesWritten)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent(destination.Length);
        try
        {
            var sink = new BoundedMemoryStream(rented, destination.Length);
            using (var deflate = new DeflateStream(sink, new ZLibCompressionOptions { CompressionLevel = level }, leaveOpen: true))
            {
                deflate.Write(cluster);
            }

            if (sink.Overflowed)
            {
                bytesWritten = 0;
                return false;
            }

            bytesWritten = (int)sink.Position;
            rented.AsSpan(0, bytesWritten).CopyTo(destination);
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static unsafe void Inflate(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        // The input is read in place through a per-thread stream; only the inflater is per call.
        SpanReadStream input = t_inflateInput ??= new SpanReadStream();
        fixed (byte* src = source)
        {
            input.Reset(src, source.Length);
            try
            {
                InflateFrom(input, destination);
            }
            finally
            {
                input.Reset(null, 0);
            }
        }
    }

    private static void InflateFrom(Stream input, Span<byte> destination)
    {
        {
            using var inflate = new DeflateStream(input, CompressionMode.Decompress, leaveOpen: true);
            int total = 0;
            while (total < destination.Length)
            {
                int n;
                try
                {
                    n = inflate.Read(destination[total..]);
                }
                catch (InvalidDataException ex)
                {
                    throw new InvalidDataException($"qcow2 compressed cluster: invalid deflate data ({ex.Message}).", ex);
                }

                if (n <= 0)
                {
                    FormatError.Throw("qcow2 compressed cluster", -1, $"deflate stream ended after {total} bytes, a cluster is {destination.Length}.");
                }

                total += n;
            }
        }
    }

    /// <summary>A read-only stream over unmanaged memory that can be re-pointed, so one instance serves every cluster a thread inflates.</summary>
    private sealed unsafe class SpanReadStream : Stream
    {
        private byte* _data;
        private int _length;
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => _length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public void Reset(byte* data, int length)
        {
            _data = data;
            _length = length;
            _position = 0;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = Math.Min(buffer.Length, _length - _position);
            if (n <= 0)
            {
                return 0;
            }

            new ReadOnlySpan<byte>(_data + _position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>A write-only stream over a fixed array that records, instead of throwing, when output exceeds the limit.</summary>
    private sealed class BoundedMemoryStream(byte[] buffer, int limit) : Stream
    {
        private int _position;

        public bool Overflowed { get; private set; }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _position;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> source)
        {
            if (Overflowed || source.Length > limit - _position)
            {
                Overflowed = true;
                return;
            }

            source.CopyTo(buffer.AsSpan(_position));
            _position += source.Length;
        }
    }

    /// <summary>A reusable zstd streaming decoder that stops once the output is full.</summary>
    private sealed unsafe class ZstdDecoder
    {
        private readonly ZSTD_DCtx_s* _context;

        public ZstdDecoder()
        {
            _context = Methods.ZSTD_createDCtx();
            if (_context == null)
            {
                throw new OutOfMemoryException("Could not create a zstd decoder.");
            }

            Methods.ZSTD_DCtx_setParameter(_context, ZSTD_dParameter.ZSTD_d_windowLogMax, ZstdMaxWindowLog);
        }

        ~ZstdDecoder() => Methods.ZSTD_freeDCtx(_context);

        public void Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
        {
            Methods.ZSTD_DCtx_reset(_context, ZSTD_ResetDirective.ZSTD_reset_session_only);
            fixed (byte* src = source)
            fixed (byte* dst = destination)
            {
                var input = new ZSTD_inBuffer_s { src = src, size = (nuint)source.Length, pos = 0 };
                var output = new ZSTD_outBuffer_s { dst = dst, size = (nuint)destination.Length, pos = 0 };
                while (output.pos < output.size)
                {
                    nuint inBefore = input.pos;
                    nuint outBefore = output.pos;
                    nuint ret = Methods.ZSTD_decompressStream(_context, &output, &input);
                    if (Methods.ZSTD_isError(ret))
                    {
                        FormatError.Throw("qcow2 compressed cluster", -1, "invalid zstd data.");
                    }

                    if (output.pos < output.size && (ret == 0 || (input.pos == inBefore && output.pos == outBefore)))
                    {
                        FormatError.Throw("qcow2 compressed cluster", -1, $"zstd data ended after {output.pos} bytes, a cluster is {destination.Length}.");
                    }
                }
            }
        }
    }
}
