namespace DiskImage.Compression.Bzip2;

/// <summary>
/// Huffman code lengths limited to <see cref="MaxCodeLength"/> bits, and bzip2's canonical codes for them (shorter
/// codes first, equal lengths in symbol order, as the decoder rebuilds them).
/// </summary>
internal static class Bzip2Huffman
{
    /// <summary>The longest code we make (the format allows 20; bzip2 itself makes at most 17).</summary>
    public const int MaxCodeLength = 17;

    /// <summary>The most symbols in an alphabet: RUNA, RUNB, 255 MTF positions, end of block.</summary>
    public const int MaxAlphabet = 258;

    /// <summary>
    /// Code lengths (1 to <see cref="MaxCodeLength"/>) for every symbol of <paramref name="frequencies"/>, also those
    /// that never occur (a table must code every symbol of the alphabet). When the tree is too deep the weights are
    /// halved (keeping them above zero) and the tree is built again.
    /// </summary>
    public static void BuildLengths(ReadOnlySpan<int> frequencies, Span<byte> lengths)
    {
        int n = frequencies.Length;
        Span<long> weight = stackalloc long[2 * MaxAlphabet];
        Span<long> order = stackalloc long[MaxAlphabet];
        Span<short> parent = stackalloc short[2 * MaxAlphabet];
        Span<byte> depth = stackalloc byte[2 * MaxAlphabet];
        Span<int> w = stackalloc int[MaxAlphabet];
        for (int i = 0; i < n; i++)
        {
            w[i] = Math.Max(frequencies[i], 1);
        }

        while (true)
        {
            // Leaves in order of weight (ties by symbol), then the two-queue construction: internal nodes are made
            // in order of non-decreasing weight, so the smallest two are always at the two queues' fronts.
            for (int i = 0; i < n; i++)
            {
                order[i] = ((long)w[i] << 9) | (uint)i;
            }

            order[..n].Sort();
            for (int i = 0; i < n; i++)
            {
                weight[i] = order[i] >> 9;
            }

            int leaf = 0;
            int inner = n;
            int made = n;
            while (made < (2 * n) - 1)
            {
                int a = Take(weight, ref leaf, n, ref inner, made);
                int b = Take(weight, ref leaf, n, ref inner, made);
                weight[made] = weight[a] + weight[b];
                parent[a] = (short)made;
                parent[b] = (short)made;
                made++;
            }

            int root = made - 1;
            depth[root] = 0;
            int deepest = 0;
            for (int node = root - 1; node >= 0; node--)
            {
                int d = depth[parent[node]] + 1;
                depth[node] = (byte)Math.Min(d, 255);
                if (node < n && d > deepest)
                {
                    deepest = d;
                }
            }

            if (deepest <= MaxCodeLength)
            {
                for (int i = 0; i < n; i++)
                {
                    lengths[(int)(order[i] & 511)] = depth[i];
                }

                return;
            }

            for (int i = 0; i < n; i++)
            {
                w[i] = 1 + (w[i] >> 1);
            }
        }
    }

    /// <summary>Canonical codes for <paramref name="lengths"/>, as bzip2's decoder assigns them.</summary>
    public static void AssignCodes(ReadOnlySpan<byte> lengths, Span<uint> codes)
    {
        uint code = 0;
        for (int length = 1; length <= 20; length++)
        {
            for (int i = 0; i < lengths.Length; i++)
            {
                if (lengths[i] == length)
                {
                    codes[i] = code++;
                }
            }

            code <<= 1;
        }
    }

    private static int Take(ReadOnlySpan<long> weight, ref int leaf, int leaves, ref int inner, int made)
    {
        if (leaf < leaves && (inner >= made || weight[leaf] <= weight[inner]))
        {
            return leaf++;
        }

        return inner++;
    }
}
