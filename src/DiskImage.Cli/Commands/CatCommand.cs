using System.Buffers;
using System.Text;
using DiskImage.FileSystems;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>cat [-f fmt] image path...</c>: writes files of the ext4 file system in an image to standard
/// output, byte for byte (like <c>virt-cat</c>); a final symbolic link is followed inside the image.
/// </summary>
internal static class CatCommand
{
    /// <param name="args">The arguments after the verb.</param>
    /// <param name="stdout">The text output (help text; file bytes when <paramref name="binaryStdout"/> is null and it has no byte stream).</param>
    /// <param name="binaryStdout">Standard output as bytes, or null to use <paramref name="stdout"/>.</param>
    /// <param name="cancellationToken">Stops the copy between chunks.</param>
    public static int Run(string[] args, TextWriter stdout, Stream? binaryStdout, CancellationToken cancellationToken = default)
    {
        if (!ImageReadArguments.TryParse(args, stdout, 2, "Expecting an image file name and a file path", out ImageReadArguments arguments))
        {
            return 0;
        }

        using FileSystemImage image = arguments.Open();
        stdout.Flush();
        Stream? output = binaryStdout ?? (stdout as StreamWriter)?.BaseStream;
        for (int i = 1; i < arguments.Operands.Count; i++)
        {
            string path = arguments.Operands[i];
            Stream input;
            try
            {
                input = image.FileSystem.OpenFile(FileSystemImage.CheckGuestPath(path), FileMode.Open, FileAccess.Read);
            }
            catch (Exception e) when (FileSystemImage.IsGuestError(e))
            {
                throw FileSystemImage.GuestError(path, e);
            }

            using (input)
            {
                if (output is not null)
                {
                    CopyBytes(input, output, cancellationToken);
                    output.Flush();
                }
                else
                {
                    CopyAsText(input, stdout, cancellationToken);
                }
            }
        }

        return 0;
    }

    // Without a byte stream (an in-process caller's StringWriter), the bytes are decoded as UTF-8.
    private static void CopyBytes(Stream input, Stream output, CancellationToken cancellationToken)
    {
        byte[] bytes = ArrayPool<byte>.Shared.Rent(256 * 1024);
        try
        {
            int n;
            while ((n = input.Read(bytes, 0, 256 * 1024)) > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                output.Write(bytes, 0, n);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    private static void CopyAsText(Stream input, TextWriter stdout, CancellationToken cancellationToken)
    {
        Decoder decoder = Encoding.UTF8.GetDecoder();
        byte[] bytes = ArrayPool<byte>.Shared.Rent(64 * 1024);
        char[] chars = ArrayPool<char>.Shared.Rent(Encoding.UTF8.GetMaxCharCount(64 * 1024));
        try
        {
            int n;
            while ((n = input.Read(bytes, 0, 64 * 1024)) > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int count = decoder.GetChars(bytes, 0, n, chars, 0, flush: false);
                stdout.Write(chars, 0, count);
            }

            int tail = decoder.GetChars([], 0, 0, chars, 0, flush: true);
            stdout.Write(chars, 0, tail);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
            ArrayPool<char>.Shared.Return(chars);
        }
    }
}
