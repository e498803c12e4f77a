using System.Text;
using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <content>Changing the backing file an image names (what <c>qemu-img rebase</c> does last).</content>
public sealed partial class Qcow2Image
{
    /// <summary>
    /// Rewrites the header of the qcow2 image in <paramref name="host"/> (which must not be open as a
    /// <see cref="Qcow2Image"/> for writing) to name <paramref name="backingFile"/> with format
    /// <paramref name="backingFormat"/>, or no backing file when <paramref name="backingFile"/> is
    /// null; the backing format extension follows (removed without a backing file or format).
    /// Nothing else of the header changes.
    /// </summary>
    /// <exception cref="InvalidDataException">The header is malformed, or the image is marked corrupt.</exception>
    /// <exception cref="IOException">The name and the header extensions do not fit in the first cluster.</exception>
    internal static void ChangeBackingFile(BlockDevice host, string? backingFile, string? backingFormat)
    {
        Qcow2Header header = Qcow2HeaderValidator.ReadValidatedHeader(host, writable: true, forRepair: false);
        byte[] cluster0 = new byte[header.ClusterSize];
        int read = host.Read(0, cluster0);
        cluster0.AsSpan(read).Clear();
        byte[]? name = string.IsNullOrEmpty(backingFile) ? null : Encoding.UTF8.GetBytes(backingFile);
        header.BackingFileNameBytes = name;
        int index = header.Extensions.FindIndex(e => e.Type == Qcow2HeaderExtension.BackingFormat);
        if (index >= 0)
        {
            header.Extensions.RemoveAt(index);
        }

        if (name is not null && !string.IsNullOrEmpty(backingFormat))
        {
            // QEMU writes the backing format first among the extensions.
            header.Extensions.Insert(0, new Qcow2HeaderExtension(Qcow2HeaderExtension.BackingFormat, Encoding.UTF8.GetBytes(backingFormat)));
        }

        int end = header.HeaderLength + header.ExtensionAreaSize + (name?.Length ?? 0);
        if (end > cluster0.Length || (name?.Length ?? 0) > Qcow2Header.MaxBackingFileNameLength)
        {
            throw new IOException("No space left on device");
        }

        header.WriteTo(cluster0);
        host.Write(0, cluster0.AsSpan(0, end));
        host.Flush();
    }
}
