using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace DiskImage.Compression.Bzip2;

/// <summary>
/// Encodes one bzip2 block, from its block magic to the end of its Huffman-coded data, not byte-aligned: header
/// (magic, CRC, <c>randomised</c> = 0, <c>origPtr</c>), the map of bytes in use, the Huffman tables and selectors, then
/// the data. Stages: Burrows–Wheeler transform of the run-length (RLE1) encoded block, move-to-front with runs of
/// position 0 written as RUNA/RUNB digits (bijective base 2), then 2–6 Huffman tables, each 50-symbol group coded
/// by the table that codes it shortest, refined over four passes (choose tables, rebuild their lengths from the
/// groups that chose them). Work space comes from the array pool; nothing else is allocated.
/// </summary>
internal static class Bzip2BlockEncoder
{
    /// <summary>The most bytes a block may hold after RLE1 (the decoder's limit for <c>BZh9</c>).</summary>
    public const int MaxBlockLength = 900_000;

    private const int GroupSize = 50;
    private const int MaxTables = 6;
    private const int Passes = 4;
    private const int RunA = 0;
    private const int RunB = 1;

    /// <summary>An upper bound of the bytes <see cref="Encode"/> writes for a block of <paramref name="blockLength"/> bytes.</summary>
    public static int MaxOutputBytes(int blockLength)
    {
        long symbols = (long)blockLength + 1;
        long bits = 48 + 32 + 1 + 24 + 16 + 256 + 3 + 15
            + (((symbols + GroupSize - 1) / GroupSize) * MaxTables)
            + (MaxTables * (5 + (Bzip2Huffman.MaxAlphabet * 41)))
            + (symbols * Bzip2Huffman.MaxCodeLength);
        return (int)((bits + 7) / 8) + 16;
    }

    /// <summary>
    /// Writes the block made of the RLE1 bytes <paramref name="block"/> (1 to <see cref="MaxBlockLength"/> bytes) into
    /// <paramref name="output"/> (at least <see cref="MaxOutputBytes"/> long) from its first bit; returns the length in
    /// bits and the block CRC (of the bytes before RLE1).
    /// </summary>
    public static long Encode(ReadOnlySpan<byte> block, Span<byte> output, out uint blockCrc)
    {
        int n = block.Length;
        if (n < 1 || n > MaxBlockLength)
        {
            throw new ArgumentOutOfRangeException(nameof(block), n, "A bzip2 block holds 1 to 900,000 bytes.");
        }

        blockCrc = Bzip2Crc.OfRle1Block(block);
        byte[] lastArray = ArrayPool<byte>.Shared.Rent(n);
        byte[] rotatedArray = ArrayPool<byte>.Shared.Rent(n);
        int[] saArray = ArrayPool<int>.Shared.Rent(n);
        ushort[] symbolArray = ArrayPool<ushort>.Shared.Rent(n + 1);
        byte[] selectorArray = ArrayPool<byte>.Shared.Rent((n / GroupSize) + 2);
        try
        {
            Span<byte> last = lastArray.AsSpan(0, n);
            int origPtr = Bzip2BurrowsWheeler.Transform(block, last, rotatedArray, saArray);

            // Bytes in use, ascending: the decoder's initial move-to-front list.
            Span<bool> inUse = stackalloc bool[256];
            foreach (byte b in block)
            {
                inUse[b] = true;
            }

            Span<byte> list = stackalloc byte[256];
            int used = 0;
            for (int c = 0; c < 256; c++)
            {
                if (inUse[c])
                {
                    list[used++] = (byte)c;
                }
            }

            int alphabet = used + 2;
            Span<int> frequency = stackalloc int[Bzip2Huffman.MaxAlphabet];
            frequency.Clear();
            int count = MoveToFront(last, list, used, symbolArray, frequency);
            ReadOnlySpan<ushort> symbols = symbolArray.AsSpan(0, count);

            int tables = count < 200 ? 2 : count < 600 ? 3 : count < 1200 ? 4 : count < 2400 ? 5 : 6;
            int groups = (count + GroupSize - 1) / GroupSize;
            Span<byte> selectors = selectorArray.AsSpan(0, groups);
            Span<byte> lengths = stackalloc byte[MaxTables * Bzip2Huffman.MaxAlphabet];
            ChooseTables(symbols, frequency[..alphabet], tables, alphabet, selectors, lengths);

            var writer = new Bzip2BitWriter(output);
            writer.Write(0x314159, 24);
            writer.Write(0x265359, 24);
            writer.Write(blockCrc, 32);
            writer.Write(0, 1);
            writer.Write((uint)origPtr, 24);
            WriteMap(ref writer, inUse);
            writer.Write((uint)tables, 3);
            writer.Write((uint)groups, 15);
            WriteSelectors(ref writer, selectors, tables);
            WriteLengths(ref writer, lengths, tables, alphabet);
            WriteSymbols(ref writer, symbols, selectors, lengths, tables, alphabet);
            return writer.Finish();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(selectorArray);
            ArrayPool<ushort>.Shared.Return(symbolArray);
            ArrayPool<int>.Shared.Return(saArray);
            ArrayPool<byte>.Shared.Return(rotatedArray);
            ArrayPool<byte>.Shared.Return(lastArray);
        }
    }

    /// <summary>Move-to-front of the transform, runs of position 0 as RUNA/RUNB, end of block last; returns the symbol count.</summary>
    private static int MoveToFront(ReadOnlySpan<byte> last, Span<byte> list, int used, Span<ushort> output, Span<int> frequency)
    {
        int count = 0;
        int run = 0;
        byte front = list[0];
        for (int i = 0; i < last.Length; i++)
        {
            byte b = last[i];
            if (b == front)
            {
                run++;
                continue;
            }

            if (run > 0)
            {
                count = WriteRun(run, output, count, frequency);
                run = 0;
            }

            int j;
            if (list[1] == b)
            {
                list[1] = front;
                j = 1;
            }
            else
            {
                j = list[2..used].IndexOf(b) + 2;
                list[..j].CopyTo(list[1..]);
            }

            list[0] = b;
            front = b;
            output[count++] = (ushort)(j + 1);
            frequency[j + 1]++;
        }

        if (run > 0)
        {
            count = WriteRun(run, output, count, frequency);
        }

        output[count++] = (ushort)(used + 1);
        frequency[used + 1]++;
        return count;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int WriteRun(int run, Span<ushort> output, int count, Span<int> frequency)
    {
        // Bijective base 2, least significant digit first: RUNA is 1, RUNB is 2, times 2^position.
        int z = run - 1;
        while (true)
        {
            int digit = z & 1;
            output[count++] = (ushort)digit;
            frequency[digit]++;
            if (z < 2)
            {
                return count;
            }

            z = (z - 2) >> 1;
        }
    }

    /// <summary>
    /// Starts from tables that each favour one slice of the alphabet (slices of about equal total frequency), then
    /// in each pass gives every group the table that codes it in the fewest bits and rebuilds each table's lengths
    /// from the symbols of its groups.
    /// </summary>
    private static void ChooseTables(ReadOnlySpan<ushort> symbols, ReadOnlySpan<int> frequency, int tables, int alphabet, Span<byte> selectors, Span<byte> lengths)
    {
        const int A = Bzip2Huffman.MaxAlphabet;

        // Per symbol, its length in each table as 8 lanes (6 used), so one vector add costs a symbol in every table.
        Span<ushort> lanes = stackalloc ushort[A * 8];
        Span<int> tableFrequency = stackalloc int[MaxTables * A];
        lanes.Clear();

        int remaining = symbols.Length;
        int start = 0;
        for (int part = tables; part > 0; part--)
        {
            int target = remaining / part;
            int end = start - 1;
            int sum = 0;
            while (sum < target && end < alphabet - 1)
            {
                end++;
                sum += frequency[end];
            }

            // Alternate slices give their last symbol back, so boundaries do not all lean the same way.
            if (end > start && part != tables && part != 1 && ((tables - part) & 1) == 1)
            {
                sum -= frequency[end];
                end--;
            }

            int t = part - 1;
            for (int v = 0; v < alphabet; v++)
            {
                lanes[(v * 8) + t] = (ushort)(v >= start && v <= end ? 0 : 15);
            }

            start = end + 1;
            remaining -= sum;
        }

        ref ushort laneBase = ref MemoryMarshal.GetReference(lanes);
        for (int pass = 0; pass < Passes; pass++)
        {
            tableFrequency.Clear();
            for (int g = 0, from = 0; from < symbols.Length; g++, from += GroupSize)
            {
                ReadOnlySpan<ushort> group = symbols.Slice(from, Math.Min(GroupSize, symbols.Length - from));
                Vector128<ushort> cost = Vector128<ushort>.Zero;
                foreach (ushort s in group)
                {
                    cost += Vector128.LoadUnsafe(ref laneBase, (nuint)(s * 8));
                }

                int best = 0;
                int bestCost = cost.GetElement(0);
                for (int t = 1; t < tables; t++)
                {
                    int c = cost.GetElement(t);
                    if (c < bestCost)
                    {
                        bestCost = c;
                        best = t;
                    }
                }

                selectors[g] = (byte)best;
                Span<int> f = tableFrequency.Slice(best * A, A);
                foreach (ushort s in group)
                {
                    f[s]++;
                }
            }

            for (int t = 0; t < tables; t++)
            {
                Span<byte> table = lengths.Slice(t * A, alphabet);
                Bzip2Huffman.BuildLengths(tableFrequency.Slice(t * A, alphabet), table);
                for (int v = 0; v < alphabet; v++)
                {
                    lanes[(v * 8) + t] = table[v];
                }
            }
        }
    }

    private static void WriteMap(ref Bzip2BitWriter writer, scoped ReadOnlySpan<bool> inUse)
    {
        uint ranges = 0;
        for (int r = 0; r < 16; r++)
        {
            if (inUse.Slice(r * 16, 16).Contains(true))
            {
                ranges |= 0x8000u >> r;
            }
        }

        writer.Write(ranges, 16);
        for (int r = 0; r < 16; r++)
        {
            if ((ranges & (0x8000u >> r)) != 0)
            {
                uint bits = 0;
                for (int c = 0; c < 16; c++)
                {
                    if (inUse[(r * 16) + c])
                    {
                        bits |= 0x8000u >> c;
                    }
                }

                writer.Write(bits, 16);
            }
        }
    }

    private static void WriteSelectors(ref Bzip2BitWriter writer, scoped ReadOnlySpan<byte> selectors, int tables)
    {
        // Move-to-front coded, each position j as j ones and a zero.
        Span<byte> order = stackalloc byte[MaxTables];
        for (int t = 0; t < MaxTables; t++)
        {
            order[t] = (byte)t;
        }

        foreach (byte s in selectors)
        {
            int j = order[..tables].IndexOf(s);
            order[..j].CopyTo(order[1..]);
            order[0] = s;
            writer.Write(((1u << j) - 1) << 1, j + 1);
        }
    }

    private static void WriteLengths(ref Bzip2BitWriter writer, scoped ReadOnlySpan<byte> lengths, int tables, int alphabet)
    {
        // Each table: a 5-bit first length, then per symbol "10" (one longer) or "11" (one shorter) steps and a "0".
        for (int t = 0; t < tables; t++)
        {
            ReadOnlySpan<byte> table = lengths.Slice(t * Bzip2Huffman.MaxAlphabet, alphabet);
            int current = table[0];
            writer.Write((uint)current, 5);
            foreach (byte length in table)
            {
                while (current < length)
                {
                    writer.Write(2, 2);
                    current++;
                }

                while (current > length)
                {
                    writer.Write(3, 2);
                    current--;
                }

                writer.Write(0, 1);
            }
        }
    }

    private static void WriteSymbols(ref Bzip2BitWriter writer, scoped ReadOnlySpan<ushort> symbols, scoped ReadOnlySpan<byte> selectors, scoped ReadOnlySpan<byte> lengths, int tables, int alphabet)
    {
        const int A = Bzip2Huffman.MaxAlphabet;

        // Code and length per table and symbol in one word: code << 5 | length.
        Span<uint> codes = stackalloc uint[MaxTables * A];
        Span<uint> packed = stackalloc uint[MaxTables * A];
        for (int t = 0; t < tables; t++)
        {
            Bzip2Huffman.AssignCodes(lengths.Slice(t * A, alphabet), codes.Slice(t * A, alphabet));
            for (int v = 0; v < alphabet; v++)
            {
                packed[(t * A) + v] = (codes[(t * A) + v] << 5) | lengths[(t * A) + v];
            }
        }

        for (int g = 0, from = 0; from < symbols.Length; g++, from += GroupSize)
        {
            ReadOnlySpan<ushort> group = symbols.Slice(from, Math.Min(GroupSize, symbols.Length - from));
            ReadOnlySpan<uint> table = packed.Slice(selectors[g] * A, A);
            foreach (ushort s in group)
            {
                uint p = table[s];
                writer.Write(p >> 5, (int)(p & 31));
            }
        }
    }
}
