using System.Globalization;

namespace DiskImage.Customization;

/// <summary>
/// <c>--chown UID.GID:PATH</c> (or <c>UID:GID:PATH</c>): sets the numeric owner (a final symbolic link is
/// followed). Names are not looked up.
/// </summary>
internal sealed class ChownOperation : CustomizeOperation
{
    private readonly uint _uid;
    private readonly uint _gid;
    private readonly string _path;

    public ChownOperation(string argument)
        : base("chown", argument)
    {
        (string owner, string rest) = SplitPair("UID.GID:PATH");
        string uid, gid;
        int dot = owner.IndexOf('.', StringComparison.Ordinal);
        if (dot > 0)
        {
            (uid, gid, _path) = (owner[..dot], owner[(dot + 1)..], rest);
        }
        else
        {
            int colon = rest.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new CustomizationException(ToString(), "expected UID.GID:PATH");
            }

            (uid, gid, _path) = (owner, rest[..colon], rest[(colon + 1)..]);
        }

        if (!uint.TryParse(uid, NumberStyles.None, CultureInfo.InvariantCulture, out _uid)
            || !uint.TryParse(gid, NumberStyles.None, CultureInfo.InvariantCulture, out _gid)
            || _path.Length == 0)
        {
            throw new CustomizationException(ToString(), "expected numeric UID.GID:PATH");
        }
    }

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        string path = t.Resolve(_path);
        if (t.Stat(path) is null)
        {
            throw t.Error($"'{path}' does not exist", new FileNotFoundException(path));
        }

        t.SetOwner(path, _uid, _gid);
    }
}
