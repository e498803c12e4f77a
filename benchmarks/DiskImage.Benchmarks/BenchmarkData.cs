using DiskImage.IO;

namespace DiskImage.Benchmarks;

/// <summary>Deterministic test content and scratch directories shared by the benchmarks.</summary>
internal static class BenchmarkData
{
    /// <summary>Seed of every generated input, so runs are comparable.</summary>
    public const int Seed = 20261127;

    private static readonly string[] Words =
    [
        "usr", "lib", "share", "doc", "copyright", "bin", "etc", "kernel", "module", "systemd",
        "the", "of", "and", "package", "version", "license", "GNU", "Debian", "x86_64", "linux",
    ];

    /// <summary>Creates an empty scratch directory under the system temporary directory.</summary>
    public static string CreateScratchDirectory()
    {
        string path = Path.Combine(Path.GetTempPath(), "diskimage-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Deletes a scratch directory, ignoring failures (a benchmark process may be killed).</summary>
    public static void DeleteScratchDirectory(string? path)
    {
        if (path is not null && Directory.Exists(path))
        {
            try
            {
                Directory.Delete(path, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>Fills <paramref name="buffer"/> with text-like bytes (compresses roughly like files on a root file system).</summary>
    public static void FillText(Random random, Span<byte> buffer)
    {
        int i = 0;
        while (i < buffer.Length)
        {
            string word = Words[random.Next(Words.Length)];
            for (int c = 0; c < word.Length && i < buffer.Length; c++)
            {
                buffer[i++] = (byte)word[c];
            }

            if (i < buffer.Length)
            {
                buffer[i++] = random.Next(8) == 0 ? (byte)'\n' : (byte)' ';
            }
        }
    }

    /// <summary>
    /// Writes a sparse raw image of <paramref name="length"/> bytes to <paramref name="path"/>, filled
    /// per 64 KiB chunk with a mix like a used root file system: half text, a quarter random bytes
    /// (already-compressed files), an eighth explicit zeros and an eighth left as holes.
    /// </summary>
    public static void WriteMixedRawImage(string path, long length)
    {
        const int Chunk = 65536;
        var random = new Random(Seed);
        byte[] buffer = new byte[Chunk];
        using var device = FileBlockDevice.Create(path, length, overwrite: true);
        for (long offset = 0; offset < length; offset += Chunk)
        {
            int size = (int)Math.Min(Chunk, length - offset);
            Span<byte> chunk = buffer.AsSpan(0, size);
            switch (random.Next(8))
            {
                case 0 or 1 or 2 or 3:
                    FillText(random, chunk);
                    device.Write(offset, chunk);
                    break;
                case 4 or 5:
                    random.NextBytes(chunk);
                    device.Write(offset, chunk);
                    break;
                case 6:
                    chunk.Clear();
                    device.Write(offset, chunk);
                    break;
                default:
                    break; // hole
            }
        }

        device.Flush();
    }
}
