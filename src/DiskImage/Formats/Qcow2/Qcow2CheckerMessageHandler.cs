using System.Globalization;
using System.Runtime.CompilerServices;

namespace DiskImage.Formats.Qcow2;

/// <summary>
/// Builds a checker message only when it will be kept: a badly damaged image can produce millions of
/// problems, and formatting each one would cost far more than the check itself.
/// </summary>
[InterpolatedStringHandler]
internal ref struct Qcow2CheckerMessageHandler
{
    private DefaultInterpolatedStringHandler _inner;

    public Qcow2CheckerMessageHandler(int literalLength, int formattedCount, Qcow2Checker checker, out bool shouldAppend)
    {
        shouldAppend = checker.WantsMessage;
        Enabled = shouldAppend;
        _inner = shouldAppend ? new DefaultInterpolatedStringHandler(literalLength, formattedCount, CultureInfo.InvariantCulture) : default;
    }

    /// <summary>Whether the message is being built.</summary>
    public bool Enabled { get; }

    public void AppendLiteral(string value) => _inner.AppendLiteral(value);

    public void AppendFormatted<T>(T value) => _inner.AppendFormatted(value);

    public void AppendFormatted<T>(T value, string? format) => _inner.AppendFormatted(value, format);

    public void AppendFormatted(string? value) => _inner.AppendFormatted(value);

    public string ToStringAndClear() => _inner.ToStringAndClear();
}
