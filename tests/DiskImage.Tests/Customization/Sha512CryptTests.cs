using System.Text;
using System.Text.Json;
using DiskImage.Security.Crypt;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Customization;

/// <summary>
/// SHA-512-crypt against the published test vectors of the SHA-crypt specification and against libxcrypt
/// itself (Python's <c>crypt</c> module, and <c>mkpasswd -m sha-512</c> from whois), for random passwords and salts.
/// </summary>
public sealed class Sha512CryptTests
{
    [Theory]
    [InlineData("Hello world!", "$6$saltstring", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1")]
    [InlineData("Hello world!", "$6$rounds=10000$saltstringsaltstring", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.")]
    [InlineData("This is just a test", "$6$rounds=5000$toolongsaltstring", "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0")]
    public void Hash_SpecificationVectors(string password, string setting, string expected) =>
        Assert.Equal(expected, Sha512Crypt.Hash(Encoding.UTF8.GetBytes(password), setting));

    [Theory]
    [InlineData("$6$rounds=999$abc")]
    [InlineData("$6$rounds=0100$abc")]
    [InlineData("$6$rounds=abc$x")]
    [InlineData("$6$abc*def")]
    [InlineData("$5$abc")]
    public void Hash_SettingLibxcryptRefuses_Throws(string setting) =>
        Assert.Throws<ArgumentException>(() => Sha512Crypt.Hash("pw"u8, setting));

    [Fact]
    public void Verify_RoundTripsAndRejects()
    {
        string h = Sha512Crypt.Hash("pässword", Sha512Crypt.CreateSalt());
        Assert.True(Sha512Crypt.Verify("pässword", h));
        Assert.False(Sha512Crypt.Verify("password", h));
        Assert.False(Sha512Crypt.Verify("x", "$6$bad*salt$"));
    }

    [SkippableFact]
    public void Hash_RandomPasswordsAndSalts_EqualLibxcryptThroughPython()
    {
        string python = Oracle.Require("python3");
        const int seed = 20261207;
        var rng = new Random(seed);
        const string alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        var cases = new List<(string Password, string Setting)>();
        for (int i = 0; i < 120; i++)
        {
            int len = i < 100 ? rng.Next(0, 80) : rng.Next(120, 300);
            var pw = new StringBuilder();
            for (int j = 0; j < len; j++)
            {
                pw.Append(rng.Next(8) == 0 ? (char)rng.Next(0xA0, 0x3000) : (char)rng.Next(0x20, 0x7F));
            }

            var salt = new StringBuilder();
            int saltLen = rng.Next(0, 20);
            for (int j = 0; j < saltLen; j++)
            {
                salt.Append(alphabet[rng.Next(alphabet.Length)]);
            }

            string setting = i % 10 == 3 ? $"$6$rounds={rng.Next(1000, 3000)}${salt}" : "$6$" + salt;
            cases.Add((pw.ToString(), setting));
        }

        using var tmp = new TempDirectory();
        string input = tmp.File("cases.json");
        File.WriteAllText(input, JsonSerializer.Serialize(cases.ConvertAll(c => new[] { c.Password, c.Setting })));
        string script = tmp.File("libxcrypt_oracle.py");
        File.WriteAllText(script, "import json,sys,warnings\nwarnings.simplefilter('ignore')\nimport crypt\nfor p,s in json.load(open(sys.argv[1],encoding='utf-8')):\n    print(crypt.crypt(p,s))\n");
        ToolResult r = Oracle.Run(python, [script, input], TimeSpan.FromMinutes(2));
        if (r.ExitCode != 0 && r.StandardError.Contains("No module named 'crypt'", StringComparison.Ordinal))
        {
            throw new SkipException("python3 has no crypt module (removed in 3.13); mkpasswd covers the oracle.");
        }

        Assert.True(r.ExitCode == 0, r.ToString());
        string[] expected = r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(cases.Count, expected.Length);
        for (int i = 0; i < cases.Count; i++)
        {
            string ours = Sha512Crypt.Hash(Encoding.UTF8.GetBytes(cases[i].Password), cases[i].Setting);
            Assert.True(expected[i] == ours, $"seed {seed}, case {i}: setting {cases[i].Setting}, password length {cases[i].Password.Length}: libxcrypt {expected[i]}, ours {ours}");
        }
    }

    [SkippableFact]
    public void Hash_EqualsMkpasswd()
    {
        Oracle.Require("mkpasswd");
        const int seed = 7;
        var rng = new Random(seed);
        const string alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        for (int i = 0; i < 12; i++)
        {
            string password = new(Enumerable.Range(0, rng.Next(1, 40)).Select(_ => (char)rng.Next(0x21, 0x7F)).ToArray());
            string salt = new(Enumerable.Range(0, rng.Next(8, 17)).Select(_ => alphabet[rng.Next(alphabet.Length)]).ToArray());
            int? rounds = i % 3 == 0 ? rng.Next(1000, 6000) : null;
            var args = new List<string> { "-m", "sha-512", "-S", salt };
            if (rounds is { } n)
            {
                args.AddRange(["-R", n.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            }

            args.Add(password);
            ToolResult r = Oracle.Run("mkpasswd", args, TimeSpan.FromSeconds(30));
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.True(r.StandardOutput.Trim() == Sha512Crypt.Hash(password, salt, rounds), $"seed {seed}, case {i}: {r.StandardOutput.Trim()} vs ours {Sha512Crypt.Hash(password, salt, rounds)}");
        }
    }
}
