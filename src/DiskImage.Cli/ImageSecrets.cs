using System.Text;

namespace DiskImage.Cli;

/// <summary>
/// qemu-img's <c>--object secret,id=ID,data=STR|file=PATH[,format=raw|base64]</c> and
/// <c>--image-opts</c> (<c>driver=luks,key-secret=ID,file.filename=PATH</c>, <c>driver=qcow2,encrypt.key-secret=ID,file.filename=PATH</c>):
/// taken out of a verb's arguments before the verb parses them, each image-opts operand replaced by
/// its file name; <see cref="ImageOpener"/> then opens that file with the named driver and secret.
/// </summary>
internal sealed class ImageSecrets
{
    private static readonly AsyncLocal<ImageSecrets?> s_current = new();

    private readonly Dictionary<string, byte[]> _secrets = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string? Driver, string? KeySecret)> _images = new(StringComparer.Ordinal);

    /// <summary>The objects and image options of the running command, or null.</summary>
    public static ImageSecrets? Current => s_current.Value;

    /// <summary>Forgets the running command's objects.</summary>
    public static void Clear() => s_current.Value = null;

    /// <summary>
    /// Removes <c>--object</c>, <c>--image-opts</c> and <c>--target-image-opts</c> from <paramref name="args"/>
    /// and replaces image-opts operands by their file names; returns the remaining arguments.
    /// </summary>
    /// <exception cref="CliException">An object or image option qemu-img would refuse, or one diskimage does not support.</exception>
    public static string[] Extract(string[] args)
    {
        var context = new ImageSecrets();
        var rest = new List<string>(args.Length);
        bool imageOpts = false;
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            if (arg == "--")
            {
                rest.AddRange(args.AsSpan(i));
                break;
            }

            if (arg == "--object" || arg.StartsWith("--object=", StringComparison.Ordinal))
            {
                string? value = arg.Length > "--object".Length ? arg["--object=".Length..] : i + 1 < args.Length ? args[++i] : null;
                if (value is null)
                {
                    throw CliException.Usage("option '--object' requires an argument");
                }

                context.AddObject(value);
                continue;
            }

            if (arg is "--image-opts" or "--target-image-opts")
            {
                imageOpts |= arg == "--image-opts";
                if (arg == "--target-image-opts")
                {
                    throw new CliException("--target-image-opts is not supported by diskimage (name the target's key with -o key-secret= or -o encrypt.key-secret=)");
                }

                continue;
            }

            rest.Add(arg);
        }

        if (imageOpts)
        {
            for (int i = 0; i < rest.Count; i++)
            {
                string arg = rest[i];
                if (arg.StartsWith('-') || (i > 0 && rest[i - 1] is "-o" or "-l" or "-f" or "-F" or "-O" or "-b" or "-B"))
                {
                    continue;
                }

                QemuOptionList opts = Parse(arg);
                string? file = opts.Get("file.filename") ?? opts.Get("filename") ?? opts.Get("file");
                if (file is null)
                {
                    continue;
                }

                foreach (KeyValuePair<string, string> item in opts.Items)
                {
                    if (item.Key is not ("driver" or "file.filename" or "filename" or "file" or "file.driver" or "key-secret" or "encrypt.key-secret" or "encrypt.format"))
                    {
                        throw new CliException($"Could not open '{arg}': Block option '{item.Key}' is not supported by diskimage");
                    }
                }

                context._images[file] = (opts.Get("driver"), opts.Get("key-secret") ?? opts.Get("encrypt.key-secret"));
                rest[i] = file;
            }
        }

        s_current.Value = context;
        return [.. rest];
    }

    /// <summary>The driver named for <paramref name="path"/> with --image-opts, and the passphrase of its key-secret.</summary>
    /// <exception cref="CliException">The key-secret names no --object.</exception>
    public static (string? Driver, ReadOnlyMemory<byte>? Passphrase) ForImage(string path)
    {
        if (Current is not { } context || !context._images.TryGetValue(path, out (string? Driver, string? KeySecret) image))
        {
            return (null, null);
        }

        return (image.Driver, image.KeySecret is { } id ? context.Secret(id, path) : null);
    }

    /// <summary>The bytes of secret <paramref name="id"/>.</summary>
    /// <exception cref="CliException">No such secret (qemu's "No secret with id").</exception>
    public static byte[] Get(string id, string fileName)
    {
        if (Current is { } context)
        {
            return context.Secret(id, fileName);
        }

        throw new CliException($"{fileName}: No secret with id '{id}'");
    }

    private byte[] Secret(string id, string fileName) =>
        _secrets.TryGetValue(id, out byte[]? secret) ? secret : throw new CliException($"Could not open '{fileName}': No secret with id '{id}'");

    private void AddObject(string text)
    {
        // The first item is the type (qom-type), unless written qom-type=...
        int comma = text.IndexOf(',', StringComparison.Ordinal);
        string type = comma < 0 ? text : text[..comma];
        string restText = comma < 0 ? "" : text[(comma + 1)..];
        if (type.StartsWith("qom-type=", StringComparison.Ordinal))
        {
            type = type["qom-type=".Length..];
        }

        if (type != "secret")
        {
            throw new CliException($"Parameter 'qom-type' does not accept value '{type}'");
        }

        QemuOptionList opts = Parse(restText);
        string? id = opts.Get("id");
        if (id is null)
        {
            throw new CliException("Parameter 'id' is missing");
        }

        string? data = opts.Get("data");
        string? file = opts.Get("file");
        foreach (KeyValuePair<string, string> item in opts.Items)
        {
            if (item.Key is not ("id" or "data" or "file" or "format"))
            {
                throw new CliException(item.Key is "keyid" or "iv"
                    ? $"Parameter '{item.Key}' (encrypted secrets) is not supported by diskimage"
                    : $"Property 'secret.{item.Key}' not found");
            }
        }

        if ((data is null) == (file is null))
        {
            throw new CliException(data is null ? "Either 'file' or 'data' must be provided" : "'data' and 'file' are mutually exclusive");
        }

        byte[] bytes;
        try
        {
            bytes = data is not null ? Encoding.UTF8.GetBytes(data) : File.ReadAllBytes(file!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"Unable to read {file}: {ImageOpener.Describe(e)}");
        }

        switch (opts.Get("format") ?? "raw")
        {
            case "raw":
                break;
            case "base64":
                try
                {
                    bytes = Convert.FromBase64String(Encoding.ASCII.GetString(bytes).Trim());
                }
                catch (FormatException)
                {
                    throw new CliException("Unable to decode base64 secret");
                }

                break;
            case { } other:
                throw new CliException($"Parameter 'format' does not accept value '{other}'");
        }

        if (_secrets.ContainsKey(id))
        {
            throw new CliException($"attempt to add duplicate property '{id}' to object (type 'container')");
        }

        _secrets[id] = bytes;
    }

    private static QemuOptionList Parse(string text)
    {
        var list = new QemuOptionList();
        if (text.Length > 0)
        {
            list.Add(text);
        }

        return list;
    }
}
