namespace DiskImage.IO;

/// <summary>The seek rule shared by the library's seekable streams (those of devices and of files in file systems).</summary>
internal static class StreamSeek
{
    /// <summary>
    /// The position <see cref="Stream.Seek"/> moves to: <paramref name="offset"/> from the start, the current
    /// <paramref name="position"/> or the end (<paramref name="length"/>). A target below 0 throws
    /// <see cref="IOException"/>, as does one below <paramref name="appendFloor"/> (the end of the file when a
    /// stream was opened with <see cref="FileMode.Append"/>).
    /// </summary>
    public static long Target(long offset, SeekOrigin origin, long position, long length, long appendFloor = 0)
    {
        long target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => checked(position + offset),
            SeekOrigin.End => checked(length + offset),
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        if (target < 0)
        {
            throw new IOException("An attempt was made to move the position before the beginning of the stream.");
        }

        if (target < appendFloor)
        {
            throw new IOException("Cannot seek before the end of the file in append mode.");
        }

        return target;
    }
}
