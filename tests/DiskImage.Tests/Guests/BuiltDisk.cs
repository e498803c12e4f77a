using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Guests;

/// <summary>
/// A disk image a fixture builds once, on first use, with the real tools: the path, or why it cannot be built here
/// (the test then skips, or fails under DISKIMAGE_REQUIRE_ORACLES=1 unless the reason is not running as root).
/// </summary>
internal sealed class BuiltDisk
{
    private readonly Lazy<(string? Image, string? Skip)> _built;

    public BuiltDisk(Func<(string? Image, string? Skip)> build) => _built = new(build);

    /// <summary>The image path; skips the calling test when it cannot be built here.</summary>
    public string Require()
    {
        (string? image, string? skip) = _built.Value;
        if (skip is not null)
        {
            if (Oracle.Required && !skip.StartsWith("not root", StringComparison.Ordinal))
            {
                Assert.Fail(skip);
            }

            throw new SkipException(skip);
        }

        return image!;
    }

    /// <summary>A private sparse copy of the image (for tests that write).</summary>
    public string Copy(TempDirectory tmp)
    {
        string copy = tmp.File("disk-copy.img");
        ToolResult r = Oracle.Run("cp", ["--sparse=always", Require(), copy], TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode == 0, r.ToString());
        return copy;
    }
}
