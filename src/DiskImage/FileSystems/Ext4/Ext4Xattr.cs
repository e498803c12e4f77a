namespace DiskImage.FileSystems.Ext4;

/// <summary>One extended attribute as stored: name index, name suffix and value.</summary>
internal sealed record Ext4Xattr(int Index, string Name, byte[] Value)
{
    /// <summary>The full attribute name with its namespace prefix; null for the hidden <c>system.data</c> and unknown indices.</summary>
    public string? FullName => Index switch
    {
        1 => "user." + Name,
        2 when Name.Length == 0 => "system.posix_acl_access",
        3 when Name.Length == 0 => "system.posix_acl_default",
        4 => "trusted." + Name,
        6 => "security." + Name,
        7 when Name != "data" => "system." + Name,
        8 when Name.Length == 0 => "system.richacl",
        _ => null,
    };
}
