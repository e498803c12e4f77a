using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace DiskImage.OpenStack.Build;

/// <summary>The SHA-256 sums <see cref="OvercloudBuilder"/> records: of its outputs, and of its inputs (the base image and <c>SOURCE_DATE_EPOCH</c>).</summary>
internal static class OvercloudHashing
{
    /// <summary>The SHA-256 of the base image's bytes and the <c>SOURCE_DATE_EPOCH</c>, and the builder's format version.</summary>
    internal static string InputHash(string basePath, long? sourceDateEpoch, CancellationToken ct)
    {
        (string baseSha, long size) = HashFile(basePath, ct);
        string text = $"diskimage-overcloud-build/1\nbase-sha256 {baseSha}\nbase-size {size}\nsource-date-epoch {sourceDateEpoch?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}\n";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    /// <summary>The SHA-256 (lower-case hex) and length of a file's bytes.</summary>
    internal static (string Sha256, long Size) HashFile(string path, CancellationToken ct)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        long total = 0;
        try
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan);
            int n;
            while ((n = f.Read(buffer, 0, buffer.Length)) > 0)
            {
                ct.ThrowIfCancellationRequested();
                sha.AppendData(buffer, 0, n);
                total += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return (Convert.ToHexStringLower(sha.GetHashAndReset()), total);
    }
}
