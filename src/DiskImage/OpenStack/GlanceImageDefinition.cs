namespace DiskImage.OpenStack;

/// <summary>What <see cref="GlanceClient.CreateImageAsync"/> sends: name, formats, visibility and custom properties.</summary>
public sealed class GlanceImageDefinition
{
    /// <summary>The image's name.</summary>
    public required string Name { get; init; }

    /// <summary>The disk format: <c>qcow2</c>, <c>raw</c>, <c>aki</c>, <c>ari</c>, <c>ami</c>, <c>vhd</c>, <c>vhdx</c>,
    /// <c>vmdk</c>, <c>vdi</c>, <c>iso</c> or <c>ploop</c>.</summary>
    public required string DiskFormat { get; init; }

    /// <summary>The container format (default <c>bare</c>).</summary>
    public string ContainerFormat { get; init; } = "bare";

    /// <summary>The visibility: <c>public</c> (as the overcloud upload uses; needs the policy to allow it),
    /// <c>private</c>, <c>shared</c> or <c>community</c>; Glance's default when null.</summary>
    public string? Visibility { get; init; }

    /// <summary>Custom properties (string values only, as Glance requires).</summary>
    public IReadOnlyDictionary<string, string>? Properties { get; init; }
}
