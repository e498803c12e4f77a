using System.Security.Cryptography;
using System.Text;
using DiskImage.Formats;
using DiskImage.Formats.Luks;
using DiskImage.Formats.Qcow2;
using DiskImage.Tests.Oracles;
using Xunit;
using Xunit.Abstractions;

namespace DiskImage.Tests.Formats.Luks;

/// <summary>
/// Raw LUKS1 images and qcow2 <c>encrypt.format=luks</c> images, both ways: images cryptsetup 2.6 and
/// qemu-img/qemu-io 7.2 write are read by ours identically, and images ours writes are read by
/// qemu-img (<c>compare</c> against the plain data with <c>--object secret</c>, <c>check</c>).
/// </summary>
public sealed class LuksImageTests(ITestOutputHelper output) : IDisposable
{
    private const string Secret = "abc";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static DiskImageOpenOptions WithKey(bool writable = false) => new() { Passphrase = Encoding.UTF8.GetBytes(Secret), Writable = writable };

    private static LuksCreateOptions FastKey() => new() { Passphrase = Encoding.UTF8.GetBytes(Secret), KeySlotIterations = 1000, MasterKeyIterations = 1000 };

    /// <summary>cryptsetup luksFormat --type luks1 with 1000 iterations (no timing, fast).</summary>
    internal static void CryptsetupFormat(string path, string cipher, int keyBits, string hash = "sha256", string type = "luks1", long size = 4 << 20)
    {
        Oracle.Require("cryptsetup");
        string key = path + ".key";
        File.WriteAllText(key, Secret);
        using (FileStream image = File.Create(path))
        {
            image.SetLength(size);
        }

        var args = new List<string> { "luksFormat", "-q", "--batch-mode", "--type", type, "--cipher", cipher, "--key-size", keyBits.ToString(System.Globalization.CultureInfo.InvariantCulture), "--hash", hash, "--key-file", key };
        args.AddRange(type == "luks1" ? ["--pbkdf-force-iterations", "1000"] : ["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"]);
        args.Add(path);
        ToolResult r = Oracle.Run("cryptsetup", args, TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, r.ToString());
        File.Delete(key);
    }

    private static string[] ImageOpts(string driver, string path) => driver == "luks"
        ? ["--object", $"secret,id=s0,data={Secret}", "--image-opts", $"driver=luks,key-secret=s0,file.filename={path}"]
        : ["--object", $"secret,id=s0,data={Secret}", "--image-opts", $"driver=qcow2,encrypt.key-secret=s0,file.filename={path}"];

    private static void QemuIoWrite(string driver, string path, params string[] commands)
    {
        var args = new List<string>(ImageOpts(driver, path));
        foreach (string c in commands)
        {
            args.Add("-c");
            args.Add(c);
        }

        ToolResult r = Oracle.Run("qemu-io", args, TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    private static byte[] Pattern(int length, byte value)
    {
        byte[] b = new byte[length];
        b.AsSpan().Fill(value);
        return b;
    }

    [SkippableTheory]
    [InlineData("aes-xts-plain64", 512, "sha256")]
    [InlineData("aes-xts-plain64", 256, "sha1")]
    [InlineData("aes-cbc-essiv:sha256", 256, "sha512")]
    [InlineData("aes-cbc-plain64", 128, "sha256")]
    public void Open_CryptsetupImageWrittenByQemuIo_ReadsSameBytes(string cipher, int keyBits, string hash)
    {
        Oracle.Require("qemu-io");
        string path = _dir.File("c.luks");
        CryptsetupFormat(path, cipher, keyBits, hash);
        QemuIoWrite("luks", path, "write -P 0x5a 0 64k", "write -P 0x33 100k 3k", "write -P 0x77 1000000 700");
        using DiskImageFile image = DiskImageFile.Open(path, WithKey());
        Assert.Equal(DiskImageFormat.Luks, image.Format);
        Assert.Equal((4 << 20) - ((LuksImage)image).PayloadOffset, image.Content.Length);
        byte[] buffer = new byte[65536];
        image.Content.ReadExactly(0, buffer);
        Assert.Equal(Pattern(65536, 0x5a), buffer);
        byte[] part = new byte[3072];
        image.Content.ReadExactly(100 * 1024, part);
        Assert.Equal(Pattern(3072, 0x33), part);
        byte[] odd = new byte[700];
        image.Content.ReadExactly(1000000, odd);
        Assert.Equal(Pattern(700, 0x77), odd);
    }

    [SkippableFact]
    public void Open_WrongPassphrase_CryptographicException()
    {
        string path = _dir.File("c.luks");
        CryptsetupFormat(path, "aes-xts-plain64", 512);
        CryptographicException e = Assert.Throws<CryptographicException>(() => DiskImageFile.Open(path, new DiskImageOpenOptions { Passphrase = "wrong"u8.ToArray() }));
        Assert.Equal("Invalid password, cannot unlock any keyslot", e.Message);
    }

    [SkippableFact]
    public void Open_Luks2Header_NotSupportedNamingLuks2()
    {
        string path = _dir.File("c2.luks");
        CryptsetupFormat(path, "aes-xts-plain64", 512, type: "luks2", size: 32 << 20);
        NotSupportedException e = Assert.Throws<NotSupportedException>(() => DiskImageFile.Open(path, WithKey()));
        Assert.Contains("LUKS2", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Create_RawLuks_QemuImgComparesEqualToPlainData()
    {
        Oracle.Require("qemu-img");
        string path = _dir.File("ours.luks");
        string plain = _dir.File("plain.raw");
        var random = new Random(8);
        byte[] data = new byte[1 << 20];
        random.NextBytes(data);
        using (LuksImage image = LuksImage.Create(path, 1 << 20, FastKey()))
        {
            image.Content.Write(0, data);
            image.Content.Write(12345, data.AsSpan(0, 1000)); // unaligned: read-modify-write of ragged sectors
        }

        data.AsSpan(0, 1000).CopyTo(data.AsSpan(12345));
        File.WriteAllBytes(plain, data);
        var args = new List<string> { "compare" };
        args.AddRange(ImageOpts("luks", path));
        args.Add($"driver=raw,file.filename={plain}"); // --image-opts applies to both images
        ToolResult r = Oracle.Run("qemu-img", args, TimeSpan.FromMinutes(1));
        output.WriteLine(r.ToString());
        Assert.True(r.ExitCode == 0, r.ToString());

        using DiskImageFile again = DiskImageFile.Open(path, WithKey());
        byte[] back = new byte[data.Length];
        again.Content.ReadExactly(0, back);
        Assert.Equal(data, back);
        Assert.Equal(LuksVolume.AreaLength(FastKey()), ((LuksImage)again).PayloadOffset);
    }

    [SkippableFact]
    public void Create_Qcow2Luks_QemuImgCompareAndCheckClean()
    {
        Oracle.Require("qemu-img");
        string path = _dir.File("ours.qcow2");
        string plain = _dir.File("plain.raw");
        var random = new Random(80);
        byte[] data = new byte[3 << 20];
        random.NextBytes(data);
        data.AsSpan(1 << 20, 512 << 10).Clear();
        using (Qcow2Image image = Qcow2Image.Create(path, data.Length, new Qcow2CreateOptions { Encryption = FastKey() }))
        {
            image.Content.Write(0, data.AsSpan(0, 1 << 20));
            image.Content.Write((1 << 20) + (512 << 10), data.AsSpan((1 << 20) + (512 << 10)));
            image.Content.Write(777, data.AsSpan(0, 5000)); // unaligned rewrite inside allocated clusters
        }

        data.AsSpan(0, 5000).ToArray().CopyTo(data.AsSpan(777));
        File.WriteAllBytes(plain, data);
        var args = new List<string> { "compare" };
        args.AddRange(ImageOpts("qcow2", path));
        args.Add($"driver=raw,file.filename={plain}"); // --image-opts applies to both images
        ToolResult r = Oracle.Run("qemu-img", args, TimeSpan.FromMinutes(1));
        output.WriteLine(r.ToString());
        Assert.True(r.ExitCode == 0, r.ToString());
        var check = new List<string> { "check" };
        check.AddRange(ImageOpts("qcow2", path));
        ToolResult c = Oracle.Run("qemu-img", check, TimeSpan.FromMinutes(1));
        output.WriteLine(c.ToString());
        Assert.True(c.ExitCode == 0, c.ToString());
        Assert.Contains("No errors were found", c.StandardOutput, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Open_Qcow2LuksWrittenByQemuIo_ReadsSameBytes()
    {
        Oracle.Require("qemu-io");
        string path = _dir.File("q.qcow2");
        // Our image, with data written by qemu-io (qemu-img create times PBKDF2 and may fail here).
        using (Qcow2Image.Create(path, 4 << 20, new Qcow2CreateOptions { Encryption = FastKey() }))
        {
        }

        QemuIoWrite("qcow2", path, "write -P 0x5a 0 64k", "write -P 0x33 100k 3k", "write -P 0x77 3000000 700");
        using DiskImageFile image = DiskImageFile.Open(path, WithKey());
        byte[] buffer = new byte[65536];
        image.Content.ReadExactly(0, buffer);
        Assert.Equal(Pattern(65536, 0x5a), buffer);
        byte[] part = new byte[3072];
        image.Content.ReadExactly(100 * 1024, part);
        Assert.Equal(Pattern(3072, 0x33), part);
        byte[] odd = new byte[700];
        image.Content.ReadExactly(3000000, odd);
        Assert.Equal(Pattern(700, 0x77), odd);
        byte[] zeros = new byte[4096];
        image.Content.ReadExactly(2 << 20, zeros);
        Assert.Equal(new byte[4096], zeros);
    }

    [Fact]
    public void Open_Qcow2LuksWithoutPassphrase_NotSupported()
    {
        string path = _dir.File("q.qcow2");
        using (Qcow2Image.Create(path, 1 << 20, new Qcow2CreateOptions { Encryption = FastKey() }))
        {
        }

        NotSupportedException e = Assert.Throws<NotSupportedException>(() => DiskImageFile.Open(path));
        Assert.Contains("passphrase", e.Message, StringComparison.Ordinal);
        Assert.Throws<CryptographicException>(() => DiskImageFile.Open(path, new DiskImageOpenOptions { Passphrase = "nope"u8.ToArray() }));
        using DiskImageFile meta = DiskImageFile.Open(path, new DiskImageOpenOptions { MetadataOnly = true });
        ImageInfo info = meta.GetInfo();
        Assert.True(info.Encrypted);
        Assert.Equal("luks", info.Qcow2!.EncryptionFormat);
        Assert.Equal("aes-256", info.Qcow2.Luks!.CipherAlgorithm);
        Assert.Equal(4096, info.Qcow2.Luks.Slots[0].KeyOffset);
        Assert.Equal(2068480, info.Qcow2.Luks.PayloadOffset);
    }

    [Fact]
    public void Qcow2Luks_CompressedWrite_NotSupported()
    {
        string path = _dir.File("q.qcow2");
        using Qcow2Image image = Qcow2Image.Create(path, 1 << 20, new Qcow2CreateOptions { Encryption = FastKey() });
        Assert.Throws<NotSupportedException>(() => image.WriteCompressedCluster(0, new byte[100]));
    }
}
