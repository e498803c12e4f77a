using System.Text;
using DiskImage.FileSystems.Fat;

namespace DiskImage.Tests.FileSystems.Fat;

/// <summary>Short names, aliases and the LFN checksum, against values verified with mtools 4.0.32.</summary>
public sealed class FatNamesTests
{
    [Theory]
    [InlineData("ALONGF~1TXT", 0x02)]
    [InlineData("LONGNA~1TXT", 0xF4)]
    public void Checksum_KnownShortNames_MatchMtools(string shortName, int expected) =>
        Assert.Equal(expected, FatNames.Checksum(Encoding.ASCII.GetBytes(shortName)));

    [Theory]
    [InlineData("hello.txt", "HELLO   TXT", 0x18, false)]
    [InlineData("abc", "ABC        ", 0x08, false)]
    [InlineData("README.TXT", "README  TXT", 0x00, false)]
    [InlineData("readme.TXT", "README  TXT", 0x08, false)]
    [InlineData("Makefile", "MAKEFILE   ", 0x00, true)]
    [InlineData("A long file name.txt", "ALONGF~1TXT", 0x00, true)]
    [InlineData("x.y.z", "XY~1    Z  ", 0x00, true)]
    [InlineData("a+b.txt", "A_B~1   TXT", 0x00, true)]
    [InlineData(".hidden", "HIDDEN~1   ", 0x00, true)]
    [InlineData("name with.many.dots.txt", "NAMEWI~1TXT", 0x00, true)]
    [InlineData("Ünïcödé.txt", "_N_C_D~1TXT", 0x00, true)]
    public void CreateShortName_Examples_MatchMtools(string name, string shortName, int ntCase, bool needsLong)
    {
        (byte[] sfn, byte nt, bool lfn) = FatNames.CreateShortName(name, _ => false);
        Assert.Equal(shortName, Encoding.Latin1.GetString(sfn));
        Assert.Equal(ntCase, nt);
        Assert.Equal(needsLong, lfn);
    }

    [Fact]
    public void CreateShortName_Collisions_CountUpAndShortenTheBase()
    {
        var taken = new HashSet<string>();
        string Next(string name)
        {
            (byte[] sfn, _, _) = FatNames.CreateShortName(name, b => taken.Contains(Encoding.Latin1.GetString(b)));
            string s = Encoding.Latin1.GetString(sfn);
            taken.Add(s);
            return s;
        }

        for (int i = 1; i <= 9; i++)
        {
            Assert.Equal($"LONGNA~{i}TXT", Next("long name " + i + ".txt"));
        }

        Assert.Equal("LONGN~10TXT", Next("long name 10.txt"));
        Assert.Equal("VERYLO~1C  ", Next("verylongname.c"));
        Assert.Equal("VERYLO~1H  ", Next("verylongname.h"));

        // A valid 8.3 name that collides (case-insensitively) gets an alias and a long name.
        taken.Add("HELLO   TXT");
        (byte[] alias, _, bool needsLong) = FatNames.CreateShortName("hello.txt", b => taken.Contains(Encoding.Latin1.GetString(b)));
        Assert.Equal("HELLO~1 TXT", Encoding.Latin1.GetString(alias));
        Assert.True(needsLong);
    }

    [Theory]
    [InlineData("a:b")]
    [InlineData("a*")]
    [InlineData("trailing.")]
    [InlineData("trailing ")]
    [InlineData("tab\there")]
    [InlineData("back\\slash")]
    public void ValidateLongName_Unstorable_ThrowsArgumentException(string name) =>
        Assert.Throws<ArgumentException>(() => FatNames.ValidateLongName(name));

    [Fact]
    public void ValidateLongName_TooLong_ThrowsPathTooLong() =>
        Assert.Throws<PathTooLongException>(() => FatNames.ValidateLongName(new string('a', 256)));

    [Fact]
    public void Time_RoundTrip_KeepsTwoSecondsAndHundredths()
    {
        var t = new DiskImage.FileSystems.UnixTime(1_700_000_001, 560_000_000);
        (ushort date, ushort time, byte hundredths) = FatTime.FromUnix(t);
        Assert.Equal(1_700_000_000, FatTime.ToUnix(date, time, 0).Seconds);
        Assert.Equal(t, FatTime.ToUnix(date, time, hundredths));
        (date, time, _) = FatTime.FromUnix(new DiskImage.FileSystems.UnixTime(0, 0));
        Assert.Equal(new DateTimeOffset(1980, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeSeconds(), FatTime.ToUnix(date, time, 0).Seconds);
    }
}
