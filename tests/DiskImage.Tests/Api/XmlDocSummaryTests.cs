using System.Xml.Linq;
using DiskImage.FileSystems.Ext4;
using DiskImage.Formats.Qcow2;

namespace DiskImage.Tests.Api;

/// <summary>
/// The package's XML documentation (the DiskImage.xml built beside the assembly, the file IntelliSense
/// reads) carries exactly one type-level summary per type: a partial file that adds its own summary
/// makes IntelliSense show whichever comes first.
/// </summary>
public sealed class XmlDocSummaryTests
{
    private static readonly Lazy<XDocument> s_doc = new(() =>
    {
        string path = Path.ChangeExtension(typeof(Qcow2Image).Assembly.Location, ".xml");
        Assert.True(File.Exists(path), $"the XML documentation file {path} was not built");
        return XDocument.Load(path);
    });

    [Fact]
    public void Qcow2Image_XmlDoc_HasExactlyOneSummary() => AssertOneSummary(typeof(Qcow2Image));

    [Fact]
    public void Ext4FileSystem_XmlDoc_HasExactlyOneSummary() => AssertOneSummary(typeof(Ext4FileSystem));

    [Fact]
    public void PublicTypes_XmlDoc_EachHasExactlyOneSummary()
    {
        var wrong = new List<string>();
        Type[] types = typeof(Qcow2Image).Assembly.GetExportedTypes();
        foreach (Type type in types)
        {
            int count = SummaryCount(type);
            if (count != 1)
            {
                wrong.Add($"{MemberName(type)}: {count} summaries");
            }
        }

        Assert.True(types.Length > 50, $"only {types.Length} public types found");
        Assert.True(wrong.Count == 0, "types without exactly one <summary>: " + string.Join("; ", wrong));
    }

    [Fact]
    public void DocumentedTypes_XmlDoc_NoneHasMoreThanOneSummary()
    {
        // Internal types are documented in the same file; a partial internal type must not repeat its summary either.
        var wrong = new List<string>();
        foreach (XElement member in s_doc.Value.Root!.Element("members")!.Elements("member"))
        {
            string name = (string?)member.Attribute("name") ?? string.Empty;
            int count = member.Elements("summary").Count();
            if (name.StartsWith("T:", StringComparison.Ordinal) && count > 1)
            {
                wrong.Add($"{name}: {count} summaries");
            }
        }

        Assert.True(wrong.Count == 0, "types with more than one <summary>: " + string.Join("; ", wrong));
    }

    private static void AssertOneSummary(Type type)
    {
        int count = SummaryCount(type);
        Assert.True(count == 1, $"{MemberName(type)} has {count} <summary> elements in the XML documentation; expected exactly one");
    }

    private static string MemberName(Type type) => "T:" + type.FullName!.Replace('+', '.');

    private static int SummaryCount(Type type)
    {
        string name = MemberName(type);
        int count = 0;
        foreach (XElement member in s_doc.Value.Root!.Element("members")!.Elements("member"))
        {
            if ((string?)member.Attribute("name") == name)
            {
                count += member.Elements("summary").Count();
            }
        }

        return count;
    }
}
