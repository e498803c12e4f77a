using System.Buffers;
using DiskImage.Compression.Bzip2;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// Writes one bzip2 stream (block size 900k, <c>BZh9</c>) whose blocks are compressed on worker threads, as lbzip2
/// does. The calling thread applies bzip2's first run-length stage (RLE1: a run of 4 to 255 equal bytes becomes four
/// bytes and a count) and cuts blocks where bzip2 does (at 899,981 bytes after RLE1; a run being counted goes to the
/// next block); each block is then encoded on its own by <see cref="Bzip2BlockEncoder"/> (blocks are independent:
/// each restarts the transform, the move-to-front and the Huffman coding and carries its own CRC), and the blocks'
/// bits are concatenated, in order and not byte-aligned, after one stream header; the stream CRC combines the block
/// CRCs and follows the end-of-stream marker. The result is one stream, as the kernel requires of an initramfs
/// segment. Block boundaries depend only on the input, so the bytes are the same for any worker count and timing.
/// </summary>
internal sealed class ParallelBzip2WriteStream : WriteOnlyStreamBase
{
    /// <summary>
    /// A block is cut once it holds this many RLE1 bytes (bzip2's own limit for 900k blocks); the last run added
    /// (at most 5 bytes) keeps it within the 900,000 the decoder accepts.
    /// </summary>
    public const int BlockFill = Bzip2BlockEncoder.MaxBlockLength - 19;

    private const ulong EndMagic = 0x177245385090;

    private readonly Stream _output;
    private readonly int _maxInFlight;
    private readonly bool _parallel;
    private readonly Queue<Chunk> _inFlight = new();
    private readonly byte[] _pending = new byte[64 * 1024];
    private byte[] _block = ArrayPool<byte>.Shared.Rent(Bzip2BlockEncoder.MaxBlockLength);
    private int _blockLength;
    private int _runByte = -1;
    private int _runLength;
    private uint _combinedCrc;
    private ulong _bits;
    private int _bitCount;
    private int _pendingLength;
    private bool _closed;

    /// <param name="output">Receives the stream.</param>
    /// <param name="workers">Worker threads; 0 compresses each block on the calling thread (same bytes).</param>
    public ParallelBzip2WriteStream(Stream output, int workers)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(workers);
        _output = output;
        _parallel = workers > 0;
        _maxInFlight = workers == 0 ? 1 : (2 * workers) + 1;
        PutBits(0x425A6839, 32); // "BZh9"
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        int runByte = _runByte;
        int runLength = _runLength;
        byte[] block = _block;
        int length = _blockLength;
        foreach (byte b in buffer)
        {
            if (b == runByte && runLength < 255)
            {
                runLength++;
                continue;
            }

            if (runLength == 1 && length < BlockFill - 1)
            {
                // The common case: a single byte that leaves the block short of full.
                block[length++] = (byte)runByte;
            }
            else if (runLength > 0)
            {
                _blockLength = length;
                AddRun((byte)runByte, runLength);
                block = _block;
                length = _blockLength;
            }

            runByte = b;
            runLength = 1;
        }

        _blockLength = length;
        _runByte = runByte;
        _runLength = runLength;
        while (_inFlight.Count > 0 && _inFlight.Peek().Done.IsCompleted)
        {
            WriteOldest();
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_closed)
        {
            _closed = true;
            try
            {
                if (_runLength > 0)
                {
                    AddRun((byte)_runByte, _runLength);
                    _runLength = 0;
                }

                if (_blockLength > 0)
                {
                    Submit();
                }

                while (_inFlight.Count > 0)
                {
                    WriteOldest();
                }

                PutBits(EndMagic, 48);
                PutBits(_combinedCrc, 32);
                if (_bitCount > 0)
                {
                    PutBits(0, 8 - _bitCount);
                }

                FlushPending();
            }
            finally
            {
                // After a failure: let the workers finish before the buffers go.
                foreach (Chunk chunk in _inFlight)
                {
                    try
                    {
                        chunk.Done.Wait();
                    }
                    catch (AggregateException)
                    {
                        // Already reported by the write that failed, or superseded by the failure being unwound.
                    }

                    chunk.ReturnOutput();
                }

                _inFlight.Clear();
                ArrayPool<byte>.Shared.Return(_block);
            }
        }

        base.Dispose(disposing);
    }

    /// <summary>Adds one run (1–255 equal bytes) to the block as RLE1 writes it; cuts the block when it is full.</summary>
    private void AddRun(byte value, int length)
    {
        byte[] block = _block;
        int at = _blockLength;
        block[at++] = value;
        if (length > 1)
        {
            block[at++] = value;
            if (length > 2)
            {
                block[at++] = value;
                if (length > 3)
                {
                    block[at++] = value;
                    block[at++] = (byte)(length - 4);
                }
            }
        }

        _blockLength = at;
        if (at >= BlockFill)
        {
            Submit();
            while (_inFlight.Count >= _maxInFlight)
            {
                WriteOldest();
            }
        }
    }

    private void Submit()
    {
        var chunk = new Chunk(_block, _blockLength);
        _block = ArrayPool<byte>.Shared.Rent(Bzip2BlockEncoder.MaxBlockLength);
        _blockLength = 0;
        if (_parallel)
        {
            chunk.Done = Task.Factory.StartNew(static c => ((Chunk)c!).Compress(), chunk, CancellationToken.None, TaskCreationOptions.DenyChildAttach, TaskScheduler.Default);
        }
        else
        {
            chunk.Compress();
        }

        _inFlight.Enqueue(chunk);
    }

    private void WriteOldest()
    {
        Chunk chunk = _inFlight.Peek();
        chunk.Done.GetAwaiter().GetResult();
        _inFlight.Dequeue();
        try
        {
            _combinedCrc = Bzip2Crc.CombineStream(_combinedCrc, chunk.BlockCrc);
            byte[] bits = chunk.Output!;
            long length = chunk.BlockBits;
            int whole = (int)(length >> 3);
            PutBytes(bits.AsSpan(0, whole));
            int rest = (int)(length & 7);
            if (rest > 0)
            {
                PutBits((uint)bits[whole] >> (8 - rest), rest);
            }
        }
        finally
        {
            chunk.ReturnOutput();
        }
    }

    private void PutBytes(ReadOnlySpan<byte> bytes)
    {
        if (_bitCount == 0)
        {
            while (!bytes.IsEmpty)
            {
                int n = Math.Min(bytes.Length, _pending.Length - _pendingLength);
                bytes[..n].CopyTo(_pending.AsSpan(_pendingLength));
                _pendingLength += n;
                bytes = bytes[n..];
                if (_pendingLength == _pending.Length)
                {
                    FlushPending();
                }
            }

            return;
        }

        // Not byte-aligned: each output byte takes the held bits and the top of the next input byte.
        ulong held = _bits;
        int shift = _bitCount;
        byte[] pending = _pending;
        foreach (byte b in bytes)
        {
            held = (held << 8) | b;
            pending[_pendingLength++] = (byte)(held >> shift);
            if (_pendingLength == pending.Length)
            {
                FlushPending();
            }
        }

        _bits = held;
    }

    private void PutBits(ulong value, int count)
    {
        // Bits go out most significant first; at most 56 are held at once.
        while (count > 0)
        {
            int n = Math.Min(count, 32);
            count -= n;
            ulong part = (value >> count) & ((1UL << n) - 1);
            _bits = (_bits << n) | part;
            _bitCount += n;
            while (_bitCount >= 8)
            {
                _bitCount -= 8;
                _pending[_pendingLength++] = (byte)(_bits >> _bitCount);
                if (_pendingLength == _pending.Length)
                {
                    FlushPending();
                }
            }
        }
    }

    private void FlushPending()
    {
        _output.Write(_pending, 0, _pendingLength);
        _pendingLength = 0;
    }

    private sealed class Chunk(byte[] block, int length)
    {
        private byte[]? _block = block;

        public Task Done { get; set; } = Task.CompletedTask;

        /// <summary>The block's bits from the first, in a pooled array.</summary>
        public byte[]? Output { get; private set; }

        /// <summary>The length in bits of the block (from its magic to the end of its Huffman data).</summary>
        public long BlockBits { get; private set; }

        public uint BlockCrc { get; private set; }

        public void Compress()
        {
            try
            {
                byte[] output = ArrayPool<byte>.Shared.Rent(Bzip2BlockEncoder.MaxOutputBytes(length));
                try
                {
                    BlockBits = Bzip2BlockEncoder.Encode(_block.AsSpan(0, length), output, out uint crc);
                    BlockCrc = crc;
                }
                catch
                {
                    ArrayPool<byte>.Shared.Return(output);
                    throw;
                }

                Output = output;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(_block!);
                _block = null;
            }
        }

        public void ReturnOutput()
        {
            if (Output is { } output)
            {
                Output = null;
                ArrayPool<byte>.Shared.Return(output);
            }
        }
    }
}
