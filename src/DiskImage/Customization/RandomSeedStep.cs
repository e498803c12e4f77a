using System.Security.Cryptography;
using DiskImage.FileSystems;

namespace DiskImage.Customization;

/// <summary>
/// What virt-customize does before the operations: refill every existing random-seed file in place with new
/// random bytes (its size clamped to 512–8192), or create a 512-byte one (0600, root) at the distribution's
/// default when its directory exists; then write a new machine-id into an empty regular <c>/etc/machine-id</c>.
/// </summary>
internal sealed class RandomSeedStep : CustomizeOperation
{
    private static readonly string[] SeedFiles =
    [
        "/var/lib/random-seed", "/var/lib/systemd/random-seed", "/var/lib/urandom/random-seed", "/var/lib/misc/random-seed", "/etc/random-seed",
    ];

    public RandomSeedStep()
        : base("(random seed and machine-id)", null)
    {
    }

    public override string ToString() => Option;

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        bool found = false;
        foreach (string file in SeedFiles)
        {
            string path = Resolve(t, file);
            if (path.Length > 0 && t.Stat(path) is { Type: UnixFileType.RegularFile } e)
            {
                t.WriteFile(path, RandomNumberGenerator.GetBytes((int)Math.Clamp(e.Size, 512, 8192)));
                found = true;
            }
        }

        if (!found)
        {
            GuestOs os = context.Os;
            string? file = os.IsDebianFamily ? "/var/lib/urandom/random-seed"
                : os.IsRedHatFamily ? "/var/lib/random-seed"
                : os.IsSuseFamily ? "/var/lib/misc/random-seed" : null;
            string dir = file is null ? string.Empty : Resolve(t, GuestTree.Parent(file)!);
            if (file is not null && dir.Length > 0 && t.Stat(dir) is { IsDirectory: true })
            {
                string path = t.Resolve(file);
                t.WriteFile(path, RandomNumberGenerator.GetBytes(512), (UnixFileMode)0x180);
                t.SetOwner(path, 0, 0);
            }
        }

        string machineId = Resolve(t, "/etc/machine-id");
        if (machineId.Length > 0 && t.Stat(machineId) is { Type: UnixFileType.RegularFile, Size: 0 })
        {
            t.WriteFile(machineId, System.Text.Encoding.ASCII.GetBytes(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)) + "\n"));
        }
    }

    private static string Resolve(GuestTree t, string path)
    {
        try
        {
            return t.Resolve(path, followFinal: false);
        }
        catch (CustomizationException)
        {
            return string.Empty;
        }
    }
}
