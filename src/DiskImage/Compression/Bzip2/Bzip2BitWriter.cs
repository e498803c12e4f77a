using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace DiskImage.Compression.Bzip2;

/// <summary>
/// Writes bits most significant first, as bzip2 stores every field, into a buffer sized by the caller for the worst
/// case (no bounds are grown).
/// </summary>
internal ref struct Bzip2BitWriter
{
    private readonly Span<byte> _buffer;
    private ulong _bits;
    private int _count;
    private int _position;

    public Bzip2BitWriter(Span<byte> buffer)
    {
        _buffer = buffer;
    }

    /// <summary>Bits written so far.</summary>
    public readonly long BitLength => ((long)_position * 8) + _count;

    /// <summary>Writes the low <paramref name="count"/> bits (0–32) of <paramref name="value"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(uint value, int count)
    {
        _bits = (_bits << count) | value;
        _count += count;
        if (_count >= 32)
        {
            _count -= 32;
            BinaryPrimitives.WriteUInt32BigEndian(_buffer[_position..], (uint)(_bits >> _count));
            _position += 4;
        }
    }

    /// <summary>Writes the pending bits, padded with zeros to a whole byte; returns the bits written before padding.</summary>
    public long Finish()
    {
        long length = BitLength;
        while (_count >= 8)
        {
            _count -= 8;
            _buffer[_position++] = (byte)(_bits >> _count);
        }

        if (_count > 0)
        {
            _buffer[_position++] = (byte)(_bits << (8 - _count));
            _count = 0;
        }

        return length;
    }
}
