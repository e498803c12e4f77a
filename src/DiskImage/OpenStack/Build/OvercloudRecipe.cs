using System.Security.Cryptography;
using System.Text;
using DiskImage.Sysprep;

namespace DiskImage.OpenStack.Build;

/// <summary>
/// A declarative description of an overcloud image set (YAML): the customizations (virt-customize option names)
/// and sysprep operations (virt-sysprep operation names) applied to the base guest, and the images built from the
/// result. See <c>docs/openstack.md</c> ("Build") for the format; <see cref="Default"/> builds the TripleO lab's set.
/// </summary>
public sealed class OvercloudRecipe
{
    private const string DefaultResource = "DiskImage.OpenStack.Build.overcloud-default.yaml";
    private static OvercloudRecipe? s_default;

    internal OvercloudRecipe(string text, IReadOnlyList<string> customize, SysprepSelection? sysprep, string? sysprepText,
        MachineIdPolicy machineId, IReadOnlyList<OvercloudImageRecipe> images)
    {
        Text = text;
        Customize = customize;
        Sysprep = sysprep;
        SysprepOperations = sysprepText;
        MachineId = machineId;
        Images = images;
    }

    /// <summary>The recipe's YAML text.</summary>
    public string Text { get; }

    /// <summary>The customizations as a virt-customize command line (<c>--hostname</c>, <c>overcloud</c>, ...), applied in order.</summary>
    public IReadOnlyList<string> Customize { get; }

    /// <summary>The sysprep operations as written (<c>defaults,random-seed</c>), or null when the recipe runs no sysprep.</summary>
    public string? SysprepOperations { get; }

    /// <summary>What sysprep's <c>machine-id</c> operation leaves (default <see cref="MachineIdPolicy.Uninitialized"/>, as diskimage-builder).</summary>
    public MachineIdPolicy MachineId { get; }

    /// <summary>The images, in build order.</summary>
    public IReadOnlyList<OvercloudImageRecipe> Images { get; }

    internal SysprepSelection? Sysprep { get; }

    /// <summary>The embedded default recipe: the lab's set (<c>overcloud-full.{qcow2,vmlinuz,initrd}</c>, <c>deploy-ramdisk-ironic.{kernel,initramfs}</c>, <c>ironic-python-agent.{kernel,initramfs}</c>).</summary>
    public static OvercloudRecipe Default => s_default ??= Parse(DefaultText, "default recipe");

    /// <summary>The embedded default recipe's YAML text.</summary>
    public static string DefaultText
    {
        get
        {
            using Stream s = typeof(OvercloudRecipe).Assembly.GetManifestResourceStream(DefaultResource)
                ?? throw new InvalidOperationException($"The embedded resource {DefaultResource} is missing.");
            using var reader = new StreamReader(s, Encoding.UTF8);
            return reader.ReadToEnd();
        }
    }

    /// <summary>Parses a recipe.</summary>
    /// <param name="text">The YAML text.</param>
    /// <param name="sourceName">The name used in error messages (a file name); null for "recipe".</param>
    /// <exception cref="InvalidDataException">The recipe is malformed; the message gives the line and column.</exception>
    public static OvercloudRecipe Parse(string text, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        return OvercloudRecipeParser.Parse(text, sourceName ?? "recipe");
    }

    /// <summary>Reads and parses the recipe file at <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The recipe is malformed; the message gives the file, line and column.</exception>
    public static OvercloudRecipe Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Returns the image named <paramref name="name"/>, or null.</summary>
    public OvercloudImageRecipe? FindImage(string name)
    {
        foreach (OvercloudImageRecipe image in Images)
        {
            if (string.Equals(image.Name, name, StringComparison.Ordinal))
            {
                return image;
            }
        }

        return null;
    }

    /// <summary>
    /// The hash of everything in the recipe that shapes <paramref name="image"/>'s files: the customizations, the
    /// sysprep selection and the image's own section (lower-case hex SHA-256 of a canonical rendering).
    /// </summary>
    internal string HashFor(OvercloudImageRecipe image)
    {
        var b = new StringBuilder();
        b.Append("overcloud-recipe/1\n");
        foreach (string a in Customize)
        {
            b.Append("customize\0").Append(a).Append('\n');
        }

        b.Append("sysprep\0");
        if (Sysprep is not null)
        {
            foreach (string n in Sysprep.Names.Order(StringComparer.Ordinal))
            {
                b.Append(n).Append(',');
            }
        }
        else
        {
            b.Append("none");
        }

        b.Append('\n').Append("machine-id\0").Append(MachineId).Append('\n');
        b.Append("image\0").Append(image.Name).Append('\0').Append(image.Kind).Append('\0').Append(image.FileSystem).Append('\0')
            .Append(image.XfsProfile).Append('\0').Append(image.Label).Append('\0').Append(image.Format).Append('\0')
            .Append(image.Compress).Append(image.Compress ? $"/{image.CompressionLevel}" : string.Empty).Append('\0').Append(image.ImageFile).Append('\0').Append(image.KernelFile).Append('\0')
            .Append(image.InitrdFile).Append('\n');
        if (image.Disk is { } disk)
        {
            b.Append(disk.Canonical());
        }
        if (image.Ramdisk is { } r)
        {
            b.Append("ramdisk\0").Append(string.Join('\0', r.Binaries)).Append('\n').Append(string.Join('\0', r.Modules)).Append('\n')
                .Append(string.Join('\0', r.Files)).Append('\n').Append(r.Init).Append('\0').Append(r.Compression).Append('\n');
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(b.ToString())));
    }
}
