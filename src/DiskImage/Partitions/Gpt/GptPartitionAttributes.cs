namespace DiskImage.Partitions.Gpt;

/// <summary>The GPT partition attribute bits (UEFI 2.10 §5.3.3, table 5-7); bits 48–63 are type-specific.</summary>
[Flags]
#pragma warning disable CA1711 // the spec's word
public enum GptPartitionAttributes : ulong
#pragma warning restore CA1711
{
    /// <summary>No attribute.</summary>
    None = 0,

    /// <summary>Bit 0: the platform requires the partition (sfdisk <c>RequiredPartition</c>).</summary>
    RequiredPartition = 1UL << 0,

    /// <summary>Bit 1: firmware must not produce an EFI_BLOCK_IO_PROTOCOL for it (sfdisk <c>NoBlockIOProtocol</c>).</summary>
    NoBlockIOProtocol = 1UL << 1,

    /// <summary>Bit 2: legacy BIOS bootable (sfdisk <c>LegacyBIOSBootable</c>).</summary>
    LegacyBiosBootable = 1UL << 2,

    /// <summary>Bit 60: read-only (Microsoft basic data, Discoverable Partitions).</summary>
    ReadOnly = 1UL << 60,

    /// <summary>Bit 62: hidden (Microsoft basic data).</summary>
    Hidden = 1UL << 62,

    /// <summary>Bit 63: no drive letter (Microsoft) / no auto-mount (Discoverable Partitions).</summary>
    NoAutoMount = 1UL << 63,
}
