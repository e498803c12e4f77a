using System.Text;

namespace DiskImage.Customization;

/// <summary>
/// <c>--append-line FILE:LINE</c>: appends LINE and the file's own line ending, first ending an unterminated
/// last line; creates the file when missing.
/// </summary>
internal sealed class AppendLineOperation : CustomizeOperation
{
    private readonly string _path;
    private readonly string _line;

    public AppendLineOperation(string argument)
        : base("append-line", argument)
    {
        (_path, _line) = SplitPair("FILE:LINE", allowEmptySecond: true);
        if (_line.Contains('\n', StringComparison.Ordinal) || _line.Contains('\r', StringComparison.Ordinal))
        {
            throw new CustomizationException(ToString(), "the line must not contain a line break");
        }
    }

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        string path = t.Resolve(_path);
        FileSystems.UnixFileInfo? existing = t.Stat(path);
        if (existing is null)
        {
            t.WriteFile(path, Encoding.UTF8.GetBytes(_line + "\n"));
            return;
        }

        if (existing.Type != FileSystems.UnixFileType.RegularFile)
        {
            throw t.Error($"'{path}' is not a regular file");
        }

        byte[] old = t.ReadAllBytes(path);
        string eol = TextFile.DetectLineEnding(old);
        byte[] eolBytes = Encoding.ASCII.GetBytes(eol);
        var ms = new MemoryStream(old.Length + _line.Length + 4);
        ms.Write(old);
        if (old.Length > 0 && !old.AsSpan().EndsWith(eolBytes))
        {
            ms.Write(eolBytes);
        }

        ms.Write(Encoding.UTF8.GetBytes(_line));
        ms.Write(eolBytes);
        t.WriteFile(path, ms.ToArray());
    }
}
