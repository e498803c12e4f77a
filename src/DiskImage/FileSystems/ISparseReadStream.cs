namespace DiskImage.FileSystems;

/// <summary>
/// A file stream that knows where its holes are, so a copy can skip them in one step instead of
/// reading gigabytes of zeros (a sparse file may be terabytes long but hold a few blocks).
/// </summary>
internal interface ISparseReadStream
{
    /// <summary>
    /// The first offset at or after <paramref name="position"/> that may hold data (not a hole), or the
    /// stream's length when only holes follow.
    /// </summary>
    long NextDataOffset(long position);
}
