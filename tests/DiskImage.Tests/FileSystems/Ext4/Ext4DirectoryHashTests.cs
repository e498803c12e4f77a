using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using DiskImage.FileSystems.Ext4;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// The htree name hash compared with <c>debugfs dx_hash</c> (e2fsprogs). dx_hash only computes the signed
/// variants; the unsigned ones are compared with the hashes <c>htree_dump</c> prints for a file system whose
/// <c>s_flags</c> select unsigned hashing (in the directory tests).
/// </summary>
public sealed partial class Ext4DirectoryHashTests
{
    private static readonly string[] AlgorithmNames = ["legacy", "half_md4", "tea"];

    /// <summary>Names of every length 1–255 with ASCII, multi-byte UTF-8 and high bytes, without blanks or quotes (debugfs splits on them).</summary>
    internal static List<string> SampleNames(int seed, int count)
    {
        var rng = new Random(seed);
        const string Alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+=,@ßéüø日本語ж";
        var names = new List<string>(count);
        for (int i = 0; i < count; i++)
        {
            int bytes = i < 255 ? i + 1 : rng.Next(1, 256);
            var sb = new StringBuilder();
            while (true)
            {
                char c = Alphabet[rng.Next(Alphabet.Length)];
                if (Encoding.UTF8.GetByteCount(sb.ToString() + c) > bytes)
                {
                    break;
                }

                sb.Append(c);
            }

            if (sb.Length == 0)
            {
                sb.Append('x');
            }
            else if (sb[0] == '-' || sb.ToString() is "." or "..")
            {
                // debugfs would read a leading '-' as an option.
                sb[0] = 'x';
            }

            names.Add(sb.ToString());
        }

        return names;
    }

    [Theory]
    [InlineData(Ext4DirectoryHash.Legacy, "a", 0xE74B53E2u)]
    public void Compute_KnownValue_Matches(int version, string name, uint expected)
    {
        Assert.Equal(expected, Ext4DirectoryHash.Compute(Encoding.UTF8.GetBytes(name), version, default, out _));
    }

    [SkippableTheory]
    [InlineData(0, "")]
    [InlineData(1, "")]
    [InlineData(2, "")]
    [InlineData(1, "01234567-89ab-cdef-0123-456789abcdef")]
    [InlineData(2, "f0e1d2c3-b4a5-9687-7869-5a4b3c2d1e0f")]
    [InlineData(0, "01234567-89ab-cdef-0123-456789abcdef")]
    public void Compute_SampleNames_MatchDebugfs(int version, string seedText)
    {
        string debugfs = Oracle.Require("debugfs");
        Oracle.Require("mke2fs");
        using var temp = new TempDirectory();
        string image = temp.File("h.img");
        Oracle.RunOk("mke2fs", "-q", "-F", image, "1024k");
        List<string> names = SampleNames(4242 + version, 400);
        string commands = temp.File("cmds");
        var text = new StringBuilder();
        foreach (string n in names)
        {
            text.Append("dx_hash -h ").Append(AlgorithmNames[version]);
            if (seedText.Length > 0)
            {
                text.Append(" -s ").Append(seedText);
            }

            text.Append(' ').Append(n).Append('\n');
        }

        File.WriteAllText(commands, text.ToString(), new UTF8Encoding(false));
        ToolResult r = Oracle.Run(debugfs, ["-f", commands, image], TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0, r.ToString());
        MatchCollection matches = HashLine().Matches(r.StandardOutput);
        Assert.Equal(names.Count, matches.Count);

        uint[] seed = new uint[4];
        if (seedText.Length > 0)
        {
            byte[] bytes = new Guid(seedText).ToByteArray(bigEndian: true);
            for (int i = 0; i < 4; i++)
            {
                seed[i] = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(i * 4));
            }
        }

        for (int i = 0; i < names.Count; i++)
        {
            uint major = Ext4DirectoryHash.Compute(Encoding.UTF8.GetBytes(names[i]), version, seed, out uint minor);
            uint expectedMajor = uint.Parse(matches[i].Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            uint expectedMinor = uint.Parse(matches[i].Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            Assert.True(expectedMajor == major && expectedMinor == minor,
                $"version {version}, name #{i} '{names[i]}': debugfs 0x{expectedMajor:x8}/0x{expectedMinor:x8}, ours 0x{major:x8}/0x{minor:x8}");
        }
    }

    [GeneratedRegex(@"is 0x([0-9a-f]+) \(minor 0x([0-9a-f]+)\)")]
    private static partial Regex HashLine();
}
