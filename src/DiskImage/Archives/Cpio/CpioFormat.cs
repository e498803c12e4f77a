namespace DiskImage.Archives.Cpio;

/// <summary>The cpio header variants the Linux kernel accepts (SVR4 "new ASCII").</summary>
public enum CpioFormat
{
    /// <summary>newc: magic <c>070701</c>, checksum field zero.</summary>
    Newc = 1,

    /// <summary>crc: magic <c>070702</c>, checksum field is the 32-bit sum of all data bytes of regular files.</summary>
    Crc = 2,
}
