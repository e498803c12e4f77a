using System.Text;
using DiskImage.FileSystems;

namespace DiskImage.Sysprep.Operations;

/// <summary>
/// Part of <c>machine-id</c>: Boot Loader Specification entries are named after the machine ID
/// (<c>/boot/loader/entries/&lt;machine-id&gt;-&lt;version&gt;.conf</c>, written by kernel-install on Fedora and
/// RHEL 8+), and so are dracut's rescue images (<c>/boot/vmlinuz-0-rescue-&lt;machine-id&gt;</c>, its
/// <c>initramfs-…img</c> and FIPS <c>.hmac</c>, whose text names the file too) and systemd-boot's per-machine directory (<c>$BOOT/&lt;machine-id&gt;/</c>).
/// When the ID is reset, every such name, the entries' text and a <c>saved_entry</c> in grubenv get the placeholder
/// <see cref="Placeholder"/> instead (same length, so grubenv keeps its 1024 bytes): the template's ID no longer
/// shows, and the entries still boot (GRUB's blscfg and grubby read every <c>*.conf</c>; the common prefix keeps
/// their order). On a systemd guest a one-shot unit then renames them after the new ID at first boot, so
/// kernel-install, which adds and removes <c>&lt;machine-id&gt;-&lt;version&gt;.conf</c> by the current ID, finds them.
/// </summary>
internal static class BootLoaderEntries
{
    /// <summary>The ID the names carry between the sysprep and the first boot (systemd treats the all-zero ID as no ID).</summary>
    public const string Placeholder = "00000000000000000000000000000000";

    public const string ScriptPath = "/usr/local/sbin/diskimage-bls-entries";
    public const string UnitPath = "/etc/systemd/system/diskimage-bls-entries.service";
    public const string WantsPath = "/etc/systemd/system/multi-user.target.wants/diskimage-bls-entries.service";

    /// <summary>Where BLS entries and the files they name live ($BOOT and the XBOOTLDR/ESP mount points).</summary>
    private static readonly string[] Roots = ["/boot", "/efi", "/boot/efi"];

    private static readonly string[] GrubEnvironments = ["/boot/grub2/grubenv", "/boot/grub/grubenv"];

    private const string ScriptText = """
        #!/bin/sh
        # Written by DiskImage sysprep (machine-id). The boot loader entries, and the rescue images and directories
        # they name, carry the placeholder ID 00000000000000000000000000000000 instead of the template's machine ID.
        # This names them after this machine's ID once (kernel-install adds and removes entries by it), then removes
        # itself. The optional argument is a root directory (for tests); systemd runs it without one.
        r=${1:-}
        z=00000000000000000000000000000000
        id=$(cat "$r/etc/machine-id" 2>/dev/null)
        if printf '%s\n' "$id" | grep -Eq '^[0-9a-f]{32}$' && [ "$id" != "$z" ]; then
          for d in "$r/boot" "$r/efi" "$r/boot/efi"; do
            for f in "$d"/loader/entries/*"$z"* "$d"/*"$z"* "$d"/.*"$z"*; do
              [ -e "$f" ] || [ -L "$f" ] || continue
              case "$f" in
                */loader/entries/*.conf|*.hmac) [ -L "$f" ] || sed -i "s/$z/$id/g" "$f" ;;
              esac
              mv -n "$f" "$(dirname "$f")/$(basename "$f" | sed "s/$z/$id/g")"
            done
          done
          for e in "$r/boot/grub2/grubenv" "$r/boot/grub/grubenv"; do
            if [ -f "$e" ] && grep -q "$z" "$e"; then
              sed -i --follow-symlinks "s/$z/$id/g" "$e"
            fi
          done
          rm -f "$r/etc/systemd/system/multi-user.target.wants/diskimage-bls-entries.service" \
            "$r/etc/systemd/system/diskimage-bls-entries.service" "$r/usr/local/sbin/diskimage-bls-entries"
        fi

        """;

    private const string UnitText = """
        [Unit]
        Description=Name the boot loader entries after the new machine ID (DiskImage sysprep)
        After=local-fs.target systemd-machine-id-commit.service
        RequiresMountsFor=/boot
        ConditionPathExists=/usr/local/sbin/diskimage-bls-entries

        [Service]
        Type=oneshot
        ExecStart=/bin/sh /usr/local/sbin/diskimage-bls-entries

        [Install]
        WantedBy=multi-user.target

        """;

    /// <summary>
    /// The machine ID the names carry: <paramref name="machineId"/> (the content of <c>/etc/machine-id</c> before the
    /// reset) when it is a valid ID, else the one ID prefix all <c>&lt;id&gt;-*.conf</c> entries share; null when there is none.
    /// </summary>
    public static string? FindId(SysprepContext context, byte[]? machineId)
    {
        if (machineId is not null)
        {
            string text = Encoding.ASCII.GetString(machineId).Trim();
            if (IsId(text))
            {
                return text;
            }
        }

        string? found = null;
        foreach (string root in Roots)
        {
            foreach (string path in context.Glob(root + "/loader/entries/*-*.conf"))
            {
                string name = path[(path.LastIndexOf('/') + 1)..];
                if (name.Length > 33 && name[32] == '-' && IsId(name[..32]))
                {
                    if (found is not null && found != name[..32])
                    {
                        context.Note($"boot loader entries carry more than one machine ID ({found}, {name[..32]}); their names were left alone");
                        return null;
                    }

                    found = name[..32];
                }
            }
        }

        return found;
    }

    /// <summary>Gives every name, entry and grubenv that carries <paramref name="id"/> the placeholder; installs the first-boot rename.</summary>
    public static void Apply(SysprepContext context, string id)
    {
        byte[] from = Encoding.ASCII.GetBytes(id);
        byte[] to = Encoding.ASCII.GetBytes(Placeholder);
        bool renamed = false;
        foreach (string root in Roots)
        {
            string entries = root + "/loader/entries";
            if (context.IsDirectory(entries))
            {
                foreach (string path in context.Glob(entries + "/*" + id + "*.conf"))
                {
                    if (context.IsRegularFile(path))
                    {
                        context.Rewrite(path, Replace(context.ReadFile(path)!, from, to));
                        renamed |= RenameWithPlaceholder(context, path, id);
                    }
                }
            }

            // Rescue images and their .hmac, systemd-boot's $BOOT/<machine-id>/ directory.
            foreach (string pattern in (string[])[root + "/*" + id + "*", root + "/.*" + id + "*"])
            {
                foreach (string path in context.Glob(pattern))
                {
                    // A FIPS .hmac names the file its HMAC is of: the name inside changes with the file's.
                    if (path.EndsWith(".hmac", StringComparison.Ordinal) && context.IsRegularFile(path))
                    {
                        context.Rewrite(path, Replace(context.ReadFile(path)!, from, to));
                    }

                    renamed |= RenameWithPlaceholder(context, path, id);
                }
            }
        }

        foreach (string env in GrubEnvironments)
        {
            byte[]? content = context.ReadFile(env);
            if (content is not null && content.AsSpan().IndexOf(from) >= 0)
            {
                context.Rewrite(env, Replace(content, from, to));
            }
        }

        if (renamed)
        {
            InstallFirstBootRename(context);
        }
    }

    private static bool RenameWithPlaceholder(SysprepContext context, string path, string id)
    {
        string name = path[(path.LastIndexOf('/') + 1)..];
        if (context.Rename(path, name.Replace(id, Placeholder, StringComparison.Ordinal)))
        {
            return true;
        }

        context.Note($"{path} was not renamed: {name.Replace(id, Placeholder, StringComparison.Ordinal)} exists");
        return false;
    }

    private static void InstallFirstBootRename(SysprepContext context)
    {
        if (!context.IsDirectory("/etc/systemd/system") || !context.IsDirectory("/usr/local/sbin"))
        {
            context.Note($"boot loader entries carry the placeholder ID {Placeholder}; the guest has no systemd unit directory, so no first-boot rename was installed");
            return;
        }

        const UnixFileMode Executable = (UnixFileMode)0x1ED; // 0755
        context.CreateFile(ScriptPath, Encoding.ASCII.GetBytes(ScriptText.Replace("\r\n", "\n", StringComparison.Ordinal)), Executable);
        context.CreateFile(UnitPath, Encoding.ASCII.GetBytes(UnitText.Replace("\r\n", "\n", StringComparison.Ordinal)), UnixFileModeBits.File);
        if (!context.IsDirectory("/etc/systemd/system/multi-user.target.wants"))
        {
            context.CreateDirectory("/etc/systemd/system/multi-user.target.wants", UnixFileModeBits.Directory);
        }

        context.CreateSymbolicLink(WantsPath, UnitPath);
    }

    private static bool IsId(string text)
    {
        if (text.Length != 32 || text == Placeholder)
        {
            return false;
        }

        foreach (char c in text)
        {
            if (c is not (>= '0' and <= '9' or >= 'a' and <= 'f'))
            {
                return false;
            }
        }

        return true;
    }

    private static byte[] Replace(byte[] content, byte[] from, byte[] to)
    {
        byte[] result = (byte[])content.Clone();
        int start = 0;
        int at;
        while ((at = result.AsSpan(start).IndexOf(from)) >= 0)
        {
            to.CopyTo(result, start + at);
            start += at + from.Length;
        }

        return result;
    }
}
