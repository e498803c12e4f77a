using System.Buffers.Binary;
using DiskImage.FileSystems.Ext4;
using DiskImage.Tests.Cli;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// The ext4 verbs' smaller points of issue 9: errors say what the shell user can do (never a library
/// option name), a directory given as the image is named as such, and <c>-T upstream</c> (documented)
/// is accepted. Images are made by mke2fs and judged by dumpe2fs and e2fsck -fn (e2fsprogs 1.47).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class Ext4CliMessageTests
{
    [SkippableFact]
    public void Verbs_JournalNeedsRecovery_MessagesNameNoLibraryOption()
    {
        Oracle.Require("mke2fs");
        using var temp = new TempDirectory();
        string img = temp.File("fs.img");
        Assert.Equal(0, Oracle.Run("mke2fs", "-q", "-F", "-t", "ext4", img, "8M").ExitCode);
        byte[] bytes = File.ReadAllBytes(img);
        SetNeedsRecovery(bytes);
        File.WriteAllBytes(img, bytes);
        string add = temp.File("add");
        File.WriteAllText(add, "x");

        CliResult ls = CliHarness.Run("ls", img);
        Assert.True(ls.ExitCode != 0, ls.ToString());
        Assert.DoesNotContain("Ext4OpenOptions", ls.StandardError, StringComparison.Ordinal);
        Assert.Contains("--skip-journal", ls.StandardError, StringComparison.Ordinal);

        // A writing verb replays the journal first, as a kernel mount does.
        CliResult copyIn = CliHarness.Run("copy-in", img, add, "/");
        Assert.True(copyIn.ExitCode == 0, copyIn.ToString());
        Assert.Equal("x", CliHarness.RunOk("cat", img, "/add").StandardOutput);

        // Also corrupt: the message is about the corruption, still without a library option.
        bytes[2048 + 0x0C] ^= 0x01;
        File.WriteAllBytes(img, bytes);
        foreach (CliResult r in new[] { CliHarness.Run("ls", img), CliHarness.Run("cat", img, "/x"), CliHarness.Run("copy-in", img, add, "/") })
        {
            Assert.True(r.ExitCode != 0, r.ToString());
            Assert.DoesNotContain("Ext4OpenOptions", r.StandardError, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public void Verbs_DirectoryGivenAsImage_SayIsADirectory()
    {
        using var temp = new TempDirectory();
        foreach (string[] args in new[] { new[] { "ls", temp.Path }, ["cat", temp.Path, "/x"], ["copy-in", temp.Path, temp.Path, "/"] })
        {
            CliResult r = CliHarness.Run(args);
            Assert.True(r.ExitCode != 0, r.ToString());
            Assert.Contains("Is a directory", r.StandardError, StringComparison.Ordinal);
            Assert.DoesNotContain("ermission", r.StandardError, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public void MkfsAndMakeFs_ProfileUpstream_AcceptedWithItsFeatures()
    {
        Oracle.Require("dumpe2fs");
        Oracle.Require("e2fsck");
        using var temp = new TempDirectory();
        string img = temp.File("up.img");
        CliHarness.RunOk("mkfs", "--size", "64M", "-T", "upstream", "ext4", img);
        string src = temp.File("src");
        Directory.CreateDirectory(src);
        File.WriteAllText(Path.Combine(src, "f"), "x");
        string made = temp.File("made.img");
        CliHarness.RunOk("make-fs", "-T", "upstream", src, made);
        foreach (string image in new[] { img, made })
        {
            string header = Oracle.RunOk("dumpe2fs", "-h", image).StandardOutput;
            Assert.Contains("metadata_csum_seed", header, StringComparison.Ordinal);
            if (image == img)
            {
                // The tiny make-fs image has no journal, and mke2fs adds orphan_file only with one.
                Assert.Contains("orphan_file", header, StringComparison.Ordinal);
            }
            ToolResult fsck = Oracle.Run("e2fsck", "-fn", image);
            Assert.True(fsck.ExitCode == 0, fsck.ToString());
        }
    }

    private static void SetNeedsRecovery(byte[] image)
    {
        Span<byte> sb = image.AsSpan(1024, 1024);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[0x60..], BinaryPrimitives.ReadUInt32LittleEndian(sb[0x60..]) | 0x4);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[0x3FC..], Ext4Checksum.Crc32C(~0u, sb[..0x3FC]));
    }
}
