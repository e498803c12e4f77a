using DiskImage.Customization;
using DiskImage.Sysprep;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace DiskImage.OpenStack.Build;

/// <summary>
/// Reads an <see cref="OvercloudRecipe"/> from YAML with YamlDotNet's representation model (no reflection, so the
/// library stays trim- and AOT-clean). Every error names the source, line and column.
/// </summary>
internal static class OvercloudRecipeParser
{
    private static readonly string[] TopKeys = ["version", "customize", "sysprep", "images"];
    private static readonly string[] SysprepKeys = ["operations", "machine-id"];
    private static readonly string[] PartitionKeys = ["name", "type", "all", "file-system", "xfs-profile", "label", "format", "compress", "compression-level", "image", "kernel", "initrd"];
    private static readonly string[] RamdiskKeys = ["name", "type", "all", "kernel", "initramfs", "ramdisk"];
    private static readonly string[] RamdiskSectionKeys = ["binaries", "modules", "files", "init", "compression"];

    public static OvercloudRecipe Parse(string text, string source)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new InvalidDataException($"{source}:{e.Start.Line}:{e.Start.Column}: not valid YAML: {e.Message}", e);
        }

        if (stream.Documents.Count != 1)
        {
            throw new InvalidDataException($"{source}: expected one YAML document, found {stream.Documents.Count}.");
        }

        var p = new Reader(source);
        YamlMappingNode root = p.Mapping(stream.Documents[0].RootNode, "the recipe");
        p.CheckKeys(root, TopKeys, "the recipe");
        if (p.Find(root, "version") is { } version && p.Scalar(version, "version") != "1")
        {
            throw p.Error(version, "unsupported recipe version (this version reads version 1)");
        }

        List<string> customize = p.Find(root, "customize") is { } c ? ReadCustomize(p, c) : [];
        SysprepSelection? sysprep = null;
        string? sysprepText = null;
        MachineIdPolicy machineId = MachineIdPolicy.Uninitialized;
        if (p.Find(root, "sysprep") is { } s)
        {
            (sysprep, sysprepText, machineId) = ReadSysprep(p, s);
        }

        YamlNode imagesNode = p.Find(root, "images") ?? throw p.Error(root, "the recipe has no 'images:' list");
        YamlSequenceNode images = p.Sequence(imagesNode, "images");
        if (images.Children.Count == 0)
        {
            throw p.Error(images, "'images:' is empty");
        }

        var list = new List<OvercloudImageRecipe>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (YamlNode item in images.Children)
        {
            OvercloudImageRecipe image = ReadImage(p, item);
            if (!names.Add(image.Name))
            {
                throw p.Error(item, $"a second image is named '{image.Name}'");
            }

            foreach (string f in image.Files)
            {
                if (!files.TryAdd(f, image.Name))
                {
                    throw p.Error(item, $"image '{image.Name}' writes '{f}', which image '{files[f]}' writes too");
                }
            }

            list.Add(image);
        }

        return new OvercloudRecipe(text, customize, sysprep, sysprepText, machineId, list);
    }

    private static List<string> ReadCustomize(Reader p, YamlNode node)
    {
        var args = new List<string>();
        if (node is YamlScalarNode { Value: null or "" })
        {
            return args;
        }

        foreach (YamlNode item in p.Sequence(node, "customize").Children)
        {
            string name;
            string? value = null;
            if (item is YamlScalarNode flag)
            {
                name = flag.Value ?? string.Empty;
            }
            else if (item is YamlMappingNode { Children.Count: 1 } m)
            {
                KeyValuePair<YamlNode, YamlNode> kv = m.Children.First();
                name = p.Scalar(kv.Key, "a customize option");
                value = p.Scalar(kv.Value, $"customize '{name}'");
            }
            else
            {
                throw p.Error(item, "each customize entry is an option name ('- selinux-relabel') or one 'option: argument' pair ('- hostname: overcloud')");
            }

            if (name.StartsWith("--", StringComparison.Ordinal))
            {
                name = name[2..];
            }

            if (!CustomizeScript.IsOption(name, out bool takes))
            {
                throw p.Error(item, $"'{name}' is not a customize option (virt-customize's option names: hostname, write, run-command, ...)");
            }

            if (takes != (value is not null))
            {
                throw p.Error(item, takes ? $"customize '{name}' needs an argument ('- {name}: ARG')" : $"customize '{name}' takes no argument ('- {name}')");
            }

            string[] one = value is null ? ["--" + name] : ["--" + name, value];
            try
            {
                CustomizeScript.Parse(one);
            }
            catch (CustomizationException e)
            {
                throw p.Error(item, e.Message);
            }
            catch (NotSupportedException e)
            {
                throw p.Error(item, e.Message);
            }

            args.AddRange(one);
        }

        return args;
    }

    private static (SysprepSelection?, string?, MachineIdPolicy) ReadSysprep(Reader p, YamlNode node)
    {
        if (node is YamlScalarNode { Value: "false" or "none" or null or "" })
        {
            return (null, null, MachineIdPolicy.Uninitialized);
        }

        YamlMappingNode m = p.Mapping(node, "sysprep");
        p.CheckKeys(m, SysprepKeys, "sysprep");
        string operations = "defaults";
        if (p.Find(m, "operations") is { } ops)
        {
            operations = ops is YamlSequenceNode seq ? string.Join(',', p.Strings(seq, "sysprep operations")) : p.Scalar(ops, "sysprep operations");
            operations = operations.Replace(" ", string.Empty, StringComparison.Ordinal);
        }

        SysprepSelection selection;
        try
        {
            selection = SysprepSelection.ParseOperations(operations);
        }
        catch (ArgumentException e)
        {
            throw p.Error(p.Find(m, "operations") ?? m, e.Message.Replace("--operations: ", string.Empty, StringComparison.Ordinal).Split(" (Parameter", 2)[0]);
        }

        MachineIdPolicy policy = MachineIdPolicy.Uninitialized;
        if (p.Find(m, "machine-id") is { } mid)
        {
            policy = p.Scalar(mid, "machine-id") switch
            {
                "empty" => MachineIdPolicy.Empty,
                "uninitialized" => MachineIdPolicy.Uninitialized,
                "keep" => MachineIdPolicy.Keep,
                string other => throw p.Error(mid, $"machine-id '{other}' is not empty, uninitialized or keep"),
            };
        }

        return (selection, operations, policy);
    }

    private static OvercloudImageRecipe ReadImage(Reader p, YamlNode node)
    {
        YamlMappingNode m = p.Mapping(node, "an image");
        YamlNode nameNode = p.Find(m, "name") ?? throw p.Error(m, "an image has no 'name:'");
        string name = p.FileName(nameNode, "name");
        string what = $"image '{name}'";
        YamlNode typeNode = p.Find(m, "type") ?? throw p.Error(m, $"{what} has no 'type:' (partition, whole-disk or ramdisk)");
        string type = p.Scalar(typeNode, "type");
        if (type == "partition")
        {
            p.CheckKeys(m, PartitionKeys, what);
            string fs = p.OneOf(m, "file-system", ["xfs", "ext4"], "xfs");
            string format = p.OneOf(m, "format", ["qcow2", "raw"], "qcow2");
            bool compress = p.Bool(m, "compress", false);
            if (compress && format != "qcow2")
            {
                throw p.Error(p.Find(m, "compress")!, $"{what}: compress needs format qcow2");
            }

            string label = p.Find(m, "label") is { } l ? p.Scalar(l, "label") : "img-rootfs";
            if (System.Text.Encoding.UTF8.GetByteCount(label) > (fs == "xfs" ? 12 : 16))
            {
                throw p.Error(p.Find(m, "label")!, $"{what}: the label '{label}' is longer than {(fs == "xfs" ? 12 : 16)} bytes");
            }

            return new OvercloudImageRecipe
            {
                Name = name,
                Kind = OvercloudImageKind.Partition,
                FileSystem = fs,
                XfsProfile = p.OneOf(m, "xfs-profile", ["debian12", "rhel9", "rhel8", "rhel7"], "debian12"),
                Label = label,
                Format = format,
                Compress = compress,
                CompressionLevel = p.CompressionLevel(m, compress, what),
                ImageFile = p.OptionalFile(m, "image", $"{name}.{format}"),
                KernelFile = p.OptionalFile(m, "kernel", $"{name}.vmlinuz"),
                InitrdFile = p.OptionalFile(m, "initrd", $"{name}.initrd"),
                BuildByDefault = p.Bool(m, "all", true),
            };
        }

        if (type == "ramdisk")
        {
            p.CheckKeys(m, RamdiskKeys, what);
            OvercloudRamdiskRecipe ramdisk = new();
            if (p.Find(m, "ramdisk") is { } r)
            {
                YamlMappingNode rm = p.Mapping(r, $"{what} ramdisk");
                p.CheckKeys(rm, RamdiskSectionKeys, $"{what} ramdisk");
                ramdisk = new OvercloudRamdiskRecipe
                {
                    Binaries = p.Find(rm, "binaries") is { } b ? p.Strings(p.Sequence(b, "binaries"), "binaries") : [],
                    Modules = p.Find(rm, "modules") is { } mo ? p.Strings(p.Sequence(mo, "modules"), "modules") : [],
                    Files = p.Find(rm, "files") is { } f ? p.Strings(p.Sequence(f, "files"), "files") : [],
                    Init = p.Find(rm, "init") is { } i ? p.Scalar(i, "init") : null,
                    Compression = p.OneOf(rm, "compression", ["gzip", "zstd", "xz", "lz4", "bzip2", "none"], "gzip"),
                };
            }

            return new OvercloudImageRecipe
            {
                Name = name,
                Kind = OvercloudImageKind.Ramdisk,
                KernelFile = p.OptionalFile(m, "kernel", $"{name}.kernel"),
                InitrdFile = p.OptionalFile(m, "initramfs", $"{name}.initramfs"),
                Ramdisk = ramdisk,
                BuildByDefault = p.Bool(m, "all", true),
            };
        }

        if (type == "whole-disk")
        {
            return OvercloudWholeDiskRecipeParser.Read(p, m, name);
        }

        throw p.Error(typeNode, $"{what}: type '{type}' is not partition, whole-disk or ramdisk");
    }

    /// <summary>Node accessors that throw <see cref="InvalidDataException"/> with the node's position.</summary>
    internal sealed class Reader(string source)
    {
        public InvalidDataException Error(YamlNode node, string message) =>
            new($"{source}:{node.Start.Line}:{node.Start.Column}: {message}");

        public YamlMappingNode Mapping(YamlNode node, string what) =>
            node as YamlMappingNode ?? throw Error(node, $"{what} must be a mapping ('key: value' lines)");

        public YamlSequenceNode Sequence(YamlNode node, string what) =>
            node as YamlSequenceNode ?? throw Error(node, $"'{what}' must be a list ('- item' lines)");

        public string Scalar(YamlNode node, string what) =>
            node is YamlScalarNode { Value: { } v } ? v : throw Error(node, $"'{what}' must be a single value");

        public List<string> Strings(YamlSequenceNode node, string what)
        {
            var list = new List<string>(node.Children.Count);
            foreach (YamlNode item in node.Children)
            {
                string v = Scalar(item, what);
                if (v.Length == 0)
                {
                    throw Error(item, $"an empty entry in '{what}'");
                }

                list.Add(v);
            }

            return list;
        }

        public YamlNode? Find(YamlMappingNode m, string key)
        {
            foreach (KeyValuePair<YamlNode, YamlNode> kv in m.Children)
            {
                if (kv.Key is YamlScalarNode { Value: { } k } && k == key)
                {
                    return kv.Value;
                }
            }

            return null;
        }

        public void CheckKeys(YamlMappingNode m, string[] allowed, string what)
        {
            foreach (KeyValuePair<YamlNode, YamlNode> kv in m.Children)
            {
                string key = Scalar(kv.Key, "a key");
                if (Array.IndexOf(allowed, key) < 0)
                {
                    throw Error(kv.Key, $"unknown key '{key}' in {what} (expected {string.Join(", ", allowed)})");
                }
            }
        }

        public string OneOf(YamlMappingNode m, string key, string[] values, string fallback)
        {
            if (Find(m, key) is not { } node)
            {
                return fallback;
            }

            string v = Scalar(node, key);
            return Array.IndexOf(values, v) >= 0 ? v : throw Error(node, $"{key} '{v}' is not one of {string.Join(", ", values)}");
        }

        public bool Bool(YamlMappingNode m, string key, bool fallback)
        {
            if (Find(m, key) is not { } node)
            {
                return fallback;
            }

            return Scalar(node, key) switch
            {
                "true" => true,
                "false" => false,
                string v => throw Error(node, $"{key} '{v}' is not true or false"),
            };
        }

        /// <summary>The <c>compression-level</c> key: a deflate level 1–9, only beside <c>compress: true</c>.</summary>
        public int CompressionLevel(YamlMappingNode m, bool compress, string what)
        {
            if (Find(m, "compression-level") is not { } node)
            {
                return OvercloudImageRecipe.DefaultCompressionLevel;
            }

            if (!compress)
            {
                throw Error(node, $"{what}: compression-level needs compress: true");
            }

            string v = Scalar(node, "compression-level");
            return v.Length == 1 && v[0] is >= '1' and <= '9' ? v[0] - '0' : throw Error(node, $"compression-level '{v}' is not a deflate level 1-9");
        }

        public string FileName(YamlNode node, string what)
        {
            string v = Scalar(node, what);
            if (v.Length == 0 || v is "." or ".." || v.Contains('/', StringComparison.Ordinal) || v.Contains('\\', StringComparison.Ordinal) || v.Contains('\0', StringComparison.Ordinal) || v.StartsWith('.'))
            {
                throw Error(node, $"{what} '{v}' must be a plain file name (no '/', not starting with '.')");
            }

            return v;
        }

        /// <summary>A file name key: absent gives <paramref name="fallback"/>, <c>false</c> means the file is not produced.</summary>
        public string? OptionalFile(YamlMappingNode m, string key, string fallback)
        {
            if (Find(m, key) is not { } node)
            {
                return fallback;
            }

            return node is YamlScalarNode { Value: "false" } ? null : FileName(node, key);
        }
    }
}
