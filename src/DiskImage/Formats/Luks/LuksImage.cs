using System.Security.Cryptography;
using DiskImage.IO;

namespace DiskImage.Formats.Luks;

/// <summary>
/// A raw LUKS1 image (qemu's <c>luks</c> format): the LUKS header, key material, then the encrypted
/// payload, which is the guest disk. Opened with <see cref="DiskImageOpenOptions.Passphrase"/>, the
/// content reads and writes decrypted; without it only <see cref="GetInfo"/> is available. Ciphers:
/// AES-XTS (plain64 or plain IV) and AES-CBC (plain64, plain or ESSIV); hashes sha1, sha256, sha384
/// and sha512. LUKS2 headers and other ciphers are refused with <see cref="NotSupportedException"/>.
/// </summary>
public sealed class LuksImage : DiskImageFile
{
    private readonly FileBlockDevice _file;
    private readonly LuksHeader _header;
    private readonly LuksContentDevice? _content;

    private LuksImage(FileBlockDevice file, string fileName, LuksHeader header, LuksContentDevice? content)
    {
        _file = file;
        _header = header;
        _content = content;
        _content?.MarkHeldByOwner();
        FileName = fileName;
    }

    /// <inheritdoc />
    public override DiskImageFormat Format => DiskImageFormat.Luks;

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The image was opened without a passphrase.</exception>
    public override BlockDevice Content => _content ?? throw new InvalidOperationException("The LUKS image was opened without a passphrase (DiskImageOpenOptions.Passphrase); its content is not available.");

    /// <inheritdoc />
    public override string FileName { get; }

    /// <summary>Byte offset of the payload (the guest disk) in the file.</summary>
    public long PayloadOffset => (long)_header.PayloadOffset * LuksSectorCipher.SectorSize;

    /// <summary>
    /// Opens a raw LUKS image; with <see cref="DiskImageOpenOptions.Passphrase"/> set, unlocks it
    /// (trying every active key slot) so that <see cref="Content"/> is the decrypted disk.
    /// </summary>
    /// <exception cref="InvalidDataException">The header is malformed.</exception>
    /// <exception cref="NotSupportedException">A LUKS2 header, or a cipher, mode or hash that is not supported.</exception>
    /// <exception cref="CryptographicException">No key slot opens with the passphrase ("Invalid password, cannot unlock any keyslot").</exception>
    public static new LuksImage Open(string path, DiskImageOpenOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= DiskImageOpenOptions.Default;
        FileBlockDevice file = FileBlockDevice.Open(path, options.Writable, ImageLockRequest.ForFile(options.Writable, options.MetadataOnly, options.Locking));
        try
        {
            LuksHeader header = LuksVolume.ReadHeader(file, 0);
            LuksContentDevice? content = null;
            if (options.Passphrase is { } passphrase && !options.MetadataOnly)
            {
                byte[] key = LuksVolume.UnlockMasterKey(file, 0, header, passphrase.Span);
                try
                {
                    long payloadOffset = (long)header.PayloadOffset * LuksSectorCipher.SectorSize;
                    content = new LuksContentDevice(file, new LuksPayload(LuksVolume.CreatePayloadCipher(header, key), payloadOffset), payloadOffset);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(key);
                }
            }
            else if (options.Writable)
            {
                throw new ArgumentException("A LUKS image opened for writing needs its passphrase (DiskImageOpenOptions.Passphrase).", nameof(options));
            }

            return new LuksImage(file, path, header, content);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates a raw LUKS1 image with <paramref name="virtualSize"/> bytes of payload (AES-XTS-plain64,
    /// key slot 0 holding <see cref="LuksCreateOptions.Passphrase"/>), opened writable. Like
    /// <c>qemu-img create -f luks</c>, the payload is not initialized: it reads as the decryption of
    /// zeros until written.
    /// </summary>
    /// <exception cref="ArgumentException">No passphrase, or a size that is not a multiple of 512.</exception>
    /// <exception cref="IOException">The file exists and <paramref name="overwrite"/> is false.</exception>
    public static LuksImage Create(string path, long virtualSize, LuksCreateOptions options, bool overwrite = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(virtualSize);
        if (virtualSize % LuksSectorCipher.SectorSize != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(virtualSize), virtualSize, "The virtual size must be a multiple of 512.");
        }

        if (options.Passphrase.IsEmpty)
        {
            throw new ArgumentException("A LUKS image needs a passphrase (LuksCreateOptions.Passphrase).", nameof(options));
        }

        byte[] area = LuksVolume.Format(options, out LuksHeader header, out byte[] key);
        FileBlockDevice file = FileBlockDevice.Create(path, area.Length + virtualSize, overwrite);
        try
        {
            file.Write(0, area);
            long payloadOffset = (long)header.PayloadOffset * LuksSectorCipher.SectorSize;
            var content = new LuksContentDevice(file, new LuksPayload(LuksVolume.CreatePayloadCipher(header, key), payloadOffset), payloadOffset);
            return new LuksImage(file, path, header, content);
        }
        catch
        {
            file.Dispose();
            throw;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <inheritdoc />
    public override ImageInfo GetInfo() => new()
    {
        FileName = FileName,
        Format = DiskImageFormat.Luks,
        VirtualSize = Math.Max(0, _file.Length - PayloadOffset) & ~(LuksSectorCipher.SectorSize - 1L),
        ActualSize = _file.AllocatedSize,
        Encrypted = true,
        Luks = LuksVolume.ToInfo(_header),
    };

    /// <inheritdoc />
    public override void Flush() => _file.Flush();

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _content?.DisposeByOwner();
            _file.Dispose();
        }
    }
}
