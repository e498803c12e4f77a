using System.Diagnostics;
using System.Text;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Names;

/// <summary>
/// A host tree whose names are not all valid UTF-8 (<c>x\xfd</c>, <c>x\xfc</c>, <c>\xff\xfe</c>, a lone <c>\xc3</c>),
/// hold newlines, or are 255 bytes long (ASCII, two-byte UTF-8, invalid bytes), made and listed by bash and
/// coreutils — never by the code under test — so names are compared as raw bytes.
/// </summary>
internal static class RawTree
{
    /// <summary>Makes the tree under <paramref name="root"/> (which must exist) with printf-built names.</summary>
    public static void Create(string root)
    {
        const string Script = """
            set -e
            cd "$1"
            printf first > "$(printf 'x\375')"
            printf second > "$(printf 'x\374')"
            printf third > "$(printf '\377\376')"
            mkdir "$(printf '\303')"
            printf nested > "$(printf '\303')/$(printf 'new\nline')"
            printf trail > "$(printf 'trailing\n_')"
            mkdir "$(printf 'dir\nwith\200newline')"
            printf deep > "$(printf 'dir\nwith\200newline')/$(printf '\310\311')"
            ln -s "$(printf 'x\375')" "$(printf 'link\375')"
            ln -s "$(printf '\303/new\nline')" "$(printf 'link\nnewline')"
            printf a255 > "$(head -c 255 /dev/zero | tr '\0' 'a')"
            printf u255 > "$(for i in $(seq 127); do printf '\303\251'; done)b"
            printf r255 > "$(head -c 255 /dev/zero | tr '\0' '\376')"
            mkdir "$(head -c 254 /dev/zero | tr '\0' '\375')Z"
            printf inner > "$(head -c 254 /dev/zero | tr '\0' '\375')Z/$(printf 'x\375')"
            """;
        RunOk(Script, root);
    }

    /// <summary>
    /// The tree as bytes: for every entry below <paramref name="root"/> (lost+found excluded) in byte order, its type,
    /// raw relative path and content digest or link target, NUL-separated.
    /// </summary>
    public static byte[] Manifest(string root)
    {
        const string Script = """
            set -e
            cd "$1"
            export LC_ALL=C
            find . -mindepth 1 ! -path './lost+found' ! -path './lost+found/*' -print0 | sort -z | while IFS= read -r -d '' p; do
              if [ -L "$p" ]; then printf 'L %s -> ' "$p"; readlink -n "$p"; printf '\0'
              elif [ -d "$p" ]; then printf 'D %s\0' "$p"
              else printf 'F %s %s\0' "$p" "$(sha256sum < "$p" | cut -c1-16)"; fi
            done
            """;
        return RunOk(Script, root).StandardOutput;
    }

    /// <summary>The raw names the manifest holds (the paths), for messages.</summary>
    public static string Describe(byte[] manifest)
    {
        var text = new StringBuilder();
        foreach (byte b in manifest)
        {
            text.Append(b switch { 0 => "\n", >= 0x20 and < 0x7F => ((char)b).ToString(), _ => $"\\x{b:x2}" });
        }

        return text.ToString();
    }

    /// <summary>Asserts two host trees hold the same entries by raw bytes.</summary>
    public static void AssertSame(string expectedRoot, string actualRoot)
    {
        byte[] expected = Manifest(expectedRoot);
        byte[] actual = Manifest(actualRoot);
        Assert.True(expected.AsSpan().SequenceEqual(actual), $"expected:\n{Describe(expected)}\nactual:\n{Describe(actual)}");
    }

    /// <summary>Runs a bash script with <c>$1</c> = <paramref name="argument"/>; asserts exit 0 and returns its raw output.</summary>
    public static RawResult RunOk(string script, string argument, params string[] more)
    {
        RawResult r = Run(script, [argument, .. more]);
        Assert.True(r.ExitCode == 0, $"bash script exited {r.ExitCode}: {r.StandardError}\n{script}");
        return r;
    }

    /// <summary>Runs a bash script with positional arguments; output as raw bytes.</summary>
    public static RawResult Run(string script, IReadOnlyList<string> arguments)
    {
        var psi = new ProcessStartInfo(Oracle.Require("bash"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add("raw-tree");
        foreach (string a in arguments)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var stdout = new MemoryStream();
        process.StandardOutput.BaseStream.CopyTo(stdout);
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("bash script did not finish in 2 minutes.");
        }

        return new RawResult(process.ExitCode, stdout.ToArray(), stderr.Result);
    }
}

/// <summary>What a script printed, as bytes.</summary>
internal sealed record RawResult(int ExitCode, byte[] StandardOutput, string StandardError);
