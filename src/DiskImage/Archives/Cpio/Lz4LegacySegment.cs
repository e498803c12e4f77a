using System.Buffers;
using System.Buffers.Binary;
using K4os.Compression.LZ4;

namespace DiskImage.Archives.Cpio;

/// <summary>LZ4 legacy frame (<c>lz4 -l</c>, kernel <c>lib/decompress_unlz4.c</c>): magic, then blocks of [LE32 size][LZ4 block] of at most 8 MiB each, no end marker.</summary>
internal static class Lz4Legacy
{
    public const uint Magic = 0x184C2102;
    public const int BlockSize = 8 << 20;
    public static readonly int MaxCompressedBlock = LZ4Codec.MaximumOutputSize(BlockSize);
}

/// <summary>
/// Decodes an LZ4 legacy frame. Like the kernel since 2021 it ends at the end of the input, at a zero
/// or short size word (padding), and additionally at a size word no LZ4 block can have (another segment follows).
/// </summary>
internal sealed class Lz4LegacyReadStream : ReadOnlyStreamBase
{
    private const string Structure = "lz4 segment";
    private readonly ArchiveInput _input;
    private readonly long _offset;
    private byte[]? _compressed;
    private byte[]? _block;
    private int _blockPos;
    private int _blockLen;
    private bool _done;

    public Lz4LegacyReadStream(ArchiveInput input)
    {
        _input = input;
        _offset = input.Position;
        if (!input.Ensure(4) || BinaryPrimitives.ReadUInt32LittleEndian(input.Buffered) != Lz4Legacy.Magic)
        {
            FormatError.Throw(Structure, _offset, "bad magic");
        }

        input.Advance(4);
    }

    /// <summary>Whether the frame ended at a size word that cannot start an LZ4 block (the kernel would reject what follows).</summary>
    public bool EndedBeforeJunk { get; private set; }

    public override int Read(Span<byte> buffer)
    {
        while (_blockPos == _blockLen)
        {
            if (_done || buffer.IsEmpty || !NextBlock())
            {
                _done = true;
                return 0;
            }
        }

        int n = Math.Min(buffer.Length, _blockLen - _blockPos);
        _block.AsSpan(_blockPos, n).CopyTo(buffer);
        _blockPos += n;
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (_compressed is not null)
        {
            ArrayPool<byte>.Shared.Return(_compressed);
            _compressed = null;
        }

        if (_block is not null)
        {
            ArrayPool<byte>.Shared.Return(_block);
            _block = null;
        }

        base.Dispose(disposing);
    }

    private bool NextBlock()
    {
        while (true)
        {
            if (!_input.Ensure(4))
            {
                return false;
            }

            uint size = BinaryPrimitives.ReadUInt32LittleEndian(_input.Buffered);
            if (size == Lz4Legacy.Magic)
            {
                _input.Advance(4);
                continue;
            }

            if (size == 0)
            {
                return false;
            }

            // A size word no LZ4 block can have (e.g. "0707" of a cpio header, or the zstd/xz/bzip2
            // magic): the frame has ended. The kernel would fail here; the reader warns instead.
            // A gzip magic reads as a plausible size, so gzip after lz4 fails as it does in the kernel.
            if (size > (uint)Lz4Legacy.MaxCompressedBlock)
            {
                EndedBeforeJunk = true;
                return false;
            }

            _input.Advance(4);
            _compressed ??= ArrayPool<byte>.Shared.Rent(Lz4Legacy.MaxCompressedBlock);
            _block ??= ArrayPool<byte>.Shared.Rent(Lz4Legacy.BlockSize);
            int got = 0;
            while (got < (int)size)
            {
                int n = _input.Read(_compressed.AsSpan(got, (int)size - got));
                if (n == 0)
                {
                    FormatError.Throw(Structure, _offset, "truncated block");
                }

                got += n;
            }

            int decoded = LZ4Codec.Decode(_compressed.AsSpan(0, got), _block.AsSpan(0, Lz4Legacy.BlockSize));
            if (decoded < 0)
            {
                FormatError.Throw(Structure, _offset, "corrupt LZ4 block");
            }

            _blockPos = 0;
            _blockLen = decoded;
            return true;
        }
    }
}

/// <summary>Writes an LZ4 legacy frame with 8 MiB blocks compressed by K4os.</summary>
internal sealed class Lz4LegacyWriteStream : WriteOnlyStreamBase
{
    private readonly Stream _output;
    private readonly LZ4Level _level;
    private byte[]? _block;
    private byte[]? _compressed;
    private int _fill;

    public Lz4LegacyWriteStream(Stream output, LZ4Level level)
    {
        _output = output;
        _level = level;
        Span<byte> magic = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(magic, Lz4Legacy.Magic);
        output.Write(magic);
        _block = ArrayPool<byte>.Shared.Rent(Lz4Legacy.BlockSize);
        _compressed = ArrayPool<byte>.Shared.Rent(Lz4Legacy.MaxCompressedBlock + 4);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_block is null, this);
        while (!buffer.IsEmpty)
        {
            int n = Math.Min(buffer.Length, Lz4Legacy.BlockSize - _fill);
            buffer[..n].CopyTo(_block.AsSpan(_fill));
            _fill += n;
            buffer = buffer[n..];
            if (_fill == Lz4Legacy.BlockSize)
            {
                EmitBlock();
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (_block is not null)
        {
            if (disposing && _fill > 0)
            {
                EmitBlock();
            }

            ArrayPool<byte>.Shared.Return(_block);
            ArrayPool<byte>.Shared.Return(_compressed!);
            _block = null;
            _compressed = null;
        }

        base.Dispose(disposing);
    }

    private void EmitBlock()
    {
        int n = LZ4Codec.Encode(_block.AsSpan(0, _fill), _compressed.AsSpan(4, Lz4Legacy.MaxCompressedBlock), _level);
        if (n <= 0)
        {
            throw new InvalidOperationException("LZ4 block compression failed.");
        }

        BinaryPrimitives.WriteUInt32LittleEndian(_compressed, (uint)n);
        _output.Write(_compressed!, 0, n + 4);
        _fill = 0;
    }
}
