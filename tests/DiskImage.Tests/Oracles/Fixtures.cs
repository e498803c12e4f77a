namespace DiskImage.Tests.Oracles;

/// <summary>
/// Real-world inputs prepared outside the test run (by <c>benchmarks/debootstrap-fixture.sh</c>, which
/// <c>.ci/run</c> calls). A missing fixture skips the test, or fails it under DISKIMAGE_REQUIRE_ORACLES=1.
/// </summary>
public static class Fixtures
{
    /// <summary>
    /// The Debian minbase tree made by debootstrap (path in DISKIMAGE_DEBOOTSTRAP_TREE). Read-only:
    /// tests must never change it.
    /// </summary>
    public static string RequireDebootstrapTree()
    {
        string? path = Environment.GetEnvironmentVariable("DISKIMAGE_DEBOOTSTRAP_TREE");
        if (!string.IsNullOrEmpty(path) && Directory.Exists(Path.Combine(path, "etc")))
        {
            return path;
        }

        string reason = "The debootstrap tree fixture is missing: run benchmarks/debootstrap-fixture.sh as root and " +
            "set DISKIMAGE_DEBOOTSTRAP_TREE to the path it prints.";
        if (Oracle.Required)
        {
            Assert.Fail(reason + " DISKIMAGE_REQUIRE_ORACLES=1 makes this a failure.");
        }

        throw new SkipException(reason);
    }
}
