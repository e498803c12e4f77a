using System.Security.Cryptography;

namespace DiskImage.OpenStack;

/// <summary>
/// A forward-only read view of a stream that feeds every byte read into MD5 and SHA-512 (Glance's
/// <c>checksum</c> and default <c>os_hash_value</c>), so an upload hashes its data in the same pass.
/// </summary>
internal sealed class HashingReadStream : Stream
{
    private readonly Stream _inner;
    private readonly IncrementalHash _md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
    private readonly IncrementalHash _sha512 = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);
    private long _position;

    public HashingReadStream(Stream inner) => _inner = inner;

    /// <summary>Bytes read so far.</summary>
    public long BytesRead => _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => _position; set => throw new NotSupportedException(); }

    /// <summary>The MD5 of everything read, as lower-case hex (call once, at the end).</summary>
    public string Md5Hex() => Convert.ToHexStringLower(_md5.GetHashAndReset());

    /// <summary>The SHA-512 of everything read, as lower-case hex (call once, at the end).</summary>
    public string Sha512Hex() => Convert.ToHexStringLower(_sha512.GetHashAndReset());

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n = _inner.Read(buffer);
        Add(buffer[..n]);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Add(buffer.Span[..n]);
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <summary>Releases the hash states. Disposing the stream does not (the HTTP content that reads it disposes
    /// it before the hashes are taken); the stream it reads is never disposed.</summary>
    public void ReleaseHashes()
    {
        _md5.Dispose();
        _sha512.Dispose();
    }

    private void Add(ReadOnlySpan<byte> data)
    {
        _md5.AppendData(data);
        _sha512.AppendData(data);
        _position += data.Length;
    }
}
