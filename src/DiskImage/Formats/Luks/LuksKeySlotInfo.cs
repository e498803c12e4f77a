namespace DiskImage.Formats.Luks;

/// <summary>One key slot as <c>qemu-img info</c> shows it (<c>slots[i]</c>).</summary>
public sealed record LuksKeySlotInfo
{
    /// <summary>Whether the slot holds a key (<c>active</c>).</summary>
    public bool Active { get; init; }

    /// <summary>PBKDF2 iterations of an active slot (<c>iters</c>), or <see langword="null"/> for an inactive one.</summary>
    public long? Iterations { get; init; }

    /// <summary>Anti-forensic stripes of an active slot (<c>stripes</c>), or <see langword="null"/> for an inactive one.</summary>
    public long? Stripes { get; init; }

    /// <summary>Byte offset of the slot's key material from the start of the LUKS header (<c>key-offset</c>).</summary>
    public long KeyOffset { get; init; }
}
