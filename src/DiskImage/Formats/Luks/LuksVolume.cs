using System.Buffers;
using System.Diagnostics;
using System.Security.Cryptography;
using DiskImage.IO;

namespace DiskImage.Formats.Luks;

/// <summary>
/// A LUKS1 area in a device: reading its header, unlocking the master key, and making a new area.
/// Key material offsets count from the header; the payload cipher's sector numbers are chosen by the
/// caller (raw LUKS numbers payload sectors from the payload start, qcow2 by host offset).
/// </summary>
internal static class LuksVolume
{
    /// <summary>The message qemu gives when no key slot opens with the passphrase.</summary>
    public const string InvalidPasswordMessage = "Invalid password, cannot unlock any keyslot";

    private const int Stripes = 4000;
    private const int Alignment = 4096;

    /// <summary>Reads and parses the LUKS header at <paramref name="offset"/> of <paramref name="device"/>.</summary>
    public static LuksHeader ReadHeader(BlockDevice device, long offset)
    {
        Span<byte> buffer = stackalloc byte[LuksHeader.Size];
        int n = device.Read(offset, buffer);
        return LuksHeader.Parse(buffer[..n]);
    }

    /// <summary>Finds the master key with <paramref name="passphrase"/>, trying every active slot.</summary>
    /// <exception cref="CryptographicException">No slot opens (qemu's "Invalid password, cannot unlock any keyslot").</exception>
    /// <exception cref="NotSupportedException">The header's cipher or hash is not supported.</exception>
    public static byte[] UnlockMasterKey(BlockDevice device, long headerOffset, LuksHeader header, ReadOnlySpan<byte> passphrase)
    {
        HashAlgorithmName hash = LuksHash.Parse(header.HashSpec);
        // Fails early, before any slow derivation, for a cipher this reader does not know.
        LuksSectorCipher.Create(header.CipherName, header.CipherMode, new byte[header.KeyBytes]).Dispose();
        byte[] masterKey = new byte[header.KeyBytes];
        byte[] slotKey = new byte[header.KeyBytes];
        Span<byte> digest = stackalloc byte[LuksHeader.DigestLength];
        foreach (LuksKeySlot slot in header.KeySlots)
        {
            if (!slot.Active)
            {
                continue;
            }

            long materialBytes = header.KeyMaterialBytes(slot);
            if (materialBytes > 64L << 20)
            {
                throw FormatError.Create("LUKS key slot", LuksHeader.Field.KeySlots, $"key material of {materialBytes} bytes is too large.");
            }

            byte[] material = ArrayPool<byte>.Shared.Rent((int)materialBytes);
            try
            {
                Span<byte> span = material.AsSpan(0, (int)materialBytes);
                long at = headerOffset + ((long)slot.KeyMaterialOffset * LuksSectorCipher.SectorSize);
                if (device.Read(at, span) < span.Length)
                {
                    throw FormatError.Create("LUKS key slot", at, "the key material lies past the end of the image.");
                }

                LuksHash.Pbkdf2(passphrase, slot.Salt, (int)Math.Min(slot.Iterations, int.MaxValue), hash, slotKey);
                using (LuksSectorCipher cipher = LuksSectorCipher.Create(header.CipherName, header.CipherMode, slotKey))
                {
                    cipher.Decrypt(span, 0);
                }

                LuksAntiForensic.Merge(span, (int)slot.Stripes, hash, masterKey);
                LuksHash.Pbkdf2(masterKey, header.MasterKeyDigestSalt, (int)Math.Min(header.MasterKeyDigestIterations, int.MaxValue), hash, digest);
                if (CryptographicOperations.FixedTimeEquals(digest, header.MasterKeyDigest))
                {
                    return masterKey;
                }
            }
            finally
            {
                CryptographicOperations.ZeroMemory(material);
                ArrayPool<byte>.Shared.Return(material);
                CryptographicOperations.ZeroMemory(slotKey);
            }
        }

        throw new CryptographicException(InvalidPasswordMessage);
    }

    /// <summary>The payload cipher of an unlocked header.</summary>
    public static LuksSectorCipher CreatePayloadCipher(LuksHeader header, ReadOnlySpan<byte> masterKey) =>
        LuksSectorCipher.Create(header.CipherName, header.CipherMode, masterKey);

    /// <summary>Bytes from the header to the payload in the layout <see cref="Format"/> writes (qemu's: 2068480 for AES-256-XTS).</summary>
    public static long AreaLength(LuksCreateOptions options)
    {
        int keyBytes = options.KeySize / 4;
        return Alignment + (LuksHeader.SlotCount * AlignUp((long)keyBytes * Stripes));
    }

    /// <summary>
    /// Makes a new LUKS1 area (<see cref="AreaLength"/> bytes: header, then key material) with key
    /// slot 0 holding a fresh master key under the passphrase; inactive slots' material is zeros.
    /// </summary>
    public static byte[] Format(LuksCreateOptions options, out LuksHeader header, out byte[] masterKey)
    {
        if (options.Passphrase.IsEmpty)
        {
            throw new ArgumentException("A LUKS image needs a passphrase (LuksCreateOptions.Passphrase).", nameof(options));
        }

        HashAlgorithmName hash = LuksHash.Parse(options.HashAlgorithm);
        int keyBytes = options.KeySize / 4;
        masterKey = RandomNumberGenerator.GetBytes(keyBytes);
        int slotIterations = options.KeySlotIterations != 0 ? options.KeySlotIterations : TimedIterations(hash, keyBytes, options.IterationTime);
        int mkIterations = options.MasterKeyIterations != 0 ? options.MasterKeyIterations : Math.Max(1000, TimedIterations(hash, LuksHeader.DigestLength, options.IterationTime / 8));
        byte[] mkSalt = RandomNumberGenerator.GetBytes(LuksHeader.SaltLength);
        byte[] mkDigest = new byte[LuksHeader.DigestLength];
        LuksHash.Pbkdf2(masterKey, mkSalt, mkIterations, hash, mkDigest);

        long slotBytes = AlignUp((long)keyBytes * Stripes);
        var slots = new LuksKeySlot[LuksHeader.SlotCount];
        for (int i = 0; i < slots.Length; i++)
        {
            uint offset = (uint)((Alignment + (i * slotBytes)) / LuksSectorCipher.SectorSize);
            slots[i] = i == 0
                ? new LuksKeySlot(true, (uint)slotIterations, RandomNumberGenerator.GetBytes(LuksHeader.SaltLength), offset, Stripes)
                : new LuksKeySlot(false, 0, new byte[LuksHeader.SaltLength], offset, Stripes);
        }

        header = new LuksHeader
        {
            CipherName = "aes",
            CipherMode = "xts-plain64",
            HashSpec = options.HashAlgorithm,
            PayloadOffset = (uint)(AreaLength(options) / LuksSectorCipher.SectorSize),
            KeyBytes = keyBytes,
            MasterKeyDigest = mkDigest,
            MasterKeyDigestSalt = mkSalt,
            MasterKeyDigestIterations = (uint)mkIterations,
            Uuid = Guid.NewGuid().ToString("D"),
            KeySlots = slots,
        };

        // Slot 0: the master key split into stripes, encrypted with the passphrase's key.
        LuksKeySlot slot0 = slots[0];
        int materialBytes = (int)header.KeyMaterialBytes(slot0);
        byte[] area = new byte[AreaLength(options)];
        Span<byte> material = area.AsSpan((int)((long)slot0.KeyMaterialOffset * LuksSectorCipher.SectorSize), materialBytes);
        byte[] slotKey = new byte[keyBytes];
        try
        {
            LuksAntiForensic.Split(masterKey, Stripes, hash, material);
            LuksHash.Pbkdf2(options.Passphrase.Span, slot0.Salt, slotIterations, hash, slotKey);
            using (LuksSectorCipher cipher = LuksSectorCipher.Create(header.CipherName, header.CipherMode, slotKey))
            {
                cipher.Encrypt(material, 0);
            }

            header.WriteTo(area);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(slotKey);
        }

        return area;
    }

    /// <summary>The header as <c>qemu-img info</c> shows it.</summary>
    public static LuksFormatInfo ToInfo(LuksHeader header)
    {
        int dash = header.CipherMode.IndexOf('-', StringComparison.Ordinal);
        string mode = dash < 0 ? header.CipherMode : header.CipherMode[..dash];
        string ivgen = dash < 0 ? "plain" : header.CipherMode[(dash + 1)..];
        string? ivgenHash = null;
        int colon = ivgen.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            ivgenHash = ivgen[(colon + 1)..];
            ivgen = ivgen[..colon];
        }

        int cipherKeyBits = (mode == "xts" ? header.KeyBytes / 2 : header.KeyBytes) * 8;
        var slots = new LuksKeySlotInfo[LuksHeader.SlotCount];
        for (int i = 0; i < slots.Length; i++)
        {
            LuksKeySlot s = header.KeySlots[i];
            slots[i] = new LuksKeySlotInfo
            {
                Active = s.Active,
                Iterations = s.Active ? s.Iterations : null,
                Stripes = s.Active ? s.Stripes : null,
                KeyOffset = (long)s.KeyMaterialOffset * LuksSectorCipher.SectorSize,
            };
        }

        return new LuksFormatInfo
        {
            CipherAlgorithm = $"{header.CipherName}-{cipherKeyBits}",
            CipherMode = mode,
            IvGenAlgorithm = ivgen,
            IvGenHashAlgorithm = ivgenHash,
            HashAlgorithm = header.HashSpec,
            PayloadOffset = (long)header.PayloadOffset * LuksSectorCipher.SectorSize,
            MasterKeyIterations = header.MasterKeyDigestIterations,
            Uuid = header.Uuid,
            Slots = slots,
        };
    }

    /// <summary>PBKDF2 iterations that take about <paramref name="time"/> here (at least 1000).</summary>
    private static int TimedIterations(HashAlgorithmName hash, int length, TimeSpan time)
    {
        Span<byte> output = stackalloc byte[length];
        ReadOnlySpan<byte> salt = stackalloc byte[LuksHeader.SaltLength];
        int iterations = 1 << 14;
        while (true)
        {
            long start = Stopwatch.GetTimestamp();
            LuksHash.Pbkdf2("calibration"u8, salt, iterations, hash, output);
            TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
            if (elapsed >= TimeSpan.FromMilliseconds(50) || iterations >= 1 << 26)
            {
                double perSecond = iterations / Math.Max(elapsed.TotalSeconds, 1e-6);
                return (int)Math.Clamp(perSecond * time.TotalSeconds, 1000, int.MaxValue);
            }

            iterations *= 4;
        }
    }

    private static long AlignUp(long value) => (value + Alignment - 1) / Alignment * Alignment;
}
