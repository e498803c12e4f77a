using DiskImage.Formats.Luks;
using Xunit;

namespace DiskImage.Tests.Formats.Luks;

/// <summary>AES-XTS against the IEEE 1619-2007 Annex B test vectors, and CBC-ESSIV round trips.</summary>
public sealed class XtsAesSectorCipherTests
{
    // IEEE 1619 vector 4: XTS-AES-128, data unit sequence number 0, 512 bytes 00 01 .. ff 00 01 .. ff.
    private const string Vector4Key = "2718281828459045235360287471352631415926535897932384626433832795";

    private const string Vector4Ciphertext =
        "27a7479befa1d476489f308cd4cfa6e2a96e4bbe3208ff25287dd3819616e89cc78cf7f5e543445f8333d8fa7f56000005279fa5d8b5e4ad40e736ddb4d35412" +
        "328063fd2aab53e5ea1e0a9f332500a5df9487d07a5c92cc512c8866c7e860ce93fdf166a24912b422976146ae20ce846bb7dc9ba94a767aaef20c0d61ad0265" +
        "5ea92dc4c4e41a8952c651d33174be51a10c421110e6d81588ede82103a252d8a750e8768defffed9122810aaeb99f9172af82b604dc4b8e51bcb08235a6f434" +
        "1332e4ca60482a4ba1a03b3e65008fc5da76b70bf1690db4eae29c5f1badd03c5ccf2a55d705ddcd86d449511ceb7ec30bf12b1fa35b913f9f747a8afd1b130e" +
        "94bff94effd01a91735ca1726acd0b197c4e5b03393697e126826fb6bbde8ecc1e08298516e2c9ed03ff3c1b7860f6de76d4cecd94c8119855ef5297ca67e9f3" +
        "e7ff72b1e99785ca0a7e7720c5b36dc6d72cac9574c8cbbc2f801e23e56fd344b07f22154beba0f08ce8891e643ed995c94d9a69c9f1b5f499027a78572aeebd" +
        "74d20cc39881c213ee770b1010e4bea718846977ae119f7a023ab58cca0ad752afe656bb3c17256a9f6e9bf19fdd5a38fc82bbe872c5539edb609ef4f79c203e" +
        "bb140f2e583cb2ad15b4aa5b655016a8449277dbd477ef2c8d6c017db738b18deb4a427d1923ce3ff262735779a418f20a282df920147beabe421ee5319d0568";

    private static byte[] Vector4Plaintext()
    {
        byte[] p = new byte[512];
        for (int i = 0; i < p.Length; i++)
        {
            p[i] = (byte)i;
        }

        return p;
    }

    [Fact]
    public void Encrypt_Ieee1619Vector4_MatchesCiphertext()
    {
        using var xts = new XtsAesSectorCipher(Convert.FromHexString(Vector4Key), plain64: true);
        byte[] data = Vector4Plaintext();
        xts.Encrypt(data, 0);
        Assert.Equal(Vector4Ciphertext, Convert.ToHexStringLower(data));
        xts.Decrypt(data, 0);
        Assert.Equal(Vector4Plaintext(), data);
    }

    [Theory]
    // IEEE 1619 vectors 2 and 3: 32 bytes of 0x44 with data unit sequence number 0x3333333333.
    [InlineData("1111111111111111111111111111111122222222222222222222222222222222", "c454185e6a16936e39334038acef838bfb186fff7480adc4289382ecd6d394f0")]
    [InlineData("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f022222222222222222222222222222222", "af85336b597afc1a900b2eb21ec949d292df4c047e0b21532186a5971a227a89")]
    public void Encrypt_Ieee1619Vectors2And3_FirstBlocksMatch(string key, string expected)
    {
        // XTS works block by block, so the first 32 bytes of a 512-byte sector are the vector's data unit.
        using var xts = new XtsAesSectorCipher(Convert.FromHexString(key), plain64: true);
        byte[] data = new byte[512];
        data.AsSpan().Fill(0x44);
        xts.Encrypt(data, 0x3333333333);
        Assert.Equal(expected, Convert.ToHexStringLower(data.AsSpan(0, 32)));
    }

    [Fact]
    public void Encrypt_ManySectorsAtOnce_EqualsSectorBySector()
    {
        // A run longer than the internal chunk (64 KiB) with sector numbers past 2^32.
        var random = new Random(1619);
        byte[] key = new byte[64];
        random.NextBytes(key);
        byte[] plain = new byte[(64 * 1024) + (3 * 512)];
        random.NextBytes(plain);
        long first = (1L << 32) - 5;
        using var xts = new XtsAesSectorCipher(key, plain64: true);
        byte[] whole = (byte[])plain.Clone();
        xts.Encrypt(whole, first);
        byte[] single = (byte[])plain.Clone();
        for (int s = 0; s < single.Length / 512; s++)
        {
            xts.Encrypt(single.AsSpan(s * 512, 512), first + s);
        }

        Assert.Equal(single, whole);
        xts.Decrypt(whole, first);
        Assert.Equal(plain, whole);
    }

    [Fact]
    public void Encrypt_Plain_UsesLow32BitsOfSector()
    {
        byte[] key = new byte[64];
        key[0] = 1;
        using var plain = new XtsAesSectorCipher(key, plain64: false);
        byte[] a = new byte[512];
        byte[] b = new byte[512];
        plain.Encrypt(a, 7);
        plain.Encrypt(b, (1L << 32) + 7);
        Assert.Equal(a, b);
    }

    [Theory]
    [InlineData("cbc-essiv:sha256", 32)]
    [InlineData("cbc-plain64", 16)]
    [InlineData("xts-plain64", 64)]
    public void Create_RoundTrips(string mode, int keyBytes)
    {
        var random = new Random(42);
        byte[] key = new byte[keyBytes];
        random.NextBytes(key);
        byte[] plain = new byte[2048];
        random.NextBytes(plain);
        using LuksSectorCipher cipher = LuksSectorCipher.Create("aes", mode, key);
        byte[] data = (byte[])plain.Clone();
        cipher.Encrypt(data, 100);
        Assert.NotEqual(plain, data);
        cipher.Decrypt(data, 100);
        Assert.Equal(plain, data);
    }

    [Fact]
    public void Create_UnknownCipher_NotSupported()
    {
        Assert.Throws<NotSupportedException>(() => LuksSectorCipher.Create("twofish", "xts-plain64", new byte[64]));
        Assert.Throws<NotSupportedException>(() => LuksSectorCipher.Create("aes", "ctr-plain64", new byte[32]));
    }
}
