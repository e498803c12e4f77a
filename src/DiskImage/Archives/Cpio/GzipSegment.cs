using System.Buffers.Binary;
using System.IO.Compression;
using DiskImage.Compression;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// Decodes exactly one gzip member (RFC 1952) from an <see cref="ArchiveInput"/>, verifies CRC32 and
/// ISIZE, and leaves the input just after the member's trailer so the next segment can follow.
/// </summary>
internal sealed class GzipMemberReadStream : ReadOnlyStreamBase
{
    private const string Structure = "gzip segment";
    private const int Chunk = 4096;
    private const int SearchWindow = 16 * 1024;
    private readonly ArchiveInput _input;
    private readonly long _segmentOffset;
    private readonly DeflateStream _deflate;
    private readonly long _deflateStart;
    private uint _crc;
    private uint _size;
    private bool _done;

    public GzipMemberReadStream(ArchiveInput input)
    {
        _input = input;
        _segmentOffset = input.Position;
        ReadHeader();
        _deflateStart = input.Position;
        _deflate = new DeflateStream(new ArchiveInputStream(input, Chunk), CompressionMode.Decompress, leaveOpen: false);
    }

    public override int Read(Span<byte> buffer)
    {
        if (_done || buffer.IsEmpty)
        {
            return 0;
        }

        int n = _deflate.Read(buffer);
        if (n > 0)
        {
            _crc = Crc32.Append(_crc, buffer[..n]);
            _size += (uint)n;
            return n;
        }

        FindTrailer();
        _done = true;
        return 0;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _deflate.Dispose();
        }

        base.Dispose(disposing);
    }

    private void FindTrailer()
    {
        // DeflateStream reads ahead by up to one chunk and does not say where the deflate data ended;
        // the trailer (CRC32, ISIZE) must follow it, so step back and find it.
        Span<byte> expected = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(expected, _crc);
        BinaryPrimitives.WriteUInt32LittleEndian(expected[4..], _size);
        int back = (int)Math.Min(Math.Min(SearchWindow, _input.UnreadableBytes), _input.Position - _deflateStart);
        _input.TryUnread(back);
        _input.Ensure(back + 8);
        ReadOnlySpan<byte> window = _input.Buffered;
        int limit = Math.Min(window.Length, back + 8);
        int at = window[..limit].IndexOf(expected);
        if (at < 0)
        {
            _input.Advance(Math.Min(back, window.Length));
            FormatError.Throw(Structure, _segmentOffset, "CRC32/ISIZE trailer does not match the decompressed data (corrupt or truncated)");
        }

        _input.Advance(at + 8);
    }

    private void ReadHeader()
    {
        if (!_input.Ensure(10))
        {
            FormatError.Throw(Structure, _segmentOffset, "truncated header");
        }

        ReadOnlySpan<byte> h = _input.Buffered;
        if (h[0] != 0x1F || h[1] != 0x8B || h[2] != 8)
        {
            FormatError.Throw(Structure, _segmentOffset, "not a deflate gzip member");
        }

        byte flags = h[3];
        if ((flags & 0xE0) != 0)
        {
            FormatError.Throw(Structure, _segmentOffset, "reserved header flags set");
        }

        _input.Advance(10);
        if ((flags & 0x04) != 0)
        {
            if (!_input.Ensure(2))
            {
                FormatError.Throw(Structure, _segmentOffset, "truncated extra field");
            }

            int xlen = BinaryPrimitives.ReadUInt16LittleEndian(_input.Buffered);
            _input.Advance(2);
            if (!_input.Ensure(xlen))
            {
                FormatError.Throw(Structure, _segmentOffset, "truncated extra field");
            }

            _input.Advance(xlen);
        }

        for (int bit = 0x08; bit <= 0x10; bit <<= 1)
        {
            if ((flags & bit) == 0)
            {
                continue;
            }

            // FNAME / FCOMMENT: NUL-terminated, bounded so hostile input cannot make us scan forever.
            int scanned = 0;
            while (true)
            {
                if (!_input.Ensure(1) || scanned > 64 * 1024)
                {
                    FormatError.Throw(Structure, _segmentOffset, "unterminated file name or comment");
                }

                int nul = _input.Buffered.IndexOf((byte)0);
                if (nul >= 0)
                {
                    _input.Advance(nul + 1);
                    break;
                }

                scanned += _input.Buffered.Length;
                _input.Advance(_input.Buffered.Length);
            }
        }

        if ((flags & 0x02) != 0)
        {
            if (!_input.Ensure(2))
            {
                FormatError.Throw(Structure, _segmentOffset, "truncated header CRC");
            }

            _input.Advance(2);
        }
    }
}
