namespace DiskImage.Formats.Qcow2;

/// <summary>What <see cref="Qcow2Image.Check(Qcow2RepairMode)"/> may fix (qemu-img check <c>-r</c>).</summary>
public enum Qcow2RepairMode
{
    /// <summary>Only report.</summary>
    None = 0,

    /// <summary>Fix leaked clusters (<c>-r leaks</c>).</summary>
    Leaks = 1,

    /// <summary>Fix leaks and refcount errors, rebuilding the refcount structures if needed (<c>-r all</c>).</summary>
    All = 2,
}
