namespace DiskImage.Archives.Cpio;

/// <summary>Limits of the newc/crc format and of the Linux kernel's initramfs unpacker.</summary>
public static class CpioLimits
{
    /// <summary>Largest name in bytes including its terminating NUL (<c>PATH_MAX</c>); the kernel skips longer names.</summary>
    public const int MaxNameSize = 4096;

    /// <summary>Largest symbolic link target in bytes (<c>PATH_MAX</c>).</summary>
    public const int MaxLinkTargetLength = 4095;

    /// <summary>Largest file size: every numeric field is 8 hex digits (32 bits).</summary>
    public const long MaxFileSize = uint.MaxValue;

    /// <summary>The name of the entry that ends an archive.</summary>
    public const string TrailerName = "TRAILER!!!";
}
