using System.Buffers.Binary;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// Passes exactly one zstd frame (RFC 8878 §3.1.1) through from an <see cref="ArchiveInput"/> by
/// walking its frame header and block headers, so the decoder cannot read past the frame and the
/// next segment starts where the kernel would look for it. Checks the window size on the way.
/// </summary>
internal sealed class ZstdFrameStream : ReadOnlyStreamBase
{
    private const string Structure = "zstd segment";
    private const int MaxBlockSize = 128 * 1024;
    private readonly ArchiveInput _input;
    private readonly long _offset;
    private readonly bool _hasChecksum;
    private long _partLeft;
    private int _state; // 0 header done → blocks, 1 checksum pending, 2 done

    public ZstdFrameStream(ArchiveInput input, long maxWindowSize)
    {
        _input = input;
        _offset = input.Position;
        if (!input.Ensure(6))
        {
            FormatError.Throw(Structure, _offset, "truncated frame header");
        }

        ReadOnlySpan<byte> h = input.Buffered;
        if (BinaryPrimitives.ReadUInt32LittleEndian(h) != 0xFD2FB528)
        {
            FormatError.Throw(Structure, _offset, "bad magic");
        }

        byte fhd = h[4];
        int fcsFlag = fhd >> 6;
        bool singleSegment = (fhd & 0x20) != 0;
        if ((fhd & 0x08) != 0)
        {
            FormatError.Throw(Structure, _offset, "reserved frame header bit set");
        }

        _hasChecksum = (fhd & 0x04) != 0;
        int dictIdSize = (fhd & 3) switch { 0 => 0, 1 => 1, 2 => 2, _ => 4 };
        int fcsSize = fcsFlag switch { 0 => singleSegment ? 1 : 0, 1 => 2, 2 => 4, _ => 8 };
        int headerSize = 5 + (singleSegment ? 0 : 1) + dictIdSize + fcsSize;
        if (!input.Ensure(headerSize))
        {
            FormatError.Throw(Structure, _offset, "truncated frame header");
        }

        h = input.Buffered;
        ulong window;
        int p = 5;
        if (!singleSegment)
        {
            byte wd = h[p++];
            int exponent = (wd >> 3) + 10;
            ulong windowBase = 1UL << exponent;
            window = windowBase + ((windowBase / 8) * (ulong)(wd & 7));
        }
        else
        {
            window = 0;
        }

        if (dictIdSize > 0)
        {
            uint dictId = dictIdSize switch { 1 => h[p], 2 => BinaryPrimitives.ReadUInt16LittleEndian(h[p..]), _ => BinaryPrimitives.ReadUInt32LittleEndian(h[p..]) };
            if (dictId != 0)
            {
                FormatError.Unsupported("zstd frames that need a dictionary are not supported (nor by the kernel).");
            }

            p += dictIdSize;
        }

        if (singleSegment)
        {
            window = fcsSize switch
            {
                1 => h[p],
                2 => BinaryPrimitives.ReadUInt16LittleEndian(h[p..]) + 256UL,
                4 => BinaryPrimitives.ReadUInt32LittleEndian(h[p..]),
                _ => BinaryPrimitives.ReadUInt64LittleEndian(h[p..]),
            };
        }

        WindowSize = window;
        if (window > (ulong)maxWindowSize)
        {
            FormatError.Throw(Structure, _offset, $"window size {window} exceeds the limit of {maxWindowSize} bytes");
        }

        _partLeft = headerSize;
    }

    /// <summary>The frame's window size (for single-segment frames, the content size).</summary>
    public ulong WindowSize { get; }

    public override int Read(Span<byte> buffer)
    {
        while (_partLeft == 0)
        {
            if (_state == 2 || buffer.IsEmpty)
            {
                return 0;
            }

            NextPart();
        }

        int want = (int)Math.Min(buffer.Length, _partLeft);
        int n = _input.Read(buffer[..want]);
        if (n == 0)
        {
            FormatError.Throw(Structure, _offset, "truncated frame");
        }

        _partLeft -= n;
        return n;
    }

    private void NextPart()
    {
        if (_state == 1)
        {
            _state = 2;
            _partLeft = _hasChecksum ? 4 : 0;
            return;
        }

        if (!_input.Ensure(3))
        {
            FormatError.Throw(Structure, _offset, "truncated block header");
        }

        ReadOnlySpan<byte> b = _input.Buffered;
        uint header = b[0] | ((uint)b[1] << 8) | ((uint)b[2] << 16);
        bool last = (header & 1) != 0;
        int type = (int)((header >> 1) & 3);
        int size = (int)(header >> 3);
        if (type == 3 || size > MaxBlockSize)
        {
            FormatError.Throw(Structure, _offset, "invalid block header");
        }

        _partLeft = 3 + (type == 1 ? 1 : size);
        if (last)
        {
            _state = 1;
        }
    }
}
