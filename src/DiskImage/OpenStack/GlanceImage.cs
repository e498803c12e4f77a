namespace DiskImage.OpenStack;

/// <summary>One image record as Glance v2 returns it.</summary>
public sealed class GlanceImage
{
    /// <summary>The image's ID.</summary>
    public required string Id { get; init; }

    /// <summary>The image's name (names are not unique in Glance).</summary>
    public string? Name { get; init; }

    /// <summary><c>queued</c>, <c>saving</c>, <c>active</c>, <c>killed</c>, <c>deleted</c>, <c>pending_delete</c>,
    /// <c>deactivated</c>, <c>uploading</c> or <c>importing</c>.</summary>
    public required string Status { get; init; }

    /// <summary>The disk format (<c>qcow2</c>, <c>raw</c>, <c>aki</c>, <c>ari</c>, …), or null when unset.</summary>
    public string? DiskFormat { get; init; }

    /// <summary>The container format (<c>bare</c>, <c>aki</c>, <c>ari</c>, …), or null when unset.</summary>
    public string? ContainerFormat { get; init; }

    /// <summary><c>public</c>, <c>private</c>, <c>shared</c> or <c>community</c>.</summary>
    public string? Visibility { get; init; }

    /// <summary>The stored data's size in bytes, or null before upload.</summary>
    public long? Size { get; init; }

    /// <summary>The MD5 of the stored data as lower-case hex, or null.</summary>
    public string? Checksum { get; init; }

    /// <summary>The secure hash's algorithm (<c>sha512</c> by default), or null.</summary>
    public string? HashAlgorithm { get; init; }

    /// <summary>The secure hash of the stored data as lower-case hex, or null.</summary>
    public string? HashValue { get; init; }

    /// <summary>When the image was created, as Glance stored it.</summary>
    public DateTimeOffset? CreatedAt { get; init; }

    /// <summary>The image's custom properties (every top-level string field that is not one of the base
    /// fields): <c>kernel_id</c>, <c>ramdisk_id</c>, <c>hw_architecture</c>, …</summary>
    public required IReadOnlyDictionary<string, string> Properties { get; init; }
}
