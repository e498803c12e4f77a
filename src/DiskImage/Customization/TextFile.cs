using System.Text;

namespace DiskImage.Customization;

/// <summary>Line endings and text checks shared by <c>append-line</c> and <c>edit</c>.</summary>
internal static class TextFile
{
    /// <summary>
    /// The line ending of <paramref name="content"/>, judged from its first 8 KiB as virt-customize does:
    /// "\r\n" if present, else "\n", else "\r", else "\n".
    /// </summary>
    public static string DetectLineEnding(ReadOnlySpan<byte> content)
    {
        ReadOnlySpan<byte> head = content[..Math.Min(content.Length, 8192)];
        if (head.IndexOf("\r\n"u8) >= 0)
        {
            return "\r\n";
        }

        if (head.IndexOf((byte)'\n') >= 0)
        {
            return "\n";
        }

        return head.IndexOf((byte)'\r') >= 0 ? "\r" : "\n";
    }

    /// <summary>Whether the content is text: valid UTF-8 without NUL bytes.</summary>
    public static bool IsText(ReadOnlySpan<byte> content)
    {
        if (content.IndexOf((byte)0) >= 0)
        {
            return false;
        }

        return System.Text.Unicode.Utf8.IsValid(content);
    }

    public static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}
