using System.Buffers.Binary;
using System.Text;

namespace DiskImage.Guests;

/// <summary>
/// The x86 Linux boot header of a bzImage (Documentation/arch/x86/boot.rst, "The real-mode kernel header"):
/// <c>HdrS</c> at 0x202, <c>setup_sects</c> at 0x1F1, and the <c>kernel_version</c> pointer at 0x20E whose
/// NUL-terminated string lies at that pointer + 0x200, inside the setup area.
/// </summary>
internal static class BzImageHeader
{
    private const int SetupSectsOffset = 0x1F1;
    private const int BootFlagOffset = 0x1FE;
    private const int HeaderMagicOffset = 0x202;
    private const int ProtocolOffset = 0x206;
    private const int VersionPointerOffset = 0x20E;

    /// <summary>
    /// The version string (its first space-separated token equals <c>uname -r</c>), or null when
    /// <paramref name="kernel"/> is not a bzImage or carries no version string.
    /// </summary>
    public static string? ReadVersion(Stream kernel)
    {
        Span<byte> header = stackalloc byte[0x210];
        kernel.Position = 0;
        if (kernel.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length ||
            BinaryPrimitives.ReadUInt16LittleEndian(header[BootFlagOffset..]) != 0xAA55 ||
            !header.Slice(HeaderMagicOffset, 4).SequenceEqual("HdrS"u8) ||
            BinaryPrimitives.ReadUInt16LittleEndian(header[ProtocolOffset..]) < 0x0200)
        {
            return null;
        }

        int setupSects = header[SetupSectsOffset] == 0 ? 4 : header[SetupSectsOffset];
        int setupEnd = (setupSects + 1) * 512;
        int pointer = BinaryPrimitives.ReadUInt16LittleEndian(header[VersionPointerOffset..]);
        if (pointer == 0)
        {
            return null;
        }

        long at = pointer + 0x200L;
        if (at >= setupEnd)
        {
            return null;
        }

        byte[] text = new byte[Math.Min(256, setupEnd - (int)at)];
        kernel.Position = at;
        int n = kernel.ReadAtLeast(text, text.Length, throwOnEndOfStream: false);
        int end = Array.IndexOf(text, (byte)0, 0, n);
        if (end <= 0)
        {
            return null;
        }

        for (int i = 0; i < end; i++)
        {
            if (text[i] < 0x20 || text[i] > 0x7E)
            {
                return null;
            }
        }

        return Encoding.ASCII.GetString(text, 0, end);
    }
}
