using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Xml;
using DiskImage.Guests;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>inspect [-f fmt] [--output=human|json|xml] image</c>: the operating systems of a guest disk, like
/// <c>virt-inspector</c> (root, distro, version, product name, hostname, architecture, package format and
/// manager, mount points). <c>--output=xml</c> gives virt-inspector's element names (without applications).
/// </summary>
internal static class InspectCommand
{
    private const int OptHelp = 1000;
    private const int OptOutput = 1001;
    private const int OptJson = 1002;
    private const int OptXml = 1003;

    public static int Run(string[] args, TextWriter stdout)
    {
        string? format = null;
        string output = "human";
        var getopt = new GetOpt(args, "f:h", new LongOption("help", false, OptHelp), new LongOption("output", true, OptOutput), new LongOption("json", false, OptJson), new LongOption("xml", false, OptXml));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'f': format = value; break;
                case OptOutput: output = value!; break;
                case OptJson: output = "json"; break;
                case OptXml: output = "xml"; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        if (output is not ("human" or "json" or "xml"))
        {
            throw new CliException("--output must be used with human, json or xml as argument.");
        }

        if (getopt.Operands.Count != 1)
        {
            throw CliException.Usage("Expecting an image file name");
        }

        using GuestImage image = GuestImage.Open(getopt.Operands[0], format);
        IReadOnlyList<GuestOperatingSystem> systems;
        try
        {
            systems = image.Guest.Inspect();
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
        {
            throw new CliException($"'{getopt.Operands[0]}': {e.Message}");
        }

        stdout.Write(output switch
        {
            "json" => Json(systems),
            "xml" => Xml(systems),
            _ => Human(systems),
        });
        return systems.Count == 0 && output == "human" ? 1 : 0;
    }

    /// <summary>The mounts in virt-inspector's order: by mount-point length, then by name.</summary>
    internal static List<GuestMount> SortedMounts(GuestOperatingSystem os)
    {
        var list = new List<GuestMount>(os.Mounts);
        list.Sort((a, b) => a.MountPoint.Length != b.MountPoint.Length ? a.MountPoint.Length.CompareTo(b.MountPoint.Length) : string.CompareOrdinal(a.MountPoint, b.MountPoint));
        return list;
    }

    private static string Human(IReadOnlyList<GuestOperatingSystem> systems)
    {
        if (systems.Count == 0)
        {
            return "No operating system found.\n";
        }

        var sb = new StringBuilder();
        foreach (GuestOperatingSystem os in systems)
        {
            sb.Append(CultureInfo.InvariantCulture, $"root: {os.Root}\n");
            sb.Append(CultureInfo.InvariantCulture, $"  type: {os.Type}\n");
            sb.Append(CultureInfo.InvariantCulture, $"  distro: {os.Distro}\n");
            sb.Append(CultureInfo.InvariantCulture, $"  version: {os.MajorVersion}.{os.MinorVersion}\n");
            sb.Append(CultureInfo.InvariantCulture, $"  product name: {os.ProductName ?? "unknown"}\n");
            sb.Append(CultureInfo.InvariantCulture, $"  hostname: {os.Hostname ?? "unknown"}\n");
            sb.Append(CultureInfo.InvariantCulture, $"  arch: {os.Architecture ?? "unknown"}\n");
            sb.Append(CultureInfo.InvariantCulture, $"  package format: {os.PackageFormat ?? "unknown"}\n");
            sb.Append(CultureInfo.InvariantCulture, $"  package management: {os.PackageManagement ?? "unknown"}\n");
            sb.Append("  mountpoints:\n");
            foreach (GuestMount m in SortedMounts(os))
            {
                sb.Append(CultureInfo.InvariantCulture, $"    {m.MountPoint} {m.Device}\n");
            }

            foreach (string w in os.Warnings)
            {
                sb.Append(CultureInfo.InvariantCulture, $"  warning: {w}\n");
            }
        }

        return sb.ToString();
    }

    private static string Json(IReadOnlyList<GuestOperatingSystem> systems)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("operatingsystems");
            foreach (GuestOperatingSystem os in systems)
            {
                w.WriteStartObject();
                w.WriteString("root", os.Root);
                w.WriteString("name", os.Type);
                Write(w, "arch", os.Architecture);
                w.WriteString("distro", os.Distro);
                Write(w, "product_name", os.ProductName);
                w.WriteNumber("major_version", os.MajorVersion);
                w.WriteNumber("minor_version", os.MinorVersion);
                Write(w, "package_format", os.PackageFormat);
                Write(w, "package_management", os.PackageManagement);
                Write(w, "hostname", os.Hostname);
                w.WriteStartArray("mountpoints");
                foreach (GuestMount m in SortedMounts(os))
                {
                    w.WriteStartObject();
                    w.WriteString("dev", m.Device);
                    w.WriteString("mountpoint", m.MountPoint);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteStartArray("warnings");
                foreach (string warning in os.Warnings)
                {
                    w.WriteStringValue(warning);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    private static void Write(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }

    private static string Xml(IReadOnlyList<GuestOperatingSystem> systems)
    {
        var sb = new StringBuilder();
        using (var w = XmlWriter.Create(sb, new XmlWriterSettings { Indent = true, IndentChars = "  ", OmitXmlDeclaration = false, NewLineChars = "\n" }))
        {
            w.WriteStartElement("operatingsystems");
            foreach (GuestOperatingSystem os in systems)
            {
                w.WriteStartElement("operatingsystem");
                w.WriteElementString("root", os.Root);
                w.WriteElementString("name", os.Type);
                Element(w, "arch", os.Architecture);
                w.WriteElementString("distro", os.Distro);
                Element(w, "product_name", os.ProductName);
                w.WriteElementString("major_version", os.MajorVersion.ToString(CultureInfo.InvariantCulture));
                w.WriteElementString("minor_version", os.MinorVersion.ToString(CultureInfo.InvariantCulture));
                Element(w, "package_format", os.PackageFormat);
                Element(w, "package_management", os.PackageManagement);
                Element(w, "hostname", os.Hostname);
                w.WriteStartElement("mountpoints");
                foreach (GuestMount m in SortedMounts(os))
                {
                    w.WriteStartElement("mountpoint");
                    w.WriteAttributeString("dev", m.Device);
                    w.WriteString(m.MountPoint);
                    w.WriteEndElement();
                }

                w.WriteEndElement();
                w.WriteEndElement();
            }

            w.WriteEndElement();
        }

        return sb.ToString().Replace("encoding=\"utf-16\"", string.Empty, StringComparison.Ordinal).Replace("<?xml version=\"1.0\" ?>", "<?xml version=\"1.0\"?>", StringComparison.Ordinal) + "\n";
    }

    private static void Element(XmlWriter w, string name, string? value)
    {
        if (value is not null)
        {
            w.WriteElementString(name, value);
        }
    }
}
