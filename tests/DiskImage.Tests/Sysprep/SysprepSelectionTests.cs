using DiskImage.Sysprep;

namespace DiskImage.Tests.Sysprep;

public sealed class SysprepSelectionTests
{
    [Fact]
    public void Catalogue_HasVirtSysprepsOperationsAndDefaults()
    {
        var upstream = SysprepOperations.All.Where(o => !o.IsExtra).ToList();
        Assert.Equal(45, upstream.Count);
        Assert.Equal(39, upstream.Count(o => o.EnabledByDefault));
        Assert.Equal(["ca-certificates", "firewall-rules", "flag-reconfiguration", "fs-uuids", "kerberos-data", "user-account"],
            upstream.Where(o => !o.EnabledByDefault).Select(o => o.Name));
        Assert.All(SysprepOperations.All.Where(o => o.IsExtra), o => Assert.False(o.EnabledByDefault));
        Assert.Equal(SysprepOperations.All.Select(o => o.Name).Order(StringComparer.Ordinal), SysprepOperations.All.Select(o => o.Name));
    }

    [Fact]
    public void ParseOperations_KeywordsAndRemovals()
    {
        SysprepSelection s = SysprepSelection.ParseOperations("defaults,-customize,-machine-id,random-seed");
        Assert.False(s.Contains("customize"));
        Assert.False(s.Contains("machine-id"));
        Assert.True(s.Contains("random-seed"));
        Assert.True(s.Contains("logfiles"));
        Assert.Equal(38, s.Names.Count);

        // A later --operations continues from the earlier set.
        s = SysprepSelection.ParseOperations("-all,bash-history", s);
        Assert.Equal(["bash-history"], s.Names);
        Assert.Equal(SysprepOperations.All.Count(o => o.IsExtra), SysprepSelection.ParseOperations("extras").Names.Count);
    }

    [Theory]
    [InlineData("nosuch")]
    [InlineData("logfiles,,tmp-files")]
    [InlineData("-")]
    public void ParseOperations_UnknownOrEmpty_ArgumentException(string spec) =>
        Assert.Throws<ArgumentException>(() => SysprepSelection.ParseOperations(spec));

    [Fact]
    public void Enable_OnlyNames_MachineIdRunsLast()
    {
        SysprepSelection s = SysprepSelection.Enable("machine-id,tmp-files,abrt-data");
        Assert.Equal(["abrt-data", "tmp-files", "machine-id"], s.GetOperations().Select(o => o.Name));
        Assert.Throws<ArgumentException>(() => SysprepSelection.Enable("defaults"));
        Assert.Throws<ArgumentException>(() => SysprepSelection.Enable(""));
    }

    [Theory]
    [InlineData("*.bak", "x.bak", true)]
    [InlineData("*.bak", ".x.bak", false)]
    [InlineData(".[!.]*", ".hidden", true)]
    [InlineData(".[!.]*", "..", false)]
    [InlineData("..?*", "..x", true)]
    [InlineData("*_host_*", "ssh_host_rsa_key", true)]
    [InlineData("pacct*", "pacct", true)]
    [InlineData("__db.*", "__db.001", true)]
    [InlineData("[a-c]x", "bx", true)]
    [InlineData("[!a-c]x", "bx", false)]
    [InlineData("[x", "[x", true)]
    [InlineData("a?c", "abc", true)]
    [InlineData("a*b*c", "a-b-b-c", true)]
    [InlineData("a*b*c", "a-b-b-d", false)]
    public void Fnmatch_GlobSemantics(string pattern, string name, bool expected) =>
        Assert.Equal(expected, DiskImage.Sysprep.Fnmatch.IsMatch(pattern, name));
}
