using System.Buffers;
using System.IO.Compression;
using ZstdSharp.Unsafe;

namespace DiskImage.Formats.Qcow2;

/// <summary>Compresses and decompresses single qcow2 clusters. Thread-safe; callers may compress clusters on several threads.</summary>
public static class Qcow2Compression
{
    // Zstandard level qemu uses (ZSTD_CLEVEL_DEFAULT).
    private const int ZstdLevel = 3;

    // Largest zstd window accepted when decoding: clusters are at most 2 MiB, so a larger window
    // can only come from a crafted descriptor and must not make the decoder allocate much.
    private const int ZstdMaxWindowLog = 22;

    [ThreadStatic]
    private static ZstdSharp.Compressor? t_zstdCompressor;

    [ThreadStatic]
    private static ZstdDecoder? t_zstdDecoder;

    /// <summary>
    /// Compresses one whole cluster into <paramref name="destination"/>. Returns <see langword="false"/>
    /// when the output would not be smaller than the cluster (store it uncompressed instead).
    /// </summary>
    public static bool TryCompress(Qcow2CompressionType type, ReadOnlySpan<byte> cluster, Span<byte> destination, out int bytesWritten)
    {
        bytesWritten = 0;
        int limit = Math.Min(destination.Length, cluster.Length - 1);
        if (limit <= 0)
        {
            return false;
        }

        switch (type)
        {
            case Qcow2CompressionType.Deflate:
                return TryDeflate(cluster, destination[..limit], out bytesWritten);
            case Qcow2CompressionType.Zstd:
                t_zstdCompressor ??= new ZstdSharp.Compressor(ZstdLevel);
                return t_zstdCompressor.TryWrap(cluster, destination[..limit], out bytesWritten);
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

    private static bool TryDeflate(ReadOnlySpan<byte> cluster, Span<byte> destination, out int bytesWritten)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent(destination.Length);
        try
        {
            var sink = new BoundedMemoryStream(rented, destination.Length);
            using (var deflate = new DeflateStream(sink, CompressionLevel.Fastest, leaveOpen: true))
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

    private static void Inflate(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        byte[] input = ArrayPool<byte>.Shared.Rent(source.Length);
        try
        {
            source.CopyTo(input);
            using var ms = new MemoryStream(input, 0, source.Length, writable: false);
            using var inflate = new DeflateStream(ms, CompressionMode.Decompress);
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
        finally
        {
            ArrayPool<byte>.Shared.Return(input);
        }
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
