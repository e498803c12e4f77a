using System.Security.Cryptography;
using System.Text;
using DiskImage.Security.Crypt;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Security;

public sealed class YescryptTests
{
    // The yescrypt reference's TESTS-OK (tests.c, TEST_YESCRYPT_ENCODING): "pleaseletmein" under settings with
    // every N from 2^16 down, r from 8 to 1, p up to 11, the read-write and WORM flavors and salts of 16 to 1 bytes.
    public static TheoryData<string> ReferenceVectors() => new()
    {
        "$y$jD5.7$LdJMENpBABJJ3hIHjB1Bi.$HboGM6qPrsK.StKYGt6KErmUYtioHreJd98oIugoNB6",
        "$y$jC4$LdJMENpBABJJ3hIHjB1B$jVg4HoqqpbmQv/NCpin.QCMagJ8o4QX7lXdzvVV0xFC",
        "$y$/B3.6$LdJMENpBABJJ3hIHjB1$h8sE4hJo.BsdlfJr0.d8bNJNPZymH7Y3kLj4aY1Rfc8",
        "$y$/A2$LdJMENpBABJJ3hIHj/$5IEld1eWdmh5lylrqHLF5dvA3ISpimEM9J1Dd05n/.3",
        "$y$j91.5$LdJMENpBABJJ3hIH$ebKnn23URD5vyLgF9cP2EvVosrUXf7UErGRV0KmC6e6",
        "$y$j80$LdJMENpBABJJ3h2$ysXVVJwuaVlI1BWoEKt/Bz3WNDDmdOWz/8KTQaHL1cC",
        "$y$/7/.4$LdJMENpBABJJ3/$lXHleh7bIZMGNtJVxGVrsIWkEIXfBedlfPui/PITflC",
        "$y$/6.$LdJMENpBABJJ$zQITmYSih5.CTY47x0IuE4wl.b3HzYGKKCSggakaQ22",
        "$y$j5..3$LdJMENpBAB3$xi27PTUNd8NsChHeLOz85JFnUOyibRHkWzprowRlR5/",
        "$y$j4/$LdJMENpBA/$tHlkpTQ8V/eEnTVau1uW36T97LIXlfPrEzdeV5SE5K7",
        "$y$/3..2$LdJMENpB$tNczXFuNUd3HMqypStCRsEaL4e4KF7ZYLBe8Hbeg0B7",
        "$y$/2/$LdJMEN3$RRorHhfsw1/P/WR6Aurg4U72e9Q7qt9vFPURdyfiqK8",
        "$y$j2..1$LdJME/$iLEt6kuTwHch6XdCxtTHfsQzYwWFmpUwgl6Ax8RH4d1",
        "$y$j0/$LdJM$k7BXzSDuoGHW56SY3HxROCiA0gWRscZe2aA0q5oHPM0",
        "$y$//..0$Ld3$6BJXezMFxaMiO5wsuoEmztvtCs/79085dZO56ADlV5B",
        "$y$///$L/$Rrrkp6OVljrIk0kcwkCDhAiHJiSthh3cKeIGHUW7Z0C",
        "$y$j1../$LdJMENpBABJJ3hIHjB1Bi.$L8OQFc8mxJPd7CpUFgkS7KqJM2I9jGXu3BdqX2D.647",
        "$y$j//$LdJMENpBABJJ3hIHjB1B$U8a2MaK.yesqWySK8Owk6PWeWmp/XuagMbpP45q1/q1",
        "$7$C6..../....SodiumChloride$kBGj9fHznVYFQMEn/qDCfrDevf9YDtcDdKvEqHJLV8D",
        "$7$06..../....SodiumChloride$ENlyo6fGw4PCcDBOFepfSZjFUnVatHzCcW55.ZGz3B0",
    };

    [Theory]
    [MemberData(nameof(ReferenceVectors))]
    public void Hash_ReferenceVector_MatchesPublishedHash(string expected)
    {
        Assert.Equal(expected, Yescrypt.Hash("pleaseletmein", expected));
        Assert.True(Yescrypt.Verify("pleaseletmein"u8, expected));
        Assert.False(Yescrypt.Verify("pleaseletmeIn"u8, expected));
    }

    [Fact]
    public void Hash_DefaultCost_MatchesMkpasswd()
    {
        // mkpasswd (whois) passes a setting that starts with '$' straight to libxcrypt's crypt().
        Assert.Equal(
            "$y$j9T$abcdefghijklmnopqrstuvwx$epLLvSez7kEhRESB0lnyKwnP/20tSK3PapfayeZoD/9",
            Yescrypt.Hash("hello", "$y$j9T$abcdefghijklmnopqrstuvwx"));
    }

    [Fact]
    public void GenerateSetting_EachCost_HasLibxcryptParameters()
    {
        var random = new SeededRandom(7);
        string[] prefixes = ["$y$j9T$", "$y$j75$", "$y$j85$", "$y$j7T$", "$y$j8T$", "$y$j9T$", "$y$jAT$", "$y$jBT$", "$y$jCT$", "$y$jDT$", "$y$jET$", "$y$jFT$"];
        for (int cost = 0; cost <= 11; cost++)
        {
            string setting = Yescrypt.GenerateSetting(random, cost);
            Assert.StartsWith(prefixes[cost], setting, StringComparison.Ordinal);
            Assert.Equal(prefixes[cost].Length + 22, setting.Length);
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => Yescrypt.GenerateSetting(random, 12));
    }

    [Theory]
    [InlineData("$y$j9T")]
    [InlineData("$x$j9T$abc")]
    [InlineData("$y$j9T$a")] // a lone salt character holds no byte
    [InlineData("$y$j9T$ab")] // the 4 bits past the byte must be zero
    [InlineData("$y$j9T$ab c")]
    [InlineData("$y$j9T$ab:c")]
    [InlineData("$y$z9T$abcd")] // flavor past the read-write range
    [InlineData("$y$k9T$abcd")] // a read-write flavor other than the one defined
    [InlineData("$y$.9T/.$abcd")] // classic scrypt with t = 1
    [InlineData("$y$.9T$abcd$ef$gh")] // the salt runs to the last '$'
    [InlineData("$y$j/T..$abcd")] // N = 4, p = 2 with the read-write flavor: N/p must exceed 3
    [InlineData("$y$/.T$abcd")] // N = 2: libxcrypt needs N >= 4
    public void Hash_BadSetting_ThrowsArgumentException(string setting)
    {
        Assert.Throws<ArgumentException>(() => Yescrypt.Hash("x", setting));
    }

    [Fact]
    public void Hash_RomOrUpgradeOrHugeMemory_ThrowsNotSupported()
    {
        Assert.Throws<NotSupportedException>(() => Yescrypt.Hash("x", "$y$j8567F$LdJMENpBABJJ3hIHjB1Bi."));
        Assert.Throws<NotSupportedException>(() => Yescrypt.Hash("x", "$y$j9T1.$abcd")); // have = 4: g
        Assert.Throws<NotSupportedException>(() => Yescrypt.Hash("x", "$y$jGT$abcd")); // N = 2^19, r = 32: 2 GiB
    }

    [Fact]
    public void Hash_PasswordWithNulOrTooLong_ThrowsArgumentException()
    {
        Assert.Throws<ArgumentException>(() => Yescrypt.Hash("a\0b"u8, "$y$j5T$abcd"));
        Assert.Throws<ArgumentException>(() => Yescrypt.Hash(new byte[512], "$y$j5T$abcd"));
    }

    [SkippableFact]
    public void Hash_RandomPasswordsAndSettings_EqualLibxcrypt()
    {
        // Oracle: libxcrypt's crypt() called from Python through ctypes (bytes in, so any password bytes pass),
        // plus mkpasswd (whois), which hands a '$' setting straight to crypt(), on a few of the cases.
        string python = Oracle.Require("python3");
        string mkpasswd = Oracle.Require("mkpasswd");

        const int seed = 20261207;
        var rng = new Random(seed);
        var random = new SeededRandom(seed);
        var cases = new List<(byte[] Password, string Setting)>();
        for (int i = 0; i < 40; i++)
        {
            bool printable = i % 10 == 0; // these also go to mkpasswd as an argument
            byte[] password = new byte[rng.Next(printable ? 1 : 0, 40)];
            for (int k = 0; k < password.Length; k++)
            {
                password[k] = printable ? (byte)rng.Next(0x21, 0x7f) : (byte)rng.Next(1, 256);
            }

            string setting = (i % 4) switch
            {
                0 => Yescrypt.GenerateSetting(random, rng.Next(1, 4)),
                1 => MakeSetting(rng, flavor: 47, log2N: rng.Next(1, 11), r: rng.Next(1, 9), p: rng.Next(1, 4), t: rng.Next(0, 3)),
                2 => MakeSetting(rng, flavor: 1, log2N: rng.Next(1, 11), r: rng.Next(1, 9), p: rng.Next(1, 4), t: rng.Next(0, 3)),
                _ => MakeSetting(rng, flavor: 0, log2N: rng.Next(1, 11), r: rng.Next(1, 9), p: rng.Next(1, 4), t: 0),
            };
            cases.Add((password, setting));
        }

        cases.Add(("correct horse battery staple"u8.ToArray(), Yescrypt.GenerateSetting(random)));
        cases.Add((Array.Empty<byte>(), "$y$j9T$"));

        using var dir = new TempDirectory();
        var input = new StringBuilder();
        foreach ((byte[] password, string setting) in cases)
        {
            input.Append(Convert.ToHexString(password)).Append(' ').Append(setting).Append('\n');
        }

        File.WriteAllText(dir.File("in.txt"), input.ToString());
        File.WriteAllText(dir.File("oracle.py"), """
            import ctypes, ctypes.util, sys
            lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
            lib.crypt.restype = ctypes.c_char_p
            lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
            for line in open(sys.argv[1]):
                pw, setting = line.rstrip("\n").split(" ")
                out = lib.crypt(bytes.fromhex(pw), setting.encode())
                print(out.decode() if out else "*0")
            """);
        ToolResult result = Oracle.Run(python, dir.File("oracle.py"), dir.File("in.txt"));
        Assert.True(result.ExitCode == 0, result.ToString());
        string[] expected = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(cases.Count, expected.Length);
        for (int i = 0; i < cases.Count; i++)
        {
            Assert.True(expected[i] != "*0" && expected[i] != "*1", $"seed {seed}: libxcrypt refused case {i} '{cases[i].Setting}'");
            string ours = Yescrypt.Hash(cases[i].Password, cases[i].Setting);
            Assert.True(expected[i] == ours, $"seed {seed}, case {i}: setting '{cases[i].Setting}' password {Convert.ToHexString(cases[i].Password)}: libxcrypt {expected[i]}, ours {ours}");
        }

        for (int i = 0; i < cases.Count; i += 10)
        {
            string text = Encoding.ASCII.GetString(cases[i].Password);
            ToolResult mk = Oracle.RunOk(mkpasswd, "-m", "yescrypt", "-S", cases[i].Setting, text);
            Assert.Equal(expected[i], mk.StandardOutput.Trim());
        }

        ToolResult own = Oracle.RunOk(mkpasswd, "-m", "yescrypt", "-S", "$y$j9T$F5Jx5fExrKuPp53xLKQ..1", "s3cr3t!");
        Assert.Equal(own.StandardOutput.Trim(), Yescrypt.Hash("s3cr3t!", "$y$j9T$F5Jx5fExrKuPp53xLKQ..1"));
    }

    private static string MakeSetting(Random rng, uint flavor, int log2N, int r, int p, int t)
    {
        // libxcrypt needs N >= 4, and N/p > 3 in the read-write mode.
        while ((1 << log2N) <= 3 || (flavor == 47 && (1 << log2N) / p <= 3))
        {
            log2N++;
        }

        var sb = new StringBuilder("$y$");
        YescryptBase64.EncodeUInt32(flavor, 0, sb);
        YescryptBase64.EncodeUInt32((uint)log2N, 1, sb);
        YescryptBase64.EncodeUInt32((uint)r, 1, sb);
        uint have = (p != 1 ? 1u : 0) | (t != 0 ? 2u : 0);
        if (have != 0)
        {
            YescryptBase64.EncodeUInt32(have, 1, sb);
            if (p != 1)
            {
                YescryptBase64.EncodeUInt32((uint)p, 2, sb);
            }

            if (t != 0)
            {
                YescryptBase64.EncodeUInt32((uint)t, 1, sb);
            }
        }

        sb.Append('$');
        byte[] salt = new byte[rng.Next(0, 65)];
        rng.NextBytes(salt);
        YescryptBase64.Encode(salt, sb);
        return sb.ToString();
    }

    /// <summary>A deterministic stand-in for the system generator, so settings are reproducible from the seed.</summary>
    private sealed class SeededRandom(int seed) : RandomNumberGenerator
    {
        private readonly Random _random = new(seed);

        public override void GetBytes(byte[] data) => _random.NextBytes(data);

        public override void GetBytes(Span<byte> data) => _random.NextBytes(data);
    }
}
