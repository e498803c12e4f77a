using System.Buffers;
using System.Buffers.Binary;
using SharpCompress.Compressors;
using SharpCompress.Compressors.BZip2;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// Writes one bzip2 stream (block size 900k, <c>BZh9</c>) whose blocks are compressed on worker threads, as lbzip2
/// does. bzip2 blocks are independent (each restarts its run-length, BWT, MTF and Huffman coding and carries its own
/// CRC), so the input is cut into chunks small enough to fit one block each, every chunk is compressed on its own
/// into a one-block stream, and the block's bits are taken out of it and concatenated, in order and not byte-aligned,
/// after one stream header; the stream CRC combines the block CRCs (rotate left by one, xor) and follows the
/// end-of-stream marker. The result is one stream, as the kernel requires of an initramfs segment. Chunk boundaries
/// depend only on the offset in the input, so the bytes are the same for any worker count and thread timing.
/// </summary>
internal sealed class ParallelBzip2WriteStream : WriteOnlyStreamBase
{
    /// <summary>
    /// Input bytes per block: the first run-length stage can grow input by 5/4 (a run of exactly four bytes becomes
    /// five), and a 900k block holds 899,980 bytes after it, so 719,000 input bytes always fit one block.
    /// </summary>
    public const int ChunkSize = 719_000;

    private const ulong BlockMagic = 0x314159265359;
    private const ulong EndMagic = 0x177245385090;

    private readonly Stream _output;
    private readonly int _maxInFlight;
    private readonly bool _parallel;
    private readonly Queue<Chunk> _inFlight = new();
    private readonly byte[] _pending = new byte[64 * 1024];
    private byte[] _current = ArrayPool<byte>.Shared.Rent(ChunkSize);
    private int _filled;
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
        while (!buffer.IsEmpty)
        {
            int n = Math.Min(buffer.Length, ChunkSize - _filled);
            buffer[..n].CopyTo(_current.AsSpan(_filled));
            _filled += n;
            buffer = buffer[n..];
            if (_filled == ChunkSize)
            {
                Submit();
                while (_inFlight.Count >= _maxInFlight)
                {
                    WriteOldest();
                }
            }
        }

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
                if (_filled > 0)
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
                }

                _inFlight.Clear();
                ArrayPool<byte>.Shared.Return(_current);
            }
        }

        base.Dispose(disposing);
    }

    private void Submit()
    {
        var chunk = new Chunk(_current, _filled);
        _current = ArrayPool<byte>.Shared.Rent(ChunkSize);
        _filled = 0;
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
        _combinedCrc = ((_combinedCrc << 1) | (_combinedCrc >> 31)) ^ chunk.BlockCrc;
        byte[] stream = chunk.Output!;
        long bits = chunk.BlockBits;
        int whole = (int)(bits >> 3);
        for (int i = 0; i < whole; i++)
        {
            PutBits(stream[4 + i], 8);
        }

        int rest = (int)(bits & 7);
        if (rest > 0)
        {
            PutBits((uint)stream[4 + whole] >> (8 - rest), rest);
        }
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

    private sealed class Chunk(byte[] input, int length)
    {
        private byte[]? _input = input;

        public Task Done { get; set; } = Task.CompletedTask;

        public byte[]? Output { get; private set; }

        /// <summary>The length in bits of the block (from its magic to the end of its Huffman data).</summary>
        public long BlockBits { get; private set; }

        public uint BlockCrc { get; private set; }

        public void Compress()
        {
            var sink = new MemoryStream(length + (length >> 3) + 1024);
            try
            {
                using Stream bzip2 = BZip2Stream.Create(sink, CompressionMode.Compress, decompressConcatenated: false, leaveOpen: true, tolerateTruncatedStream: false);
                bzip2.Write(_input!, 0, length);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(_input!);
                _input = null;
            }

            byte[] s = sink.GetBuffer();
            int total = (int)sink.Length;

            // "BZh9", the block magic, the block CRC; and, at the end, the end-of-stream magic and the stream CRC
            // (equal to the block CRC for one block) followed by 0-7 padding bits.
            if (total < 4 + 10 + 10 || BinaryPrimitives.ReadUInt32BigEndian(s) != 0x425A6839 || ReadBits(s, 32, 48) != BlockMagic)
            {
                throw new InvalidOperationException("The bzip2 encoder did not write the expected stream header.");
            }

            BlockCrc = (uint)ReadBits(s, 80, 32);
            long end = (long)total * 8;
            for (int pad = 0; pad < 8; pad++)
            {
                long at = end - pad - 80;
                if (ReadBits(s, at, 48) == EndMagic && (uint)ReadBits(s, at + 48, 32) == BlockCrc)
                {
                    BlockBits = at - 32;
                    Output = s;
                    return;
                }
            }

            throw new InvalidOperationException("The bzip2 encoder wrote more than one block for one chunk.");
        }

        private static ulong ReadBits(byte[] data, long bitOffset, int count)
        {
            ulong v = 0;
            for (int i = 0; i < count; i++)
            {
                long bit = bitOffset + i;
                v = (v << 1) | (uint)((data[bit >> 3] >> (7 - (int)(bit & 7))) & 1);
            }

            return v;
        }
    }
}
