using System.Runtime.Versioning;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Write interop (issue acceptance 2): seeded random operation sequences (30–200 operations: files written,
/// overwritten, appended, truncated and made sparse; directories grown past one block into htrees and thinned
/// out; renames that replace; symlinks fast and slow; hard links; devices, FIFOs, sockets; chmod, chown, utimes
/// with nanoseconds; xattrs in the inode and in a block, SELinux labels and POSIX ACLs; on inline_data, directories
/// that start inline and grow into system.data and a block) applied to a writable
/// <see cref="DiskImage.FileSystems.Ext4.Ext4FileSystem"/> and to the in-memory model. After each sequence
/// e2fsck -fn (e2fsprogs 1.47) must exit 0, and the tree as debugfs reads it must equal the model. 45 seeds for
/// each of eight image kinds (360 sequences); one test class per kind so that kinds run in parallel.
/// </summary>
[SupportedOSPlatform("linux")]
public abstract class Ext4RandomOperationTests(Xunit.Abstractions.ITestOutputHelper output)
{
    public const int SeedsPerKind = 45;

    protected abstract Ext4RandomImageKind Kind { get; }

    public static TheoryData<int> Seeds()
    {
        var data = new TheoryData<int>();
        for (int i = 1; i <= SeedsPerKind; i++)
        {
            data.Add(i);
        }

        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Seeds))]
    public void RandomSequence_E2fsckCleanAndDebugfsTreeEqualsModel(int seed)
    {
        using Ext4RandomRun run = Ext4RandomRun.Execute(Kind, Kind.SeedBase + seed);
        try
        {
            run.AssertJudgesAgree();
        }
        finally
        {
            output.WriteLine(run.Timings.ToString());
        }
    }
}

[SupportedOSPlatform("linux")]
public sealed class Ext4RandomOperationTests_MkfsDefaults(Xunit.Abstractions.ITestOutputHelper output) : Ext4RandomOperationTests(output)
{
    protected override Ext4RandomImageKind Kind => Ext4RandomImageKind.MkfsDefaults;
}

[SupportedOSPlatform("linux")]
public sealed class Ext4RandomOperationTests_MkfsNoMetadataCsumNo64Bit(Xunit.Abstractions.ITestOutputHelper output) : Ext4RandomOperationTests(output)
{
    protected override Ext4RandomImageKind Kind => Ext4RandomImageKind.MkfsNoCsumNo64;
}

[SupportedOSPlatform("linux")]
public sealed class Ext4RandomOperationTests_Mkfs1KiBBlocks(Xunit.Abstractions.ITestOutputHelper output) : Ext4RandomOperationTests(output)
{
    protected override Ext4RandomImageKind Kind => Ext4RandomImageKind.Mkfs1K;
}

[SupportedOSPlatform("linux")]
public sealed class Ext4RandomOperationTests_Mkfs128ByteInodes(Xunit.Abstractions.ITestOutputHelper output) : Ext4RandomOperationTests(output)
{
    protected override Ext4RandomImageKind Kind => Ext4RandomImageKind.MkfsInode128;
}

[SupportedOSPlatform("linux")]
public sealed class Ext4RandomOperationTests_MkfsExt3(Xunit.Abstractions.ITestOutputHelper output) : Ext4RandomOperationTests(output)
{
    protected override Ext4RandomImageKind Kind => Ext4RandomImageKind.MkfsExt3;
}

[SupportedOSPlatform("linux")]
public sealed class Ext4RandomOperationTests_MkfsInlineData(Xunit.Abstractions.ITestOutputHelper output) : Ext4RandomOperationTests(output)
{
    protected override Ext4RandomImageKind Kind => Ext4RandomImageKind.MkfsInlineData;
}

[SupportedOSPlatform("linux")]
public sealed class Ext4RandomOperationTests_FormatDebian12(Xunit.Abstractions.ITestOutputHelper output) : Ext4RandomOperationTests(output)
{
    protected override Ext4RandomImageKind Kind => Ext4RandomImageKind.FormatDebian12;
}

[SupportedOSPlatform("linux")]
public sealed class Ext4RandomOperationTests_FormatRhel7(Xunit.Abstractions.ITestOutputHelper output) : Ext4RandomOperationTests(output)
{
    protected override Ext4RandomImageKind Kind => Ext4RandomImageKind.FormatRhel7;
}
