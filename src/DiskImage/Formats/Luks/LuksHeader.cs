using System.Buffers.Binary;
using System.Text;

namespace DiskImage.Formats.Luks;

/// <summary>
/// The LUKS1 partition header (phdr, on-disk format version 1.2.3 section 2.4): 592 big-endian bytes
/// at the start of the LUKS area, followed by the key material of each slot and then the payload.
/// </summary>
internal sealed class LuksHeader
{
    /// <summary>Bytes of the header on disk.</summary>
    public const int Size = 592;

    /// <summary>Key slots in a LUKS1 header.</summary>
    public const int SlotCount = 8;

    /// <summary>Length of the master key digest (<c>mk-digest</c>).</summary>
    public const int DigestLength = 20;

    /// <summary>Length of the salts (<c>mk-digest-salt</c>, slot <c>salt</c>).</summary>
    public const int SaltLength = 32;

    /// <summary>Field offsets (spec names in comments).</summary>
    internal static class Field
    {
        public const int Magic = 0;            // magic[6]
        public const int Version = 6;          // version, u16
        public const int CipherName = 8;       // cipher-name[32]
        public const int CipherMode = 40;      // cipher-mode[32]
        public const int HashSpec = 72;        // hash-spec[32]
        public const int PayloadOffset = 104;  // payload-offset, u32 sectors
        public const int KeyBytes = 108;       // key-bytes, u32
        public const int MkDigest = 112;       // mk-digest[20]
        public const int MkDigestSalt = 132;   // mk-digest-salt[32]
        public const int MkDigestIter = 164;   // mk-digest-iter, u32
        public const int Uuid = 168;           // uuid[40]
        public const int KeySlots = 208;       // key-slot-1..8, 48 bytes each
    }

    /// <summary>"LUKS\xba\xbe".</summary>
    public static ReadOnlySpan<byte> Magic => [(byte)'L', (byte)'U', (byte)'K', (byte)'S', 0xBA, 0xBE];

    /// <summary>Cipher name (<c>cipher-name</c>), e.g. "aes".</summary>
    public required string CipherName { get; init; }

    /// <summary>Cipher mode with IV generator (<c>cipher-mode</c>), e.g. "xts-plain64".</summary>
    public required string CipherMode { get; init; }

    /// <summary>Hash for PBKDF2 and the AF splitter (<c>hash-spec</c>), e.g. "sha256".</summary>
    public required string HashSpec { get; init; }

    /// <summary>Start of the payload in 512-byte sectors (<c>payload-offset</c>).</summary>
    public uint PayloadOffset { get; init; }

    /// <summary>Master key length in bytes (<c>key-bytes</c>).</summary>
    public int KeyBytes { get; init; }

    /// <summary>PBKDF2 of the master key (<c>mk-digest</c>).</summary>
    public required byte[] MasterKeyDigest { get; init; }

    /// <summary>Salt of the master key digest (<c>mk-digest-salt</c>).</summary>
    public required byte[] MasterKeyDigestSalt { get; init; }

    /// <summary>PBKDF2 iterations of the master key digest (<c>mk-digest-iter</c>).</summary>
    public uint MasterKeyDigestIterations { get; init; }

    /// <summary>The UUID text (<c>uuid</c>).</summary>
    public required string Uuid { get; init; }

    /// <summary>The eight key slots.</summary>
    public required LuksKeySlot[] KeySlots { get; init; }

    /// <summary>Parses a LUKS1 header.</summary>
    /// <exception cref="InvalidDataException">Bad magic, truncated, or fields out of range.</exception>
    /// <exception cref="NotSupportedException">A LUKS version other than 1 (LUKS2 is named).</exception>
    public static LuksHeader Parse(ReadOnlySpan<byte> data)
    {
        const string S = "LUKS header";
        if (data.Length < 8 || !data.StartsWith(Magic))
        {
            FormatError.Throw(S, 0, "bad magic (not a LUKS header).");
        }

        ushort version = BinaryPrimitives.ReadUInt16BigEndian(data[Field.Version..]);
        if (version == 2)
        {
            FormatError.Unsupported("The image is LUKS2-encrypted; only LUKS1 headers are supported (as in qemu-img 7.2).");
        }

        if (version != 1)
        {
            FormatError.Unsupported($"Unsupported LUKS version {version}.");
        }

        if (data.Length < Size)
        {
            FormatError.Throw(S, 0, "truncated header.");
        }

        int keyBytes = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(data[Field.KeyBytes..]), int.MaxValue);
        if (keyBytes is < 16 or > 128)
        {
            FormatError.Throw(S, Field.KeyBytes, $"key-bytes {keyBytes} is out of range (16..128).");
        }

        var slots = new LuksKeySlot[SlotCount];
        for (int i = 0; i < SlotCount; i++)
        {
            ReadOnlySpan<byte> s = data.Slice(Field.KeySlots + (i * LuksKeySlot.Size), LuksKeySlot.Size);
            uint active = BinaryPrimitives.ReadUInt32BigEndian(s);
            if (active is not (LuksKeySlot.Enabled or LuksKeySlot.Disabled))
            {
                FormatError.Throw(S, Field.KeySlots + (i * LuksKeySlot.Size), $"key slot {i} has the invalid state 0x{active:x8}.");
            }

            uint stripes = BinaryPrimitives.ReadUInt32BigEndian(s[44..]);
            uint iterations = BinaryPrimitives.ReadUInt32BigEndian(s[4..]);
            if (active == LuksKeySlot.Enabled && (stripes is 0 or > 1_000_000 || iterations == 0))
            {
                FormatError.Throw(S, Field.KeySlots + (i * LuksKeySlot.Size), $"key slot {i} has {stripes} stripes and {iterations} iterations.");
            }

            slots[i] = new LuksKeySlot(active == LuksKeySlot.Enabled, iterations, s.Slice(8, SaltLength).ToArray(), BinaryPrimitives.ReadUInt32BigEndian(s[40..]), stripes);
        }

        return new LuksHeader
        {
            CipherName = ReadString(data.Slice(Field.CipherName, 32)),
            CipherMode = ReadString(data.Slice(Field.CipherMode, 32)),
            HashSpec = ReadString(data.Slice(Field.HashSpec, 32)),
            PayloadOffset = BinaryPrimitives.ReadUInt32BigEndian(data[Field.PayloadOffset..]),
            KeyBytes = keyBytes,
            MasterKeyDigest = data.Slice(Field.MkDigest, DigestLength).ToArray(),
            MasterKeyDigestSalt = data.Slice(Field.MkDigestSalt, SaltLength).ToArray(),
            MasterKeyDigestIterations = BinaryPrimitives.ReadUInt32BigEndian(data[Field.MkDigestIter..]),
            Uuid = ReadString(data.Slice(Field.Uuid, 40)),
            KeySlots = slots,
        };
    }

    /// <summary>Writes the 592-byte header.</summary>
    public void WriteTo(Span<byte> destination)
    {
        destination[..Size].Clear();
        Magic.CopyTo(destination);
        BinaryPrimitives.WriteUInt16BigEndian(destination[Field.Version..], 1);
        WriteString(destination.Slice(Field.CipherName, 32), CipherName);
        WriteString(destination.Slice(Field.CipherMode, 32), CipherMode);
        WriteString(destination.Slice(Field.HashSpec, 32), HashSpec);
        BinaryPrimitives.WriteUInt32BigEndian(destination[Field.PayloadOffset..], PayloadOffset);
        BinaryPrimitives.WriteUInt32BigEndian(destination[Field.KeyBytes..], (uint)KeyBytes);
        MasterKeyDigest.CopyTo(destination[Field.MkDigest..]);
        MasterKeyDigestSalt.CopyTo(destination[Field.MkDigestSalt..]);
        BinaryPrimitives.WriteUInt32BigEndian(destination[Field.MkDigestIter..], MasterKeyDigestIterations);
        WriteString(destination.Slice(Field.Uuid, 40), Uuid);
        for (int i = 0; i < SlotCount; i++)
        {
            Span<byte> s = destination.Slice(Field.KeySlots + (i * LuksKeySlot.Size), LuksKeySlot.Size);
            LuksKeySlot slot = KeySlots[i];
            BinaryPrimitives.WriteUInt32BigEndian(s, slot.Active ? LuksKeySlot.Enabled : LuksKeySlot.Disabled);
            BinaryPrimitives.WriteUInt32BigEndian(s[4..], slot.Iterations);
            slot.Salt.CopyTo(s[8..]);
            BinaryPrimitives.WriteUInt32BigEndian(s[40..], slot.KeyMaterialOffset);
            BinaryPrimitives.WriteUInt32BigEndian(s[44..], slot.Stripes);
        }
    }

    /// <summary>Bytes of a slot's split key material, rounded up to whole sectors.</summary>
    public long KeyMaterialBytes(LuksKeySlot slot) =>
        ((((long)KeyBytes * slot.Stripes) + LuksSectorCipher.SectorSize - 1) / LuksSectorCipher.SectorSize) * LuksSectorCipher.SectorSize;

    private static string ReadString(ReadOnlySpan<byte> field)
    {
        int end = field.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? field : field[..end]);
    }

    private static void WriteString(Span<byte> field, string value)
    {
        field.Clear();
        Encoding.ASCII.GetBytes(value.AsSpan(0, Math.Min(value.Length, field.Length - 1)), field);
    }
}
