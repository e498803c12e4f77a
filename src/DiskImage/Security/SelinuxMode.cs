namespace DiskImage.Security;

/// <summary>The <c>SELINUX=</c> setting of a guest's <c>/etc/selinux/config</c>.</summary>
public enum SelinuxMode
{
    /// <summary>The line is missing or its value is not one of the three below (labels are still written).</summary>
    Unspecified = 0,

    /// <summary><c>SELINUX=enforcing</c>.</summary>
    Enforcing,

    /// <summary><c>SELINUX=permissive</c>.</summary>
    Permissive,

    /// <summary><c>SELINUX=disabled</c>: no policy is loaded at boot, so no labels are needed.</summary>
    Disabled,
}
