namespace DiskImage.OpenStack;

/// <summary>How requests to an OpenStack service are authenticated.</summary>
public enum OpenStackAuthType
{
    /// <summary>No token (a standalone Glance with <c>flavor =</c> empty); needs an endpoint.</summary>
    None,

    /// <summary>A pre-issued token sent as <c>X-Auth-Token</c> to a given endpoint.</summary>
    Token,

    /// <summary>A Keystone v3 password token, project-scoped.</summary>
    Password,

    /// <summary>A Keystone v3 application-credential token.</summary>
    ApplicationCredential,
}
