using DiskImage.Cli;

namespace DiskImage.Tests.Cli;

public class ArgumentParsingTests
{
    private static (List<string> Options, IReadOnlyList<string> Operands) Parse(string spec, string[] args, params LongOption[] longs)
    {
        var getopt = new GetOpt(args, spec, longs);
        var seen = new List<string>();
        while (getopt.Next(out int option, out string? value))
        {
            seen.Add(option < 1000 ? $"{(char)option}={value}" : $"#{option}={value}");
        }

        return (seen, getopt.Operands);
    }

    [Fact]
    public void GetOpt_CombinedShortFlags_ReturnsEach()
    {
        (List<string> options, IReadOnlyList<string> operands) = Parse("cpqO:", ["-cpq", "-Oqcow2", "a", "b"]);
        Assert.Equal(["c=", "p=", "q=", "O=qcow2"], options);
        Assert.Equal(["a", "b"], operands);
    }

    [Fact]
    public void GetOpt_FlagsCombinedWithArgumentLetter_TakesRestOrNextArgument()
    {
        Assert.Equal(["c=", "O=raw"], Parse("cO:", ["-cO", "raw"]).Options);
        Assert.Equal(["c=", "O=raw"], Parse("cO:", ["-cOraw"]).Options);
    }

    [Fact]
    public void GetOpt_LongOptionWithEqualsOrSeparateValue_BothAccepted()
    {
        var output = new LongOption("output", true, 1000);
        Assert.Equal(["#1000=json"], Parse("f:", ["--output=json", "x"], output).Options);
        Assert.Equal(["#1000=json"], Parse("f:", ["--output", "json", "x"], output).Options);
        Assert.Equal(["x"], Parse("f:", ["--output", "json", "x"], output).Operands);
    }

    [Fact]
    public void GetOpt_UniqueLongPrefix_Matches()
    {
        Assert.Equal(["#1001="], Parse("", ["--backing"], new LongOption("backing-chain", false, 1001), new LongOption("output", true, 1000)).Options);
    }

    [Fact]
    public void GetOpt_OptionsAfterOperands_AreStillOptions()
    {
        (List<string> options, IReadOnlyList<string> operands) = Parse("f:q", ["img", "-q", "-f", "raw"]);
        Assert.Equal(["q=", "f=raw"], options);
        Assert.Equal(["img"], operands);
    }

    [Fact]
    public void GetOpt_DoubleDash_EndsOptions()
    {
        (List<string> options, IReadOnlyList<string> operands) = Parse("q", ["-q", "--", "-x", "-"]);
        Assert.Equal(["q="], options);
        Assert.Equal(["-x", "-"], operands);
    }

    [Fact]
    public void GetOpt_UnknownOption_ThrowsUsageErrorLikeQemuImg()
    {
        var e = Assert.Throws<CliException>(() => Parse("q", ["-x"]));
        Assert.Equal("unrecognized option '-x'", e.Message);
        Assert.True(e.ShowHelpHint);
        e = Assert.Throws<CliException>(() => Parse("q", ["--nope"]));
        Assert.Equal("unrecognized option '--nope'", e.Message);
    }

    [Fact]
    public void GetOpt_MissingArgument_ThrowsUsageErrorLikeQemuImg()
    {
        Assert.Equal("missing argument for option '-f'", Assert.Throws<CliException>(() => Parse("f:", ["-f"])).Message);
        Assert.Equal("missing argument for option '--output'", Assert.Throws<CliException>(() => Parse("", ["--output"], new LongOption("output", true, 1000))).Message);
    }

    [Theory]
    [InlineData("0", 0L)]
    [InlineData("512", 512L)]
    [InlineData("64k", 65536L)]
    [InlineData("64K", 65536L)]
    [InlineData("1M", 1048576L)]
    [InlineData("1.5M", 1572864L)]
    [InlineData("10G", 10737418240L)]
    [InlineData("2T", 2199023255552L)]
    [InlineData("1P", 1125899906842624L)]
    [InlineData("7E", 8070450532247928832L)]
    [InlineData("4096b", 4096L)]
    [InlineData("1.M", 1048576L)]
    [InlineData("1.5k", 1536L)]
    [InlineData("0x10", 16L)]
    [InlineData(" 5", 5L)]
    public void QemuSize_ValidSizes_Parse(string text, long expected)
    {
        Assert.True(QemuSize.TryParse(text, out long value));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("5x")]
    [InlineData("-1")]
    [InlineData("1.5")]
    [InlineData("1.5b")]
    [InlineData("8E")]
    [InlineData("99999999999999999999")]
    [InlineData("1MM")]
    [InlineData(".5M")]
    [InlineData("5kB")]
    public void QemuSize_InvalidSizes_Fail(string text) => Assert.False(QemuSize.TryParse(text, out _));

    [Theory]
    [InlineData(0L, "0 B")]
    [InlineData(999L, "999 B")]
    [InlineData(1000L, "0.977 KiB")]
    [InlineData(4096L, "4 KiB")]
    [InlineData(200704L, "196 KiB")]
    [InlineData(1572864L, "1.5 MiB")]
    [InlineData(10485760L, "10 MiB")]
    [InlineData(1073741824L, "1 GiB")]
    [InlineData(1099511627776L, "1 TiB")]
    public void QemuSize_ToHuman_MatchesQemuSizeToStr(long bytes, string expected) => Assert.Equal(expected, QemuSize.ToHuman(bytes));

    [Fact]
    public void QemuOptionList_EscapedCommas_AreLiteral()
    {
        var list = new QemuOptionList();
        list.Add("backing_file=a,,b.qcow2,backing_fmt=qcow2");
        Assert.Equal("a,b.qcow2", list.Get("backing_file"));
        Assert.Equal("qcow2", list.Get("backing_fmt"));
        Assert.Equal(2, list.Items.Count);
    }

    [Fact]
    public void QemuOptionList_RepeatedOptions_LaterValueWinsAndListsAccumulate()
    {
        var list = new QemuOptionList();
        list.Add("cluster_size=4k,compat=0.10");
        list.Add("compat=1.1,lazy_refcounts");
        Assert.Equal("4k", list.Get("cluster_size"));
        Assert.Equal("1.1", list.Get("compat"));
        Assert.Equal("on", list.Get("lazy_refcounts"));
        Assert.False(list.HelpRequested);
    }

    [Theory]
    [InlineData("help")]
    [InlineData("?")]
    [InlineData("cluster_size=4k,help")]
    public void QemuOptionList_Help_IsRecognized(string text)
    {
        var list = new QemuOptionList();
        list.Add(text);
        Assert.True(list.HelpRequested);
    }

    [Fact]
    public void QemuOptionList_EmptyName_Throws()
    {
        var list = new QemuOptionList();
        Assert.Throws<CliException>(() => list.Add("=x"));
    }

    [Fact]
    public void QemuJson_ImageInfoKeys_OrderedLikeQemuQDict()
    {
        var o = new QemuJsonObject();
        foreach (string key in (string[])["filename", "format", "dirty-flag", "actual-size", "virtual-size", "cluster-size", "backing-filename", "full-backing-filename", "backing-filename-format", "snapshots", "format-specific"])
        {
            o.Add(key, 0L);
        }

        var order = new List<string>();
        foreach (KeyValuePair<string, object> m in o.OrderedMembers())
        {
            order.Add(m.Key);
        }

        // The order qemu-img 7.2 prints (checked against its output).
        Assert.Equal(
            ["backing-filename-format", "snapshots", "virtual-size", "filename", "cluster-size", "format", "actual-size", "format-specific", "full-backing-filename", "backing-filename", "dirty-flag"],
            order);
    }

    [Fact]
    public void QemuJson_Format_PrettyPrintsLikeQemu()
    {
        var o = new QemuJsonObject()
            .Add("virtual-size", 1073741824L)
            .Add("filename", "a.qcow2")
            .Add("format-specific", new QemuJsonObject().Add("type", "qcow2").Add("data", new QemuJsonObject().Add("compat", "1.1").Add("corrupt", false)))
            .Add("dirty-flag", false);
        const string Expected = """
            {
                "virtual-size": 1073741824,
                "filename": "a.qcow2",
                "format-specific": {
                    "type": "qcow2",
                    "data": {
                        "compat": "1.1",
                        "corrupt": false
                    }
                },
                "dirty-flag": false
            }
            """;
        Assert.Equal(Expected.Replace("\r\n", "\n", StringComparison.Ordinal), QemuJson.Format(o));
    }

    [Fact]
    public void QemuJson_Strings_EscapedLikeQemu()
    {
        var sb = new System.Text.StringBuilder();
        QemuJson.WriteString(sb, "a\"b\\c/d\n\u0001é\u007f");
        Assert.Equal("\"a\\\"b\\\\c/d\\n\\u0001\\u00E9\\u007F\"", sb.ToString());
    }
}
