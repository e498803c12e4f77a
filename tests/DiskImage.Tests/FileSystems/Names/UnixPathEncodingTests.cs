using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using DiskImage.FileSystems;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Names;

/// <summary>
/// <see cref="UnixPathEncoding"/>: the surrogate-escape mapping between name bytes and strings, judged by Python 3's
/// <c>os.fsdecode</c> (the scheme's reference) and by round-trip properties over seeded random byte strings.
/// </summary>
public sealed class UnixPathEncodingTests
{
    [Theory]
    [InlineData("78fd", @"x\uDCFD")]
    [InlineData("78fc", @"x\uDCFC")]
    [InlineData("fffe", @"\uDCFF\uDCFE")]
    [InlineData("c3", @"\uDCC3")]
    [InlineData("c3a9", @"\u00E9")]
    [InlineData("c3c3a9", @"\uDCC3\u00E9")]
    [InlineData("eda080", @"\uDCED\uDCA0\uDC80")] // an encoded surrogate is not valid UTF-8
    [InlineData("e080af", @"\uDCE0\uDC80\uDCAF")] // overlong
    [InlineData("c0af", @"\uDCC0\uDCAF")] // overlong '/'
    [InlineData("f4908080", @"\uDCF4\uDC90\uDC80\uDC80")] // above U+10FFFF
    [InlineData("f09f9280", @"\uD83D\uDC80")] // a pair whose low half is in DC80–DCFF
    [InlineData("e282", @"\uDCE2\uDC82")] // truncated
    [InlineData("e282ac", @"\u20AC")]
    [InlineData("80", @"\uDC80")]
    [InlineData("", "")]
    public void GetString_KnownBytes_SurrogateEscapes(string hex, string escaped)
    {
        // Theory data cannot carry lone surrogates (it is serialized as UTF-8): they are written as escapes.
        string expected = Regex.Unescape(escaped);
        byte[] bytes = Convert.FromHexString(hex);
        Assert.Equal(expected, UnixPathEncoding.GetString(bytes));
        Assert.Equal(bytes, UnixPathEncoding.GetBytes(expected));
    }

    [Theory]
    [InlineData(@"\uD800")] // lone high surrogate
    [InlineData(@"a\uDC00")] // lone low surrogate below DC80
    [InlineData(@"\uDBFFx")]
    [InlineData(@"\uDCC3\uDCA9")] // escapes whose bytes are "é": GetString never gives this
    [InlineData(@"\uDCF0\uDC9F\uDC92\uDC80")] // escapes whose bytes are U+1F480
    public void GetBytes_StringGetStringNeverGives_ArgumentException(string escaped)
    {
        string value = Regex.Unescape(escaped);
        Assert.ThrowsAny<ArgumentException>(() => UnixPathEncoding.GetBytes(value));
        Assert.False(UnixPathEncoding.IsEncodable(value));
        Assert.ThrowsAny<ArgumentException>(() => UnixPathEncoding.TryGetBytes(value, new byte[64], out _));
    }

    [Fact]
    public void TryGetBytes_DestinationTooSmall_False()
    {
        Assert.False(UnixPathEncoding.TryGetBytes("x\uDCFD\u00E9", new byte[3], out int written));
        Assert.Equal(0, written);
        Span<byte> buffer = stackalloc byte[4];
        Assert.True(UnixPathEncoding.TryGetBytes("x\uDCFD\u00E9", buffer, out written));
        Assert.Equal(new byte[] { 0x78, 0xFD, 0xC3, 0xA9 }, buffer[..written].ToArray());
    }

    [Fact]
    public void GetString_ValidUtf8_SameAsUtf8()
    {
        string s = "ascii é € \U0001F480 日本語";
        byte[] utf8 = Encoding.UTF8.GetBytes(s);
        Assert.Equal(s, UnixPathEncoding.GetString(utf8));
        Assert.Equal(utf8, UnixPathEncoding.GetBytes(s));
        Assert.Equal(utf8.Length, UnixPathEncoding.GetByteCount(s));
    }

    [Fact]
    public void RoundTrip_RandomBytes_IdenticalAndInjective()
    {
        const int Seed = 20261207;
        var random = new Random(Seed);
        var seen = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (int i = 0; i < 20_000; i++)
        {
            byte[] bytes = RandomName(random, random.Next(0, i % 100 == 0 ? 2000 : 40));
            string s = UnixPathEncoding.GetString(bytes);
            byte[] back = UnixPathEncoding.GetBytes(s);
            Assert.True(bytes.AsSpan().SequenceEqual(back), $"seed {Seed}, case {i}: {Convert.ToHexString(bytes)} → {Convert.ToHexString(back)}");
            Assert.True(UnixPathEncoding.IsEncodable(s), $"seed {Seed}, case {i}");
            Assert.Equal(bytes.Length, UnixPathEncoding.GetByteCount(s));
            if (seen.TryGetValue(s, out byte[]? other))
            {
                Assert.True(other.AsSpan().SequenceEqual(bytes), $"seed {Seed}, case {i}: {Convert.ToHexString(other)} and {Convert.ToHexString(bytes)} decode alike");
            }
            else
            {
                seen[s] = bytes;
            }
        }
    }

    [Fact]
    public void GetBytes_RandomStrings_AcceptedOnlyWhenCanonical()
    {
        const int Seed = 977;
        var random = new Random(Seed);
        char[] alphabet = ['a', '/', '\u00E9', '\u20AC', '\uD83D', '\uDC80', '\uDCC3', '\uDCA9', '\uDCFF', '\uDC00', '\uD800', '\uDCE2', '\uDC82', '\uDCAC'];
        for (int i = 0; i < 20_000; i++)
        {
            char[] chars = new char[random.Next(0, 12)];
            for (int k = 0; k < chars.Length; k++)
            {
                chars[k] = alphabet[random.Next(alphabet.Length)];
            }

            string s = new(chars);
            if (UnixPathEncoding.IsEncodable(s))
            {
                Assert.Equal(s, UnixPathEncoding.GetString(UnixPathEncoding.GetBytes(s)));
            }
            else
            {
                Assert.ThrowsAny<ArgumentException>(() => UnixPathEncoding.GetBytes(s));
            }
        }
    }

    [Fact]
    public void CompareBytes_RandomBytes_SameOrderAsBytes()
    {
        const int Seed = 31337;
        var random = new Random(Seed);
        for (int i = 0; i < 20_000; i++)
        {
            byte[] a = RandomName(random, random.Next(0, 8));
            byte[] b = random.Next(4) == 0 ? [.. a, .. RandomName(random, random.Next(0, 3))] : RandomName(random, random.Next(0, 8));
            int expected = Math.Sign(a.AsSpan().SequenceCompareTo(b));
            int actual = Math.Sign(UnixPathEncoding.CompareBytes(UnixPathEncoding.GetString(a), UnixPathEncoding.GetString(b)));
            Assert.True(expected == actual, $"seed {Seed}, case {i}: {Convert.ToHexString(a)} vs {Convert.ToHexString(b)}");
        }
    }

    [SkippableFact]
    public void GetString_RandomBytes_SameAsPythonFsdecode()
    {
        Oracle.Require("python3");
        const int Seed = 4242;
        var random = new Random(Seed);
        var inputs = new List<byte[]>();
        for (int i = 0; i < 3000; i++)
        {
            inputs.Add(RandomName(random, random.Next(1, 24)));
        }

        using var tmp = new TempDirectory();
        string input = tmp.File("in.txt");
        File.WriteAllLines(input, inputs.Select(b => Convert.ToHexString(b)));
        const string Script = "import sys,os\nfor l in open(sys.argv[1]):\n    s=os.fsdecode(bytes.fromhex(l.strip()))\n    print(' '.join('%04x'%ord(c) for c in s))\n";
        ToolResult r = Oracle.Run("python3", ["-c", Script, input], TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, r.ToString());
        string[] lines = r.StandardOutput.Split('\n');
        for (int i = 0; i < inputs.Count; i++)
        {
            string expected = lines[i].Trim();
            string actual = CodePoints(UnixPathEncoding.GetString(inputs[i]));
            Assert.True(expected == actual, $"seed {Seed}, case {i}: {Convert.ToHexString(inputs[i])}: python {expected}, ours {actual}");
        }
    }

    private static string CodePoints(string s)
    {
        var parts = new List<string>();
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                parts.Add(char.ConvertToUtf32(s[i], s[i + 1]).ToString("x4", CultureInfo.InvariantCulture));
                i++;
            }
            else
            {
                parts.Add(((int)s[i]).ToString("x4", CultureInfo.InvariantCulture));
            }
        }

        return string.Join(' ', parts);
    }

    /// <summary>Random bytes biased toward the interesting: ASCII, stray high bytes, and (partial) UTF-8 sequences.</summary>
    internal static byte[] RandomName(Random random, int length)
    {
        var bytes = new List<byte>(length);
        while (bytes.Count < length)
        {
            switch (random.Next(6))
            {
                case 0:
                    bytes.Add((byte)random.Next(0x20, 0x7F));
                    break;
                case 1:
                    bytes.Add((byte)random.Next(0x80, 0x100));
                    break;
                case 2:
                    // A valid scalar value, sometimes truncated.
                    int cp = random.Next(3) switch { 0 => random.Next(0x80, 0x800), 1 => random.Next(0x800, 0x10000), _ => random.Next(0x10000, 0x110000) };
                    if (cp is >= 0xD800 and <= 0xDFFF)
                    {
                        cp = 0xE000;
                    }

                    byte[] enc = Encoding.UTF8.GetBytes(char.ConvertFromUtf32(cp));
                    bytes.AddRange(random.Next(4) == 0 ? enc[..random.Next(1, enc.Length + 1)] : enc);
                    break;
                case 3:
                    bytes.Add((byte)random.Next(0xC0, 0x100)); // lead bytes (valid and invalid)
                    bytes.Add((byte)random.Next(0x80, 0xC0));
                    break;
                case 4:
                    bytes.Add(0xED); // encoded surrogates
                    bytes.Add((byte)random.Next(0x80, 0xC0));
                    bytes.Add((byte)random.Next(0x80, 0xC0));
                    break;
                default:
                    bytes.Add((byte)random.Next(1, 0x100));
                    break;
            }
        }

        return bytes.GetRange(0, length).ToArray();
    }
}
