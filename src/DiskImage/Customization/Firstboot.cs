using System.Text;
using DiskImage.FileSystems;

namespace DiskImage.Customization;

/// <summary>
/// Installs first-boot scripts with virt-customize's layout: the runner <c>/usr/lib/virt-sysprep/firstboot.sh</c>
/// (0755), scripts in <c>/usr/lib/virt-sysprep/scripts/PPPP-NNNN-name</c> (0755; priority 5000, a running counter,
/// the name sanitised to <c>[a-z0-9_]</c> with other characters as '-'), the systemd unit
/// <c>/usr/lib/systemd/system/guestfs-firstboot.service</c> enabled in <c>multi-user.target.wants</c> when
/// <c>/etc/systemd/system</c> exists, and the SysV fallback <c>/etc/init.d/guestfs-firstboot</c> with
/// <c>S99guestfs-firstboot</c> links in runlevels 2, 3 and 5 (under <c>/etc/rc.d</c> on Red Hat layouts).
/// </summary>
/// <remarks>The runner moves each script to <c>scripts-done/</c>, runs it, and logs to <c>/root/virt-sysprep-firstboot.log</c>.</remarks>
internal static class Firstboot
{
    public const string Directory = "/usr/lib/virt-sysprep";
    public const string Runner = Directory + "/firstboot.sh";
    public const string Scripts = Directory + "/scripts";
    public const string Unit = "/usr/lib/systemd/system/guestfs-firstboot.service";
    public const int DefaultPriority = 5000;

    private const UnixFileMode Executable = (UnixFileMode)0x1ED; // 0755

    private const string RunnerText = """
        #!/bin/sh -
        ### BEGIN INIT INFO
        # Provides:          virt-sysprep
        # Required-Start:    $null
        # Should-Start:      $all
        # Required-Stop:     $null
        # Should-Stop:       $all
        # Default-Start:     2 3 5
        # Default-Stop:      0 1 6
        # Short-Description: Run the scripts queued for first boot
        ### END INIT INFO
        # Written by DiskImage (diskimage customize) in virt-customize's first-boot layout.

        d=/usr/lib/virt-sysprep/scripts
        d_done=/usr/lib/virt-sysprep/scripts-done
        logfile=~root/virt-sysprep-firstboot.log

        echo "$0" "$@" 2>&1 | tee -a $logfile
        echo "Scripts dir: $d" 2>&1 | tee -a $logfile

        if test "$1" = "start"; then
          mkdir -p $d_done
          for f in $d/* ; do
            if test -x "$f"; then
              mv "$f" $d_done/
              echo "=== Running $f ===" 2>&1 | tee -a $logfile
              ( cd /tmp 2>/dev/null || cd /; $d_done/$(basename "$f") ) 2>&1 | tee -a $logfile
              echo "=== Exit code: $? ===" 2>&1 | tee -a $logfile
            fi
          done
          rm -f $d_done/*
        fi

        """;

    private const string UnitText = """
        [Unit]
        Description=First-boot scripts queued by a customization (virt-customize layout)
        After=network.target
        Before=prefdm.service

        [Service]
        Type=oneshot
        ExecStart=/usr/lib/virt-sysprep/firstboot.sh start
        RemainAfterExit=yes
        StandardOutput=journal+console
        StandardError=inherit

        [Install]
        WantedBy=multi-user.target

        """;

    /// <summary>Adds one script (installing the runner and services the first time) and returns its guest path.</summary>
    public static string Add(CustomizeContext context, string name, string content)
    {
        GuestTree t = context.Tree;
        Install(t);
        context.FirstbootCounter++;
        string path = $"{Scripts}/{DefaultPriority:D4}-{context.FirstbootCounter:D4}-{Sanitize(name)}";
        t.WriteFile(t.Resolve(path), Encoding.UTF8.GetBytes(content), Executable);
        t.SetMode(t.Resolve(path), Executable);
        return path;
    }

    /// <summary>The script name as virt-customize files it: lower-case letters, digits and '_' kept, others '-', at most 60 characters.</summary>
    public static string Sanitize(string name)
    {
        var sb = new StringBuilder(Math.Min(name.Length, 60));
        foreach (char c in name)
        {
            if (sb.Length == 60)
            {
                break;
            }

            sb.Append(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '_' ? c : '-');
        }

        return sb.ToString();
    }

    private static void Install(GuestTree t)
    {
        MkdirOperation.CreateAll(t, Scripts);
        t.WriteFile(t.Resolve(Runner), Encoding.UTF8.GetBytes(RunnerText.Replace("\r\n", "\n", StringComparison.Ordinal)), Executable);
        t.SetMode(t.Resolve(Runner), Executable);

        if (t.StatPath("/etc/systemd/system") is { IsDirectory: true })
        {
            MkdirOperation.CreateAll(t, "/usr/lib/systemd/system");
            t.WriteFile(t.Resolve(Unit), Encoding.UTF8.GetBytes(UnitText.Replace("\r\n", "\n", StringComparison.Ordinal)));
            MkdirOperation.CreateAll(t, "/etc/systemd/system/multi-user.target.wants");
            t.CreateSymbolicLink(t.Resolve("/etc/systemd/system/multi-user.target.wants/guestfs-firstboot.service", followFinal: false), Unit);
        }

        string? sysv = t.StatPath("/etc/rc.d") is { IsDirectory: true } ? "/etc/rc.d"
            : t.StatPath("/etc/init.d") is { IsDirectory: true } ? "/etc" : null;
        if (sysv is not null)
        {
            MkdirOperation.CreateAll(t, sysv + "/init.d");
            t.CreateSymbolicLink(t.Resolve(sysv + "/init.d/guestfs-firstboot", followFinal: false), Runner);
            foreach (int level in (int[])[2, 3, 5])
            {
                MkdirOperation.CreateAll(t, $"{sysv}/rc{level}.d");
                t.CreateSymbolicLink(t.Resolve($"{sysv}/rc{level}.d/S99guestfs-firstboot", followFinal: false), "../init.d/guestfs-firstboot");
            }
        }
    }
}
