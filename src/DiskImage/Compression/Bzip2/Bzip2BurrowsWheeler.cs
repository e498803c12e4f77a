namespace DiskImage.Compression.Bzip2;

/// <summary>
/// bzip2's Burrows–Wheeler transform: the last column of the block's cyclic rotations in sorted order, and the row
/// of the unrotated block (<c>origPtr</c>). Cyclic rotations are sorted with a suffix array: rotated to its least
/// rotation, a block that is not a power of a shorter string is a Lyndon word, and the suffixes of a Lyndon word sort
/// as its rotations do (a suffix that is a prefix of a longer one continues, as a rotation, with the whole word,
/// which is smaller than any of its proper suffixes). A block that is a power <c>v^k</c> of a Lyndon word has
/// groups of equal rotations, and any order of equal rows gives the same last column.
/// </summary>
internal static class Bzip2BurrowsWheeler
{
    /// <summary>
    /// Transforms <paramref name="block"/> into <paramref name="lastColumn"/> (same length) and returns <c>origPtr</c>.
    /// </summary>
    /// <param name="block">The block after the first run-length stage.</param>
    /// <param name="lastColumn">Receives the transform; may not overlap <paramref name="block"/>.</param>
    /// <param name="rotated">Work space of the block's length.</param>
    /// <param name="sa">Work space of the block's length.</param>
    public static int Transform(ReadOnlySpan<byte> block, Span<byte> lastColumn, Span<byte> rotated, Span<int> sa)
    {
        int n = block.Length;
        if (n == 0)
        {
            return 0;
        }

        int r = LeastRotation(block);
        rotated = rotated[..n];
        block[r..].CopyTo(rotated);
        block[..r].CopyTo(rotated[(n - r)..]);
        sa = sa[..n];
        Bzip2SuffixSorter.Sort(rotated, sa);

        // Row of the rotation that starts at the block's first byte (offset n - r of the rotated block).
        int start = r == 0 ? 0 : n - r;
        int origPtr = -1;
        byte last = rotated[n - 1];
        for (int i = 0; i < n; i++)
        {
            int p = sa[i];
            if (p == 0)
            {
                lastColumn[i] = last;
            }
            else
            {
                lastColumn[i] = rotated[p - 1];
            }

            if (p == start)
            {
                origPtr = i;
            }
        }

        return origPtr;
    }

    /// <summary>The offset of the least rotation of <paramref name="s"/> (Duval's Lyndon factorization over <c>s·s</c>).</summary>
    public static int LeastRotation(ReadOnlySpan<byte> s)
    {
        int n = s.Length;
        int twice = 2 * n;
        int i = 0;
        int answer = 0;
        while (i < n)
        {
            answer = i;
            int j = i + 1;
            int k = i;
            while (j < twice)
            {
                byte a = s[k >= n ? k - n : k];
                byte b = s[j >= n ? j - n : j];
                if (a > b)
                {
                    break;
                }

                k = a < b ? i : k + 1;
                j++;
            }

            while (i <= k)
            {
                i += j - k;
            }
        }

        return answer;
    }
}
