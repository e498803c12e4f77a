namespace DiskImage.OpenStack.Build;

/// <summary>What an image of an <see cref="OvercloudRecipe"/> produces.</summary>
public enum OvercloudImageKind
{
    /// <summary>
    /// A partition image (a fresh file system holding the customized guest's tree, no partition table) plus the
    /// guest's kernel and initrd: <c>overcloud-full.{qcow2,vmlinuz,initrd}</c>.
    /// </summary>
    Partition = 0,

    /// <summary>A kernel and an initramfs assembled from the guest's tree: <c>ironic-python-agent.{kernel,initramfs}</c>.</summary>
    Ramdisk = 1,

    /// <summary>
    /// A whole-disk image: a partition table (GPT or MBR) with file systems on partitions and, optionally, on LVM
    /// logical volumes, the customized guest's tree split across them by mount point: <c>overcloud-hardened-uefi-full.qcow2</c>.
    /// </summary>
    WholeDisk = 2,
}
