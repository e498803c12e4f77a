using System.Numerics;

namespace DiskImage.FileSystems.Xfs;

/// <summary>The directory and attribute name hash (<c>xfs_da_hashname</c>): 7 bits per byte, rotated, no seed.</summary>
internal static class XfsNameHash
{
    /// <summary>The hash of <paramref name="name"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> name)
    {
        uint hash = 0;
        int i = 0;
        for (; name.Length - i >= 4; i += 4)
        {
            hash = ((uint)name[i] << 21) ^ ((uint)name[i + 1] << 14) ^ ((uint)name[i + 2] << 7) ^ name[i + 3] ^ BitOperations.RotateLeft(hash, 28);
        }

        return (name.Length - i) switch
        {
            3 => ((uint)name[i] << 14) ^ ((uint)name[i + 1] << 7) ^ name[i + 2] ^ BitOperations.RotateLeft(hash, 21),
            2 => ((uint)name[i] << 7) ^ name[i + 1] ^ BitOperations.RotateLeft(hash, 14),
            1 => name[i] ^ BitOperations.RotateLeft(hash, 7),
            _ => hash,
        };
    }
}
