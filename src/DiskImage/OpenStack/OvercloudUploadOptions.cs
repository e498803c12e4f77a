namespace DiskImage.OpenStack;

/// <summary>
/// What <see cref="OvercloudImageUploader"/> uploads and how, after <c>openstack overcloud image upload</c>.
/// </summary>
public sealed class OvercloudUploadOptions
{
    /// <summary>Upload from the current directory with the defaults of <c>openstack overcloud image upload</c>.</summary>
    public static OvercloudUploadOptions Default { get; } = new();

    /// <summary>The directory holding the images (<c>--image-path</c>; default the current directory).</summary>
    public string ImageDirectory { get; init; } = ".";

    /// <summary>The partition or whole-disk image's file name (<c>--os-image-name</c>; default <c>overcloud-full.qcow2</c>).
    /// Its Glance name is the file name without extension; its disk format follows the extension
    /// (<c>.qcow2</c> → <c>qcow2</c>, <c>.raw</c> → <c>raw</c>).</summary>
    public string OsImageName { get; init; } = "overcloud-full.qcow2";

    /// <summary>The agent ramdisk's base name (<c>--ironic-python-agent-name</c>; default <c>ironic-python-agent</c>):
    /// <c>NAME.kernel</c> and <c>NAME.initramfs</c> are copied to <see cref="HttpBootDirectory"/>.</summary>
    public string IronicPythonAgentName { get; init; } = "ironic-python-agent";

    /// <summary>Where the agent kernel and ramdisk are copied as <c>agent.kernel</c> and <c>agent.ramdisk</c>
    /// (<c>--http-boot</c>); nothing is copied when null.</summary>
    public string? HttpBootDirectory { get; init; }

    /// <summary>Replace images whose content changed (<c>--update-existing</c>): the old Glance image is renamed
    /// <c>NAME_&lt;created_at&gt;</c> and a new one uploaded. Without it a changed image is left as it is
    /// and reported.</summary>
    public bool UpdateExisting { get; init; }

    /// <summary>The image is a whole-disk image (<c>--whole-disk</c>): no kernel and ramdisk are uploaded and the
    /// image carries no <c>kernel_id</c>/<c>ramdisk_id</c>.</summary>
    public bool WholeDisk { get; init; }

    /// <summary>The <c>hw_architecture</c> property (<c>--architecture</c>; default <c>x86_64</c>). Any other value
    /// than <c>x86_64</c>, or a <see cref="Platform"/>, prefixes the Glance names as tripleoclient does.</summary>
    public string Architecture { get; init; } = "x86_64";

    /// <summary>The <c>tripleo_platform</c> property and name prefix (<c>--platform</c>), or null.</summary>
    public string? Platform { get; init; }

    /// <summary>Upload the operating-system image (and its kernel and ramdisk). Default true (<c>--image-type os</c> or both).</summary>
    public bool IncludeOsImage { get; init; } = true;

    /// <summary>Copy the agent kernel and ramdisk (<c>--image-type ironic-python-agent</c> or both). Default true;
    /// it takes effect only with <see cref="HttpBootDirectory"/>.</summary>
    public bool IncludeAgent { get; init; } = true;

    /// <summary>The visibility of the uploaded images (default <c>public</c>, as tripleoclient uploads).</summary>
    public string Visibility { get; init; } = "public";
}
