namespace DiskImage.Lvm;

/// <summary>The kinds of <see cref="LvmConfigValue"/>.</summary>
internal enum LvmConfigValueKind
{
    String,
    Integer,
    Float,
    Array,
}
