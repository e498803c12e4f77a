namespace DiskImage.Formats.Luks;

/// <summary>The fields of a LUKS1 header as <c>qemu-img info</c> shows them (raw LUKS <c>format-specific.data</c>, qcow2 <c>encrypt</c>).</summary>
public sealed record LuksFormatInfo
{
    /// <summary>Cipher and key size, e.g. "aes-256" (<c>cipher-alg</c>).</summary>
    public required string CipherAlgorithm { get; init; }

    /// <summary>Block cipher mode: "xts", "cbc" or "ecb" (<c>cipher-mode</c>).</summary>
    public required string CipherMode { get; init; }

    /// <summary>IV generator: "plain", "plain64" or "essiv" (<c>ivgen-alg</c>).</summary>
    public required string IvGenAlgorithm { get; init; }

    /// <summary>The ESSIV hash (<c>ivgen-hash-alg</c>), or <see langword="null"/> for other IV generators.</summary>
    public string? IvGenHashAlgorithm { get; init; }

    /// <summary>Hash of PBKDF2 and the anti-forensic splitter, e.g. "sha256" (<c>hash-alg</c>).</summary>
    public required string HashAlgorithm { get; init; }

    /// <summary>Byte offset of the encrypted payload from the header (<c>payload-offset</c>).</summary>
    public long PayloadOffset { get; init; }

    /// <summary>PBKDF2 iterations of the master key digest (<c>master-key-iters</c>).</summary>
    public long MasterKeyIterations { get; init; }

    /// <summary>The header's UUID (<c>uuid</c>).</summary>
    public required string Uuid { get; init; }

    /// <summary>The eight key slots (<c>slots</c>).</summary>
    public IReadOnlyList<LuksKeySlotInfo> Slots { get; init; } = [];
}
