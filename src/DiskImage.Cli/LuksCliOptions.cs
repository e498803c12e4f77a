using System.Globalization;
using System.Text;
using DiskImage.Formats.Luks;

namespace DiskImage.Cli;

/// <summary>
/// The LUKS creation options of <c>-f luks</c> (<c>key-secret</c>, <c>cipher-alg</c>, ...) and of qcow2's
/// <c>encrypt.*</c> options, turned into <see cref="LuksCreateOptions"/> with the secret from <c>--object</c>.
/// </summary>
internal static class LuksCliOptions
{
    /// <summary>The options of the luks format, as <c>-o help</c> lists them.</summary>
    public static readonly (string Name, string Type, string Help)[] Options =
    [
        ("cipher-alg", "str", "Name of encryption cipher algorithm (aes-128, aes-192, aes-256)"),
        ("cipher-mode", "str", "Name of encryption cipher mode (xts)"),
        ("hash-alg", "str", "Name of encryption hash algorithm (sha1, sha256, sha384, sha512)"),
        ("iter-time", "num", "Time to spend in PBKDF in milliseconds"),
        ("ivgen-alg", "str", "Name of IV generator algorithm (plain64)"),
        ("key-secret", "str", "ID of secret providing LUKS passphrase"),
        ("size", "size", "Virtual disk size"),
    ];

    /// <summary>Whether <paramref name="key"/> is one of qcow2's encryption options diskimage knows.</summary>
    public static bool IsQcow2Key(string key) =>
        key == "encrypt.format" || (key.StartsWith("encrypt.", StringComparison.Ordinal) && Array.FindIndex(Options, o => o.Name != "size" && "encrypt." + o.Name == key) >= 0);

    /// <summary>
    /// The LUKS options of a new image: for <paramref name="prefix"/> "" (-f luks) always; for
    /// "encrypt." (qcow2) only with <c>encrypt.format=luks</c>, else null.
    /// </summary>
    /// <exception cref="CliException">A missing key-secret, an unknown secret, or a cipher diskimage does not write.</exception>
    public static LuksCreateOptions? Build(QemuOptionList options, string prefix, string fileName)
    {
        if (prefix.Length > 0)
        {
            string? format = options.Get("encrypt.format");
            if (options.Get("encryption") is { } legacy && legacy is not ("off" or "no" or "false"))
            {
                throw new CliException($"{fileName}: Creating AES-encrypted qcow2 images (encryption=on) is not supported by diskimage (use encrypt.format=luks)");
            }

            if (format is null)
            {
                foreach (KeyValuePair<string, string> item in options.Items)
                {
                    if (item.Key.StartsWith("encrypt.", StringComparison.Ordinal))
                    {
                        throw new CliException($"{fileName}: Parameter 'encrypt.format' is required");
                    }
                }

                return null;
            }

            if (format == "aes")
            {
                throw new CliException($"{fileName}: Creating AES-encrypted qcow2 images (encrypt.format=aes) is not supported by diskimage (use encrypt.format=luks)");
            }

            if (format != "luks")
            {
                throw new CliException($"{fileName}: Parameter 'encrypt.format' does not accept value '{format}'");
            }
        }

        string? secretId = options.Get(prefix + "key-secret");
        if (secretId is null)
        {
            throw new CliException($"{fileName}: Parameter '{prefix}key-secret' is required for cipher");
        }

        byte[] passphrase = ImageSecrets.Get(secretId, fileName);
        int keySize = options.Get(prefix + "cipher-alg") switch
        {
            null or "aes-256" => 256,
            "aes-192" => 192,
            "aes-128" => 128,
            { } other => throw new CliException($"{fileName}: Cipher algorithm '{other}' is not supported by diskimage (use aes-128, aes-192 or aes-256)"),
        };
        if (options.Get(prefix + "cipher-mode") is { } mode && mode != "xts")
        {
            throw new CliException($"{fileName}: Cipher mode '{mode}' is not supported by diskimage for new images (use xts)");
        }

        if (options.Get(prefix + "ivgen-alg") is { } ivgen && ivgen != "plain64")
        {
            throw new CliException($"{fileName}: IV generator '{ivgen}' is not supported by diskimage for new images (use plain64)");
        }

        string hash = options.Get(prefix + "hash-alg") ?? "sha256";
        if (hash is not ("sha1" or "sha256" or "sha384" or "sha512"))
        {
            throw new CliException($"{fileName}: Hash algorithm '{hash}' is not supported by diskimage (use sha1, sha256, sha384 or sha512)");
        }

        TimeSpan iterTime = TimeSpan.FromSeconds(2);
        if (options.Get(prefix + "iter-time") is { } iterText)
        {
            if (!long.TryParse(iterText, NumberStyles.None, CultureInfo.InvariantCulture, out long ms) || ms <= 0)
            {
                throw new CliException($"{fileName}: Parameter '{prefix}iter-time' expects a positive number");
            }

            iterTime = TimeSpan.FromMilliseconds(ms);
        }

        return new LuksCreateOptions { Passphrase = passphrase, KeySize = keySize, HashAlgorithm = hash, IterationTime = iterTime };
    }

    /// <summary>The options as qemu-img echoes them on its "Formatting" line (each followed by a space).</summary>
    public static string Describe(QemuOptionList options, string prefix)
    {
        var sb = new StringBuilder();
        foreach (string name in (string[])(prefix.Length > 0 ? ["format", "key-secret", "cipher-alg", "cipher-mode", "ivgen-alg", "hash-alg", "iter-time"] : ["key-secret", "cipher-alg", "cipher-mode", "ivgen-alg", "hash-alg", "iter-time"]))
        {
            if (options.Get(prefix + name) is { } value)
            {
                sb.Append(prefix).Append(name).Append('=').Append(value).Append(' ');
            }
        }

        return sb.ToString();
    }
}
