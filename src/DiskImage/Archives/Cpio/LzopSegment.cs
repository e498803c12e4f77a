using System.Buffers;
using System.Buffers.Binary;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// Decodes an lzop stream (the container the kernel's <c>lib/decompress_unlzo.c</c> reads) with an
/// LZO1X decompressor; block checksums are skipped, as the kernel skips them.
/// </summary>
internal sealed class LzopReadStream : ReadOnlyStreamBase
{
    private const string Structure = "lzo segment";
    private const int MaxBlock = 8 << 20;
    private readonly ArchiveInput _input;
    private readonly long _offset;
    private readonly uint _flags;
    private byte[]? _src;
    private byte[]? _dst;
    private int _pos;
    private int _len;
    private bool _done;

    public LzopReadStream(ArchiveInput input)
    {
        _input = input;
        _offset = input.Position;
        _flags = ReadHeader();
    }

    public override int Read(Span<byte> buffer)
    {
        while (_pos == _len)
        {
            if (_done || buffer.IsEmpty || !NextBlock())
            {
                _done = true;
                return 0;
            }
        }

        int n = Math.Min(buffer.Length, _len - _pos);
        _dst.AsSpan(_pos, n).CopyTo(buffer);
        _pos += n;
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (_src is not null)
        {
            ArrayPool<byte>.Shared.Return(_src);
            _src = null;
        }

        if (_dst is not null)
        {
            ArrayPool<byte>.Shared.Return(_dst);
            _dst = null;
        }

        base.Dispose(disposing);
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (!_input.Ensure(count))
        {
            FormatError.Throw(Structure, _offset, "truncated");
        }

        ReadOnlySpan<byte> span = _input.Buffered[..count];
        _input.Advance(count);
        return span;
    }

    private uint ReadHeader()
    {
        Take(9);
        ushort version = BinaryPrimitives.ReadUInt16BigEndian(Take(2));
        Take(2); // library version
        if (version >= 0x0940)
        {
            Take(2); // version needed to extract
        }

        byte method = Take(1)[0];
        if (method is not (1 or 2 or 3))
        {
            FormatError.Throw(Structure, _offset, $"unsupported method {method}");
        }

        if (version >= 0x0940)
        {
            Take(1); // level
        }

        uint flags = BinaryPrimitives.ReadUInt32BigEndian(Take(4));
        if ((flags & 0x800) != 0)
        {
            Take(4); // filter
        }

        Take(version >= 0x0940 ? 12 : 8); // mode, mtime (low/high)
        int nameLength = Take(1)[0];
        Take(nameLength);
        Take(4); // header checksum
        if ((flags & 0x40) != 0)
        {
            FormatError.Unsupported("lzop extra header fields are not supported (nor by the kernel).");
        }

        return flags;
    }

    private bool NextBlock()
    {
        uint dstLen = BinaryPrimitives.ReadUInt32BigEndian(Take(4));
        if (dstLen == 0)
        {
            return false;
        }

        uint srcLen = BinaryPrimitives.ReadUInt32BigEndian(Take(4));
        if (dstLen > MaxBlock || srcLen > dstLen || srcLen == 0)
        {
            FormatError.Throw(Structure, _offset, $"invalid block sizes {srcLen}/{dstLen}");
        }

        int checks = ((_flags & 1) != 0 ? 4 : 0) + ((_flags & 0x100) != 0 ? 4 : 0);
        if (srcLen < dstLen)
        {
            checks += ((_flags & 2) != 0 ? 4 : 0) + ((_flags & 0x200) != 0 ? 4 : 0);
        }

        Take(checks);
        _src ??= ArrayPool<byte>.Shared.Rent(MaxBlock);
        _dst ??= ArrayPool<byte>.Shared.Rent(MaxBlock);
        int got = 0;
        while (got < (int)srcLen)
        {
            int n = _input.Read(_src.AsSpan(got, (int)srcLen - got));
            if (n == 0)
            {
                FormatError.Throw(Structure, _offset, "truncated block");
            }

            got += n;
        }

        if (srcLen == dstLen)
        {
            _src.AsSpan(0, got).CopyTo(_dst);
        }
        else if (!Lzo1x.TryDecompress(_src.AsSpan(0, got), _dst.AsSpan(0, (int)dstLen), out int written) || written != dstLen)
        {
            FormatError.Throw(Structure, _offset, "corrupt LZO1X block");
        }

        _pos = 0;
        _len = (int)dstLen;
        return true;
    }
}

/// <summary>LZO1X decompressor with full bounds checking (format as documented in the kernel's <c>lzo/LZO.txt</c>).</summary>
internal static class Lzo1x
{
    public static bool TryDecompress(ReadOnlySpan<byte> src, Span<byte> dst, out int written)
    {
        written = 0;
        int ip = 0, op = 0, state = 0, t = 0, next = 0, mPos;
        int jump = 0; // 1: copy a literal run of t bytes; 2: finish a match (copy next literals)
        if (src.IsEmpty)
        {
            return false;
        }

        if (src[0] > 17)
        {
            t = src[ip++] - 17;
            if (t < 4)
            {
                next = t;
                jump = 2;
            }
            else
            {
                jump = 1;
            }
        }

        while (true)
        {
            if (jump == 1)
            {
                jump = 0;
                if (ip + t > src.Length || op + t > dst.Length)
                {
                    return false;
                }

                src.Slice(ip, t).CopyTo(dst[op..]);
                ip += t;
                op += t;
                state = 4;
                continue;
            }

            if (jump == 2)
            {
                jump = 0;
                state = next;
                t = next;
                if (ip + t > src.Length || op + t > dst.Length)
                {
                    return false;
                }

                src.Slice(ip, t).CopyTo(dst[op..]);
                ip += t;
                op += t;
                continue;
            }

            if (ip >= src.Length)
            {
                return false;
            }

            t = src[ip++];
            if (t < 16)
            {
                if (state == 0)
                {
                    if (t == 0 && !LongLength(src, ref ip, 15, ref t))
                    {
                        return false;
                    }

                    t += 3;
                    jump = 1;
                    continue;
                }

                if (ip >= src.Length)
                {
                    return false;
                }

                next = t & 3;
                if (state != 4)
                {
                    mPos = op - 1 - (t >> 2) - (src[ip++] << 2);
                    t = 2;
                }
                else
                {
                    mPos = op - (1 + 0x800) - (t >> 2) - (src[ip++] << 2);
                    t = 3;
                }
            }
            else if (t >= 64)
            {
                if (ip >= src.Length)
                {
                    return false;
                }

                next = t & 3;
                mPos = op - 1 - ((t >> 2) & 7) - (src[ip++] << 3);
                t = (t >> 5) - 1 + 2;
            }
            else if (t >= 32)
            {
                t = (t & 31) + 2;
                if (t == 2 && !LongLength(src, ref ip, 31, ref t))
                {
                    return false;
                }

                if (ip + 2 > src.Length)
                {
                    return false;
                }

                next = BinaryPrimitives.ReadUInt16LittleEndian(src[ip..]);
                ip += 2;
                mPos = op - 1 - (next >> 2);
                next &= 3;
            }
            else
            {
                mPos = op - ((t & 8) << 11);
                t = (t & 7) + 2;
                if (t == 2 && !LongLength(src, ref ip, 7, ref t))
                {
                    return false;
                }

                if (ip + 2 > src.Length)
                {
                    return false;
                }

                next = BinaryPrimitives.ReadUInt16LittleEndian(src[ip..]);
                ip += 2;
                mPos -= next >> 2;
                next &= 3;
                if (mPos == op)
                {
                    written = op;
                    return t == 3 && ip == src.Length;
                }

                mPos -= 0x4000;
            }

            if (mPos < 0 || op + t > dst.Length)
            {
                return false;
            }

            for (int i = 0; i < t; i++)
            {
                dst[op + i] = dst[mPos + i];
            }

            op += t;
            jump = 2;
        }
    }

    private static bool LongLength(ReadOnlySpan<byte> src, ref int ip, int bias, ref int t)
    {
        int zeros = 0;
        while (ip < src.Length && src[ip] == 0)
        {
            ip++;
            if (++zeros > (1 << 24))
            {
                return false;
            }
        }

        if (ip >= src.Length)
        {
            return false;
        }

        t += (zeros * 255) + bias + src[ip++];
        return true;
    }
}
