using System.Buffers.Binary;
using System.Security.Cryptography;
using DiskImage.Formats.Luks;
using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <summary>
/// The encryption of a qcow2 image (crypt_method, qcow2 spec "Full disk encryption header pointer"):
/// for LUKS, the LUKS1 header in the clusters the 0x0537be77 extension names (offset, length; key
/// material offsets count from that header) and, once unlocked, the payload cipher. Data clusters are
/// encrypted in 512-byte sectors numbered by host offset / 512; L1/L2, refcounts and the header stay
/// plain. Legacy AES (crypt_method 1) is recognized for <c>info</c> only.
/// </summary>
internal sealed class Qcow2Encryption : IDisposable
{
    private Qcow2Encryption(uint method, LuksHeader? luks, long headerOffset, long headerLength, LuksPayload? payload)
    {
        Method = method;
        Luks = luks;
        HeaderOffset = headerOffset;
        HeaderLength = headerLength;
        Payload = payload;
    }

    /// <summary>The header's crypt_method: 1 AES, 2 LUKS.</summary>
    public uint Method { get; }

    /// <summary>The LUKS header (crypt_method 2).</summary>
    public LuksHeader? Luks { get; }

    /// <summary>Host offset of the LUKS header.</summary>
    public long HeaderOffset { get; }

    /// <summary>Bytes of the LUKS area in the host (the extension's length).</summary>
    public long HeaderLength { get; }

    /// <summary>The data cipher, or <see langword="null"/> when opened without a passphrase (metadata only).</summary>
    public LuksPayload? Payload { get; }

    /// <summary>"aes" or "luks", as <c>qemu-img info</c> shows <c>encrypt.format</c>.</summary>
    public string FormatName => Method == 1 ? "aes" : "luks";

    /// <summary>
    /// Reads the encryption of an image whose header has a non-zero crypt_method. The content can be
    /// read only for LUKS with a passphrase; other opens must be for metadata only.
    /// </summary>
    /// <exception cref="NotSupportedException">Legacy AES, or LUKS without a passphrase, for an open that needs the content; an unknown method.</exception>
    /// <exception cref="InvalidDataException">The extension or LUKS header is malformed.</exception>
    /// <exception cref="CryptographicException">The passphrase opens no key slot.</exception>
    public static Qcow2Encryption? Open(BlockDevice host, Qcow2Header header, DiskImageOpenOptions options)
    {
        const string S = "qcow2 full disk encryption header extension";
        Qcow2HeaderExtension? ext = header.FindExtension(Qcow2HeaderExtension.FullDiskEncryption);
        switch (header.CryptMethod)
        {
            case 0:
                return null;
            case 1:
                if (!options.MetadataOnly)
                {
                    FormatError.Unsupported("The qcow2 image is encrypted with legacy AES (encrypt.format=aes), which is not supported; only its metadata can be shown.");
                }

                return new Qcow2Encryption(1, null, 0, 0, null);
            case 2:
                break;
            default:
                FormatError.Unsupported($"The qcow2 image uses unknown encryption method {header.CryptMethod}.");
                return null;
        }

        if (ext is null || ext.Data.Length < 16)
        {
            FormatError.Throw(S, 0, "the LUKS-encrypted image has no (or a short) full disk encryption header extension.");
        }

        long offset = (long)BinaryPrimitives.ReadUInt64BigEndian(ext!.Data);
        long length = (long)BinaryPrimitives.ReadUInt64BigEndian(ext.Data.AsSpan(8));
        if (offset <= 0 || length < LuksHeader.Size || (offset & (header.ClusterSize - 1)) != 0 || offset > host.Length || length > host.Length - offset)
        {
            FormatError.Throw(S, 0, $"the LUKS header at {offset} ({length} bytes) is not inside the image or not cluster aligned.");
        }

        if ((header.IncompatibleFeatures & Qcow2IncompatibleFeatures.ExternalDataFile) != 0 && !options.MetadataOnly)
        {
            FormatError.Unsupported("An encrypted qcow2 image with an external data file is not supported.");
        }

        LuksHeader luks = LuksVolume.ReadHeader(host, offset);
        if (options.MetadataOnly)
        {
            return new Qcow2Encryption(2, luks, offset, length, null);
        }

        if (options.Passphrase is not { } passphrase)
        {
            FormatError.Unsupported("The qcow2 image is LUKS-encrypted; opening its content needs the passphrase (DiskImageOpenOptions.Passphrase).");
            return null;
        }

        byte[] key = LuksVolume.UnlockMasterKey(host, offset, luks, passphrase.Span);
        try
        {
            return new Qcow2Encryption(2, luks, offset, length, new LuksPayload(LuksVolume.CreatePayloadCipher(luks, key), origin: 0));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Makes the LUKS encryption of a new image whose LUKS area is written at <paramref name="offset"/>.</summary>
    public static Qcow2Encryption Create(LuksHeader luks, ReadOnlySpan<byte> masterKey, long offset, long length) =>
        new(2, luks, offset, length, new LuksPayload(LuksVolume.CreatePayloadCipher(luks, masterKey), origin: 0));

    /// <summary>The extension's data: the LUKS header's host offset and length, big-endian.</summary>
    public static byte[] ExtensionData(long offset, long length)
    {
        byte[] data = new byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(data, (ulong)offset);
        BinaryPrimitives.WriteUInt64BigEndian(data.AsSpan(8), (ulong)length);
        return data;
    }

    /// <inheritdoc />
    public void Dispose() => Payload?.Dispose();
}
