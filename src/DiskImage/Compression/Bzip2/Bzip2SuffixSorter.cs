using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace DiskImage.Compression.Bzip2;

/// <summary>
/// Suffix array by induced sorting (SA-IS, Nong, Zhang and Chan 2009): linear time and memory whatever the input,
/// so runs, periodic data and long repeats cost no more than text. The end of the text is an implicit sentinel
/// smaller than every symbol: a suffix that is a prefix of another sorts first.
/// </summary>
internal static class Bzip2SuffixSorter
{
    private const byte LType = 0;
    private const byte SType = 1;

    /// <summary>Fills <paramref name="sa"/> (length of <paramref name="text"/>) with the suffix array of the bytes.</summary>
    public static void Sort(ReadOnlySpan<byte> text, Span<int> sa) => Sais(text, sa[..text.Length], 256);

    private static void Sais<T>(ReadOnlySpan<T> t, Span<int> sa, int alphabet)
        where T : unmanaged, IBinaryInteger<T>
    {
        int n = t.Length;
        if (n <= 1)
        {
            if (n == 1)
            {
                sa[0] = 0;
            }

            return;
        }

        byte[] typeArray = ArrayPool<byte>.Shared.Rent(n);
        int[] bucketArray = ArrayPool<int>.Shared.Rent(2 * alphabet);
        try
        {
            Span<byte> type = typeArray.AsSpan(0, n);
            Span<int> counts = bucketArray.AsSpan(0, alphabet);
            Span<int> bucket = bucketArray.AsSpan(alphabet, alphabet);

            // Types: L where the suffix is greater than the next one (the last suffix is, against the sentinel).
            counts.Clear();
            type[n - 1] = LType;
            int next = Sym(t[n - 1]);
            counts[next]++;
            for (int i = n - 2; i >= 0; i--)
            {
                int c = Sym(t[i]);
                counts[c]++;
                type[i] = c < next || (c == next && type[i + 1] == SType) ? SType : LType;
                next = c;
            }

            // Stage 1: sort the LMS substrings by one induced sort from the LMS positions at their buckets' ends.
            sa.Fill(-1);
            BucketEnds(counts, bucket);
            int m = 0;
            for (int i = 1; i < n; i++)
            {
                if (type[i] == SType && type[i - 1] == LType)
                {
                    sa[--bucket[Sym(t[i])]] = i;
                    m++;
                }
            }

            InduceL(t, sa, type, counts, bucket);
            InduceS(t, sa, type, counts, bucket);

            // Gather the sorted LMS positions at the front.
            int k = 0;
            for (int i = 0; i < n; i++)
            {
                int p = sa[i];
                if (p > 0 && type[p] == SType && type[p - 1] == LType)
                {
                    sa[k++] = p;
                }
            }

            // Name the LMS substrings (equal substrings share a name), each at m + p/2 (LMS positions are 2 apart).
            sa[m..].Fill(-1);
            int names = 0;
            int previous = -1;
            for (int i = 0; i < m; i++)
            {
                int p = sa[i];
                if (previous < 0 || !SameLmsSubstring(t, type, p, previous))
                {
                    names++;
                    previous = p;
                }

                sa[m + (p >> 1)] = names - 1;
            }

            // The reduced string (names in text order) at the end.
            int j = n - 1;
            for (int i = n - 1; i >= m; i--)
            {
                if (sa[i] >= 0)
                {
                    sa[j--] = sa[i];
                }
            }

            Span<int> reduced = sa.Slice(n - m, m);
            Span<int> reducedSa = sa[..m];
            if (names < m)
            {
                Sais<int>(reduced, reducedSa, names);
            }
            else
            {
                for (int i = 0; i < m; i++)
                {
                    reducedSa[reduced[i]] = i;
                }
            }

            // Stage 2: the LMS suffixes in order, then one induced sort gives every suffix.
            j = 0;
            for (int i = 1; i < n; i++)
            {
                if (type[i] == SType && type[i - 1] == LType)
                {
                    reduced[j++] = i;
                }
            }

            for (int i = 0; i < m; i++)
            {
                reducedSa[i] = reduced[reducedSa[i]];
            }

            sa[m..].Fill(-1);
            BucketEnds(counts, bucket);
            for (int i = m - 1; i >= 0; i--)
            {
                int p = sa[i];
                sa[i] = -1;
                sa[--bucket[Sym(t[p])]] = p;
            }

            InduceL(t, sa, type, counts, bucket);
            InduceS(t, sa, type, counts, bucket);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(bucketArray);
            ArrayPool<byte>.Shared.Return(typeArray);
        }
    }

    private static int Sym<T>(T value)
        where T : unmanaged, IBinaryInteger<T> => int.CreateTruncating(value);

    private static void BucketStarts(ReadOnlySpan<int> counts, Span<int> bucket)
    {
        int sum = 0;
        for (int c = 0; c < counts.Length; c++)
        {
            bucket[c] = sum;
            sum += counts[c];
        }
    }

    private static void BucketEnds(ReadOnlySpan<int> counts, Span<int> bucket)
    {
        int sum = 0;
        for (int c = 0; c < counts.Length; c++)
        {
            sum += counts[c];
            bucket[c] = sum;
        }
    }

    // The induce loops are the sorter's hot path: bounds checks are left out (every index is a suffix position below
    // n or a bucket pointer inside its bucket, by construction), and the type of suffix p is read from the text where
    // T[p] differs from T[p + 1] (on the same cache line as T[p], which is read anyway), from the type array otherwise.
    private static void InduceL<T>(ReadOnlySpan<T> t, Span<int> sa, ReadOnlySpan<byte> type, ReadOnlySpan<int> counts, Span<int> bucket)
        where T : unmanaged, IBinaryInteger<T>
    {
        int n = t.Length;
        BucketStarts(counts, bucket);

        // The suffix before the sentinel is L-type and the sentinel sorts first.
        sa[bucket[Sym(t[n - 1])]++] = n - 1;
        ref int s = ref MemoryMarshal.GetReference(sa);
        ref T text = ref MemoryMarshal.GetReference(t);
        ref byte types = ref MemoryMarshal.GetReference(type);
        ref int b = ref MemoryMarshal.GetReference(bucket);
        for (int i = 0; i < n; i++)
        {
            int p = Unsafe.Add(ref s, i) - 1;
            if (p < 0)
            {
                continue;
            }

            int c = Sym(Unsafe.Add(ref text, p));
            int c1 = Sym(Unsafe.Add(ref text, p + 1));
            if (c > c1 || (c == c1 && Unsafe.Add(ref types, p) == LType))
            {
                ref int at = ref Unsafe.Add(ref b, c);
                Unsafe.Add(ref s, at) = p;
                at++;
            }
        }
    }

    private static void InduceS<T>(ReadOnlySpan<T> t, Span<int> sa, ReadOnlySpan<byte> type, ReadOnlySpan<int> counts, Span<int> bucket)
        where T : unmanaged, IBinaryInteger<T>
    {
        BucketEnds(counts, bucket);
        ref int s = ref MemoryMarshal.GetReference(sa);
        ref T text = ref MemoryMarshal.GetReference(t);
        ref byte types = ref MemoryMarshal.GetReference(type);
        ref int b = ref MemoryMarshal.GetReference(bucket);
        for (int i = t.Length - 1; i >= 0; i--)
        {
            int p = Unsafe.Add(ref s, i) - 1;
            if (p < 0)
            {
                continue;
            }

            int c = Sym(Unsafe.Add(ref text, p));
            int c1 = Sym(Unsafe.Add(ref text, p + 1));
            if (c < c1 || (c == c1 && Unsafe.Add(ref types, p) == SType))
            {
                ref int at = ref Unsafe.Add(ref b, c);
                at--;
                Unsafe.Add(ref s, at) = p;
            }
        }
    }

    /// <summary>Whether the LMS substrings at <paramref name="a"/> and <paramref name="b"/> (symbols and types up to and including the next LMS position) are equal.</summary>
    private static bool SameLmsSubstring<T>(ReadOnlySpan<T> t, ReadOnlySpan<byte> type, int a, int b)
        where T : unmanaged, IBinaryInteger<T>
    {
        int n = t.Length;
        for (int d = 0; ; d++)
        {
            int x = a + d;
            int y = b + d;
            if (x == n || y == n || t[x] != t[y] || type[x] != type[y])
            {
                return false;
            }

            if (d > 0 && type[x] == SType && type[x - 1] == LType)
            {
                // Both end here: the types matched at d - 1 and d, so y is an LMS position too.
                return true;
            }
        }
    }
}
