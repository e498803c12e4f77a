namespace DiskImage.Formats.Luks;

/// <summary>
/// How a new LUKS1 header is written (a raw LUKS image, or a qcow2 image with <c>encrypt.format=luks</c>):
/// AES-XTS with the plain64 IV, 4000 anti-forensic stripes and key slot 0 holding the passphrase, with
/// the layout qemu-img writes (key material from byte 4096, every slot 4 KiB-aligned).
/// </summary>
public sealed class LuksCreateOptions
{
    private int _keySize = 256;
    private int _keySlotIterations;
    private int _masterKeyIterations;
    private TimeSpan _iterationTime = TimeSpan.FromSeconds(2);

    /// <summary>The passphrase that unlocks key slot 0 (qemu's secret: its bytes as given). Required; empty by default.</summary>
    public ReadOnlyMemory<byte> Passphrase { get; init; }

    /// <summary>AES key size in bits, 128, 192 or 256 (qemu's <c>cipher-alg</c> aes-N; XTS uses twice as many key bytes). Default 256.</summary>
    public int KeySize
    {
        get => _keySize;
        init
        {
            if (value is not (128 or 192 or 256))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "The AES key size must be 128, 192 or 256 bits.");
            }

            _keySize = value;
        }
    }

    /// <summary>Hash for PBKDF2 and the splitter: "sha1", "sha256", "sha384" or "sha512" (qemu's <c>hash-alg</c>). Default "sha256".</summary>
    public string HashAlgorithm { get; init; } = "sha256";

    /// <summary>
    /// PBKDF2 iterations of key slot 0 (at least 1000). Default 0: as many as take
    /// <see cref="IterationTime"/> on this machine, as qemu-img does.
    /// </summary>
    public int KeySlotIterations
    {
        get => _keySlotIterations;
        init
        {
            if (value is not 0 and < 1000)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "LUKS key slots need at least 1000 PBKDF2 iterations.");
            }

            _keySlotIterations = value;
        }
    }

    /// <summary>
    /// PBKDF2 iterations of the master key digest (at least 1000). Default 0: as many as take an eighth
    /// of <see cref="IterationTime"/>, and at least 1000.
    /// </summary>
    public int MasterKeyIterations
    {
        get => _masterKeyIterations;
        init
        {
            if (value is not 0 and < 1000)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "The LUKS master key digest needs at least 1000 PBKDF2 iterations.");
            }

            _masterKeyIterations = value;
        }
    }

    /// <summary>The time the derivation of key slot 0 takes when <see cref="KeySlotIterations"/> is 0 (qemu's <c>iter-time</c>). Default 2 seconds.</summary>
    public TimeSpan IterationTime
    {
        get => _iterationTime;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero);
            _iterationTime = value;
        }
    }

    /// <summary>Shared default instance (no passphrase: set <see cref="Passphrase"/> before use).</summary>
    public static LuksCreateOptions Default { get; } = new();
}
