using System.Buffers.Binary;
using System.Buffers;
using System.IO.Compression;
using DiskImage.Compression;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// Writes one gzip member (RFC 1952) whose deflate data is compressed in fixed-size chunks on worker
/// threads. Each chunk is deflated independently (no shared dictionary) and ends with a sync flush
/// (an empty stored block, so it ends on a byte boundary), and the last chunk ends with a final
/// block; the concatenation is one valid deflate stream (RFC 1951 §3.2.3: blocks follow each other,
/// back-references never cross a chunk). CRC-32s of the chunks are combined, so the input is read
/// once. Chunk boundaries depend only on the offset in the input, so the bytes written are the same
/// for any worker count and any thread timing.
/// </summary>
internal sealed class ParallelGzipWriteStream : WriteOnlyStreamBase
{
    /// <summary>Default chunk size: large enough that restarting the dictionary costs little ratio.</summary>
    public const int DefaultChunkSize = 1 << 20;

    private readonly Stream _output;
    private readonly int _level;
    private readonly int _chunkSize;
    private readonly int _workers;
    private readonly int _maxInFlight;
    private readonly Queue<Chunk> _inFlight = new();
    private byte[]? _current;
    private int _filled;
    private uint _crc;
    private uint _size;
    private bool _closed;

    /// <param name="output">Receives the member.</param>
    /// <param name="level">zlib level 0–9.</param>
    /// <param name="workers">Worker threads; 0 deflates each chunk on the calling thread (same bytes).</param>
    /// <param name="chunkSize">Input bytes per independently deflated chunk.</param>
    public ParallelGzipWriteStream(Stream output, int level, int workers, int chunkSize = DefaultChunkSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(level);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(level, 9);
        ArgumentOutOfRangeException.ThrowIfNegative(workers);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 4096);
        _output = output;
        _level = level;
        _chunkSize = chunkSize;
        _workers = workers;
        _maxInFlight = workers == 0 ? 1 : (2 * workers) + 1;

        // Fixed header: no name, MTIME 0, XFL as gzip sets it for the level, OS 3 (Unix) on every host.
        byte xfl = level == 9 ? (byte)2 : level == 1 ? (byte)4 : (byte)0;
        ReadOnlySpan<byte> header = [0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, xfl, 0x03];
        output.Write(header);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        while (!buffer.IsEmpty)
        {
            int n = Append(buffer);
            buffer = buffer[n..];
            if (_filled == _chunkSize)
            {
                Submit(final: false);
                while (_inFlight.Count >= _maxInFlight)
                {
                    WriteOldest();
                }
            }
        }

        WriteCompleted();
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        while (!buffer.IsEmpty)
        {
            int n = Append(buffer.Span);
            buffer = buffer[n..];
            if (_filled == _chunkSize)
            {
                Submit(final: false);
                while (_inFlight.Count >= _maxInFlight)
                {
                    await WriteOldestAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask DisposeAsync()
    {
        if (!_closed)
        {
            _closed = true;
            try
            {
                Submit(final: true);
                while (_inFlight.Count > 0)
                {
                    await WriteOldestAsync(CancellationToken.None).ConfigureAwait(false);
                }

                await _output.WriteAsync(Trailer(), CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                Release();
            }
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_closed)
        {
            _closed = true;
            try
            {
                Submit(final: true);
                while (_inFlight.Count > 0)
                {
                    WriteOldest();
                }

                _output.Write(Trailer());
            }
            finally
            {
                Release();
            }
        }

        base.Dispose(disposing);
    }

    private int Append(ReadOnlySpan<byte> data)
    {
        _current ??= ArrayPool<byte>.Shared.Rent(_chunkSize);
        int n = Math.Min(data.Length, _chunkSize - _filled);
        data[..n].CopyTo(_current.AsSpan(_filled));
        _filled += n;
        return n;
    }

    private void Submit(bool final)
    {
        byte[] input = _current ?? ArrayPool<byte>.Shared.Rent(_chunkSize);
        var chunk = new Chunk(input, _filled, _level, final);
        _current = null;
        _filled = 0;
        if (_workers == 0)
        {
            chunk.Compress();
            chunk.Done = Task.CompletedTask;
        }
        else
        {
            chunk.Done = Task.Factory.StartNew(static c => ((Chunk)c!).Compress(), chunk, CancellationToken.None, TaskCreationOptions.DenyChildAttach, TaskScheduler.Default);
        }

        _inFlight.Enqueue(chunk);
    }

    /// <summary>Writes out, in order, the chunks that are already compressed.</summary>
    private void WriteCompleted()
    {
        while (_inFlight.Count > 0 && _inFlight.Peek().Done!.IsCompleted)
        {
            WriteOldest();
        }
    }

    private void WriteOldest()
    {
        Chunk chunk = _inFlight.Peek();
        chunk.Done!.GetAwaiter().GetResult();
        _inFlight.Dequeue();
        try
        {
            _output.Write(chunk.Output!, 0, chunk.OutputLength);
            Account(chunk);
        }
        finally
        {
            chunk.Return();
        }
    }

    private async ValueTask WriteOldestAsync(CancellationToken cancellationToken)
    {
        Chunk chunk = _inFlight.Peek();
        await chunk.Done!.ConfigureAwait(false);
        _inFlight.Dequeue();
        try
        {
            await _output.WriteAsync(chunk.Output.AsMemory(0, chunk.OutputLength), cancellationToken).ConfigureAwait(false);
            Account(chunk);
        }
        finally
        {
            chunk.Return();
        }
    }

    private void Account(Chunk chunk)
    {
        _crc = Crc32.Combine(_crc, chunk.Crc, chunk.InputLength);
        _size += (uint)chunk.InputLength; // ISIZE is the length modulo 2^32
    }

    private byte[] Trailer()
    {
        byte[] trailer = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, _crc);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer.AsSpan(4), _size);
        return trailer;
    }

    /// <summary>Waits for every chunk still in flight (after a failure too) and returns all buffers.</summary>
    private void Release()
    {
        while (_inFlight.Count > 0)
        {
            Chunk chunk = _inFlight.Dequeue();
            try
            {
                chunk.Done?.Wait();
            }
            catch (AggregateException)
            {
                // Already failed the write that saw it, or superseded by the failure being unwound.
            }

            chunk.Return();
        }

        if (_current is not null)
        {
            ArrayPool<byte>.Shared.Return(_current);
            _current = null;
        }
    }

    private sealed class Chunk(byte[] input, int inputLength, int level, bool final)
    {
        private byte[]? _input = input;

        public int InputLength { get; } = inputLength;

        public Task? Done { get; set; }

        public byte[]? Output { get; private set; }

        public int OutputLength { get; private set; }

        public uint Crc { get; private set; }

        public void Compress()
        {
            ReadOnlySpan<byte> data = _input.AsSpan(0, InputLength);
            Crc = Crc32.Append(0, data);

            // Incompressible input becomes stored blocks (5 bytes per block of up to 64 KiB); with the
            // sync-flush and final markers that stays far below this bound.
            int bound = InputLength + (InputLength >> 6) + 1024;
            Output = ArrayPool<byte>.Shared.Rent(bound);
            if (InputLength == 0)
            {
                // Only the last chunk can be empty (input ended on a chunk boundary, or no input at
                // all); DeflateStream writes nothing without input, so end the stream by hand with an
                // empty final block: BFINAL 1, BTYPE 01 (fixed Huffman), end-of-block code 0000000.
                Output[0] = 0x03;
                Output[1] = 0x00;
                OutputLength = 2;
                ArrayPool<byte>.Shared.Return(_input!);
                _input = null;
                return;
            }

            var sink = new MemoryStream(Output, 0, Output.Length, writable: true);
            var deflate = new DeflateStream(sink, new ZLibCompressionOptions { CompressionLevel = level }, leaveOpen: true);
            try
            {
                deflate.Write(data);
                if (!final)
                {
                    // Sync flush: everything so far, then an empty stored block (byte aligned, not final).
                    deflate.Flush();
                    OutputLength = (int)sink.Position;
                }
            }
            finally
            {
                // Finishing adds a final block; for a non-final chunk those bytes are not used.
                deflate.Dispose();
            }

            if (final)
            {
                OutputLength = (int)sink.Position;
            }

            ArrayPool<byte>.Shared.Return(_input!);
            _input = null;
        }

        public void Return()
        {
            if (_input is not null)
            {
                ArrayPool<byte>.Shared.Return(_input);
                _input = null;
            }

            if (Output is not null)
            {
                ArrayPool<byte>.Shared.Return(Output);
                Output = null;
            }
        }
    }
}
