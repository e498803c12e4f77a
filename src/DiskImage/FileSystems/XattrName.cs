namespace DiskImage.FileSystems;

/// <summary>Validates extended-attribute names ("namespace.name").</summary>
internal static class XattrName
{
    private static readonly string[] Namespaces = ["user.", "trusted.", "security.", "system."];

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="name"/> has a known namespace prefix and a non-empty suffix of at most 255 bytes.</summary>
    public static void Validate(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        foreach (string ns in Namespaces)
        {
            if (name.StartsWith(ns, StringComparison.Ordinal) && name.Length > ns.Length)
            {
                if (System.Text.Encoding.UTF8.GetByteCount(name) - ns.Length > 255 || name.Contains('\0', StringComparison.Ordinal))
                {
                    break;
                }

                return;
            }
        }

        throw new ArgumentException($"'{name}' is not a valid extended attribute name (it needs a user., trusted., security. or system. prefix).", nameof(name));
    }
}
