using System.Globalization;

namespace DiskImage.Partitions;

/// <summary>
/// The partition types that matter for Linux images, by short name, GPT type GUID and MBR type byte
/// (GUIDs as <c>sfdisk --label gpt -T</c> lists them, sgdisk codes in the remarks).
/// </summary>
public static class PartitionTypes
{
    /// <summary>Linux filesystem data (sgdisk 8300, MBR 83).</summary>
    public static readonly Guid LinuxFileSystem = new("0FC63DAF-8483-4772-8E79-3D69D8477DE4");

    /// <summary>EFI System partition (sgdisk EF00, MBR ef).</summary>
    public static readonly Guid EfiSystem = new("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");

    /// <summary>BIOS boot partition for GRUB on GPT (sgdisk EF02; stored as the text "Hah!IdontNeedEFI").</summary>
    public static readonly Guid BiosBoot = new("21686148-6449-6E6F-744E-656564454649");

    /// <summary>Linux LVM (sgdisk 8E00, MBR 8e).</summary>
    public static readonly Guid LinuxLvm = new("E6D6D379-F507-44C2-A23C-238F2A3DF928");

    /// <summary>Linux swap (sgdisk 8200, MBR 82).</summary>
    public static readonly Guid LinuxSwap = new("0657FD6D-A4AB-43C4-84E5-0933C84B4F4F");

    /// <summary>Linux RAID (sgdisk FD00, MBR fd).</summary>
    public static readonly Guid LinuxRaid = new("A19D880F-05FC-4D3B-A006-743F0F84911E");

    /// <summary>Linux root file system on x86-64 (Discoverable Partitions; sgdisk 8304).</summary>
    public static readonly Guid LinuxRootX64 = new("4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709");

    /// <summary>Linux /home (Discoverable Partitions).</summary>
    public static readonly Guid LinuxHome = new("933AC7E1-2EB4-4F13-B844-0E14E2AEF915");

    /// <summary>Extended boot loader partition (XBOOTLDR, sgdisk EA00).</summary>
    public static readonly Guid ExtendedBootLoader = new("BC13C2FF-59E6-4262-A352-B275FD6F7172");

    /// <summary>Microsoft basic data (FAT, NTFS; sgdisk 0700).</summary>
    public static readonly Guid MicrosoftBasicData = new("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7");

    /// <summary>The MBR type of an extended partition (CHS addressing, as sfdisk writes it).</summary>
    public const byte MbrExtended = 0x05;

    /// <summary>The MBR type of an extended partition with LBA addressing.</summary>
    public const byte MbrExtendedLba = 0x0F;

    /// <summary>The MBR type of a Linux extended partition.</summary>
    public const byte MbrLinuxExtended = 0x85;

    /// <summary>The MBR type of the protective entry that covers a GPT disk.</summary>
    public const byte MbrGptProtective = 0xEE;

    private static readonly (string[] Names, Guid Gpt, int Mbr, string Description)[] Known =
    [
        (["linux", "linux-filesystem", "L"], LinuxFileSystem, 0x83, "Linux filesystem"),
        (["esp", "efi", "uefi", "U"], EfiSystem, 0xEF, "EFI System"),
        (["bios", "bios-boot"], BiosBoot, -1, "BIOS boot"),
        (["lvm", "V"], LinuxLvm, 0x8E, "Linux LVM"),
        (["swap", "S"], LinuxSwap, 0x82, "Linux swap"),
        (["raid", "R"], LinuxRaid, 0xFD, "Linux RAID"),
        (["root-x86-64"], LinuxRootX64, -1, "Linux root (x86-64)"),
        (["home", "H"], LinuxHome, -1, "Linux home"),
        (["xbootldr"], ExtendedBootLoader, -1, "Linux extended boot"),
        (["msdata", "fat32"], MicrosoftBasicData, 0x0C, "Microsoft basic data"),
        (["extended", "E"], Guid.Empty, MbrExtended, "Extended"),
    ];

    /// <summary>The short names <see cref="TryParseGpt"/> and <see cref="TryParseMbr"/> accept, one per type.</summary>
    public static IReadOnlyList<string> Names
    {
        get
        {
            var names = new string[Known.Length];
            for (int i = 0; i < Known.Length; i++)
            {
                names[i] = Known[i].Names[0];
            }

            return names;
        }
    }

    /// <summary>Parses a GPT type: a short name (<c>linux</c>, <c>esp</c>, <c>bios</c>, <c>lvm</c>, <c>swap</c>...) or a GUID.</summary>
    public static bool TryParseGpt(string text, out Guid type)
    {
        ArgumentNullException.ThrowIfNull(text);
        foreach (var known in Known)
        {
            if (known.Gpt != Guid.Empty && Matches(known.Names, text))
            {
                type = known.Gpt;
                return true;
            }
        }

        return Guid.TryParse(text, out type) && type != Guid.Empty;
    }

    /// <summary>Parses an MBR type: a short name (<c>linux</c>, <c>lvm</c>, <c>swap</c>, <c>esp</c>, <c>extended</c>...) or a hex byte (<c>83</c>, <c>0x8e</c>).</summary>
    public static bool TryParseMbr(string text, out byte type)
    {
        ArgumentNullException.ThrowIfNull(text);
        foreach (var known in Known)
        {
            if (known.Mbr >= 0 && Matches(known.Names, text))
            {
                type = (byte)known.Mbr;
                return true;
            }
        }

        ReadOnlySpan<char> hex = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text.AsSpan(2) : text;
        return byte.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out type) && type != 0 && hex.Length <= 2;
    }

    /// <summary>The well-known name of a GPT type, or null.</summary>
    public static string? Describe(Guid type)
    {
        foreach (var known in Known)
        {
            if (known.Gpt == type && type != Guid.Empty)
            {
                return known.Description;
            }
        }

        return null;
    }

    /// <summary>The well-known name of an MBR type, or null.</summary>
    public static string? Describe(byte type)
    {
        // fdisk's names where the MBR byte means something narrower than the GPT type it maps to.
        switch (type)
        {
            case 0x83: return "Linux";
            case 0x0C: return "W95 FAT32 (LBA)";
            case 0xEF: return "EFI (FAT-12/16/32)";
        }

        foreach (var known in Known)
        {
            if (known.Mbr == type)
            {
                return known.Description;
            }
        }

        return type switch
        {
            MbrExtendedLba => "W95 Ext'd (LBA)",
            MbrLinuxExtended => "Linux extended",
            MbrGptProtective => "GPT",
            0x07 => "HPFS/NTFS/exFAT",
            0x0B => "W95 FAT32",
            0x06 or 0x0E => "FAT16",
            0x01 => "FAT12",
            _ => null,
        };
    }

    /// <summary>Whether an MBR type marks an extended partition (05, 0f or 85).</summary>
    public static bool IsMbrExtended(byte type) => type is MbrExtended or MbrExtendedLba or MbrLinuxExtended;

    private static bool Matches(string[] names, string text)
    {
        foreach (string name in names)
        {
            // One-letter aliases are sfdisk's shortcuts and case-sensitive; names are not.
            if (name.Length == 1 ? text == name : string.Equals(name, text, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
