namespace DiskImage.Lvm;

/// <summary>One committed copy of VG metadata found in one metadata area.</summary>
internal sealed record LvmMetadataCopy(LvmMetadataArea Area, byte[] Text, LvmConfigSection Root, LvmConfigSection VolumeGroup, string VolumeGroupId, long SequenceNumber);
