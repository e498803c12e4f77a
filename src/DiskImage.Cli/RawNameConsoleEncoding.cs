using System.Text;
using DiskImage.FileSystems;

namespace DiskImage.Cli;

/// <summary>
/// The encoding of the CLI's standard output and error: UTF-8 in which the lone surrogates U+DC80–U+DCFF that
/// <see cref="UnixPathEncoding"/> gives to bytes that are not valid UTF-8 are written back as those bytes, so a
/// name is printed as the raw bytes it has on disk (as <c>cpio -t</c> and <c>ls</c> to a pipe do). Other lone
/// surrogates print as U+FFFD. Never throws.
/// </summary>
internal sealed class RawNameConsoleEncoding : Encoding
{
    /// <summary>The one instance.</summary>
    public static RawNameConsoleEncoding Instance { get; } = new();

    private RawNameConsoleEncoding()
        : base(65001)
    {
    }

    /// <inheritdoc />
    public override string WebName => "utf-8";

    /// <inheritdoc />
    public override byte[] GetPreamble() => [];

    /// <inheritdoc />
    public override ReadOnlySpan<byte> Preamble => default;

    /// <inheritdoc />
    public override int GetByteCount(char[] chars, int index, int count) =>
        UnixPathEncoding.GetByteCountLenient(chars.AsSpan(index, count));

    /// <inheritdoc />
    public override int GetBytes(char[] chars, int charIndex, int charCount, byte[] bytes, int byteIndex) =>
        UnixPathEncoding.EncodeLenient(chars.AsSpan(charIndex, charCount), bytes.AsSpan(byteIndex));

    /// <inheritdoc />
    public override int GetCharCount(byte[] bytes, int index, int count)
    {
        char[] chars = new char[count];
        return UnixPathEncoding.Decode(bytes.AsSpan(index, count), chars);
    }

    /// <inheritdoc />
    public override int GetChars(byte[] bytes, int byteIndex, int byteCount, char[] chars, int charIndex)
    {
        char[] temp = new char[byteCount];
        int n = UnixPathEncoding.Decode(bytes.AsSpan(byteIndex, byteCount), temp);
        temp.AsSpan(0, n).CopyTo(chars.AsSpan(charIndex));
        return n;
    }

    /// <inheritdoc />
    public override int GetMaxByteCount(int charCount) => (charCount + 1) * 3;

    /// <inheritdoc />
    public override int GetMaxCharCount(int byteCount) => byteCount + 1;

    /// <inheritdoc />
    public override Encoder GetEncoder() => new PairKeepingEncoder();

    /// <summary>Keeps a high surrogate that ends one write for the low surrogate that starts the next.</summary>
    private sealed class PairKeepingEncoder : Encoder
    {
        private char _pending;

        public override int GetByteCount(char[] chars, int index, int count, bool flush)
        {
            ReadOnlySpan<char> input = chars.AsSpan(index, count);
            if (IsWhole(input, flush))
            {
                return UnixPathEncoding.GetByteCountLenient(input);
            }

            return UnixPathEncoding.GetByteCountLenient(Join(input, flush, out _));
        }

        public override int GetBytes(char[] chars, int charIndex, int charCount, byte[] bytes, int byteIndex, bool flush)
        {
            ReadOnlySpan<char> input = chars.AsSpan(charIndex, charCount);
            if (IsWhole(input, flush))
            {
                return UnixPathEncoding.EncodeLenient(input, bytes.AsSpan(byteIndex));
            }

            Span<char> joined = Join(input, flush, out char keep);
            int n = UnixPathEncoding.EncodeLenient(joined, bytes.AsSpan(byteIndex));
            _pending = keep;
            return n;
        }

        // The common case: nothing held back and no pair cut at the end, so the chars are encoded as they are.
        private bool IsWhole(ReadOnlySpan<char> input, bool flush) =>
            _pending == '\0' && (flush || input.IsEmpty || !char.IsHighSurrogate(input[^1]));

        public override void Reset() => _pending = '\0';

        private Span<char> Join(ReadOnlySpan<char> chars, bool flush, out char keep)
        {
            char[] all = new char[chars.Length + 1];
            int n = 0;
            if (_pending != '\0')
            {
                all[n++] = _pending;
            }

            chars.CopyTo(all.AsSpan(n));
            n += chars.Length;
            keep = '\0';
            if (!flush && n > 0 && char.IsHighSurrogate(all[n - 1]))
            {
                keep = all[--n];
            }

            return all.AsSpan(0, n);
        }
    }
}
