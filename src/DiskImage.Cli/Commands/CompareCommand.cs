using System.Buffers;
using DiskImage.Formats;
using DiskImage.IO;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>compare [-f fmt] [-F fmt] [-s] [-q] [-p] [-U] img1 img2</c>. Exit codes as qemu-img: 0
/// identical, 1 different, 2 an image cannot be opened, 4 a read error. Mismatch offsets are
/// reported at 512-byte sector granularity, like qemu-img.
/// </summary>
internal static class CompareCommand
{
    private const int OptNoBacking = 1000;
    private const int OptForceShare = 1001;
    private const int OptHelp = 1002;
    private const int ChunkSize = 1 << 20;
    private const int SectorSize = 512;

    public static int Run(string[] args, TextWriter stdout, CancellationToken cancellationToken = default)
    {
        string? format1 = null;
        string? format2 = null;
        bool strict = false;
        bool quiet = false;
        bool progress = false;
        bool followBacking = true;
        bool forceShare = false;
        var getopt = new GetOpt(
            args,
            "f:F:hpqsT:U",
            new LongOption("no-backing", false, OptNoBacking),
            new LongOption("force-share", false, OptForceShare),
            new LongOption("help", false, OptHelp));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'f': format1 = value; break;
                case 'F': format2 = value; break;
                case 's': strict = true; break;
                case 'q': quiet = true; break;
                case 'p': progress = true; break;
                case 'T': ImageOpener.CheckCacheMode(value!, "Invalid source cache option", exitCode: 2); break;
                case 'U' or OptForceShare: forceShare = true; break;
                case OptNoBacking: followBacking = false; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        if (getopt.Operands.Count != 2)
        {
            throw CliException.Usage("Expecting two image file names");
        }

        string name1 = getopt.Operands[0];
        string name2 = getopt.Operands[1];

        // qemu-img's progress (-p, not with -q): 0% once both images are open, every 2% after each
        // compared range, 100% when identical; a newline ends it on every path.
        Progress? printer = progress && !quiet ? new Progress(stdout) : null;
        try
        {
            return Compare(name1, format1, name2, format2, strict, quiet, followBacking, forceShare, printer, stdout, cancellationToken);
        }
        finally
        {
            printer?.End();
        }
    }

    private static int Compare(string name1, string? format1, string name2, string? format2, bool strict, bool quiet, bool followBacking, bool forceShare, Progress? printer, TextWriter stdout, CancellationToken cancellationToken)
    {
        using DiskImageFile image1 = ImageOpener.Open(name1, format1, writable: false, followBacking, exitCode: 2, forceShare: forceShare);
        using DiskImageFile image2 = ImageOpener.Open(name2, format2, writable: false, followBacking, exitCode: 2, forceShare: forceShare);
        List<(DiskImageFile Image, string Name)> chain1 = ImageOpener.Chain(image1, name1);
        List<(DiskImageFile Image, string Name)> chain2 = ImageOpener.Chain(image2, name2);
        using var status1 = new BlockStatusReader(chain1);
        using var status2 = new BlockStatusReader(chain2);
        BlockDevice a = image1.Content;
        BlockDevice b = image2.Content;
        long progressBase = Math.Max(a.Length, b.Length);
        printer?.Print(0);

        if (a.Length != b.Length && strict)
        {
            Say(stdout, quiet, "Strict mode: Image size mismatch!\n");
            return 1;
        }

        long common = Math.Min(a.Length, b.Length);
        byte[] bufferA = ArrayPool<byte>.Shared.Rent(ChunkSize);
        byte[] bufferB = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            long position = 0;
            while (position < common)
            {
                MapEntry ea = Status(status1, name1, position, common - position);
                MapEntry eb = Status(status2, name2, position, common - position);
                long chunkEnd = Math.Min(ea.End, eb.End);
                if (strict && !SameStatus(ea, eb))
                {
                    Say(stdout, quiet, $"Strict mode: Offset {position} block status mismatch!\n");
                    return 1;
                }

                if (!(ea.Zero && eb.Zero))
                {
                    long? difference = FirstDifference(a, name1, b, name2, position, chunkEnd, bufferA, bufferB, cancellationToken);
                    if (difference is { } at)
                    {
                        Say(stdout, quiet, $"Content mismatch at offset {at / SectorSize * SectorSize}!\n");
                        return 1;
                    }
                }

                position = chunkEnd;
                printer?.Report(position, progressBase);
            }

            // qemu's rule: the larger image's tail must read as zeros; the warning comes after the common part matched.
            if (a.Length != b.Length)
            {
                Say(stdout, quiet, "Warning: Image size mismatch!\n");
            }

            (BlockDevice larger, string largerName, BlockStatusReader largerStatus) = a.Length > b.Length ? (a, name1, status1) : (b, name2, status2);
            while (position < larger.Length)
            {
                MapEntry e = Status(largerStatus, largerName, position, larger.Length - position);
                if (!e.Zero)
                {
                    long? nonZero = FirstNonZero(larger, largerName, position, e.End, bufferA, cancellationToken);
                    if (nonZero is { } at)
                    {
                        Say(stdout, quiet, $"Content mismatch at offset {at / SectorSize * SectorSize}!\n");
                        return 1;
                    }
                }

                position = e.End;
                printer?.Report(position, progressBase);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bufferA);
            ArrayPool<byte>.Shared.Return(bufferB);
        }

        printer?.Report(progressBase, progressBase);
        Say(stdout, quiet, "Images are identical.\n");
        return 0;
    }

    /// <summary>qemu-img's simple progress printer with a minimum step of 2%.</summary>
    private sealed class Progress(TextWriter writer)
    {
        private double _last = -100;

        public void Report(long done, long total) => Print(total <= 0 ? 100 : Math.Clamp(done * 100.0 / total, 0, 100));

        public void Print(double percent)
        {
            if (Math.Abs(percent - _last) <= 2 && percent is not (0 or 100))
            {
                return;
            }

            if (percent == _last)
            {
                return;
            }

            _last = percent;
            writer.Write($"    ({QemuSize.FormatF2(percent)}/100%)\r");
            writer.Flush();
        }

        public void End()
        {
            writer.Write("\n");
            writer.Flush();
        }
    }

    // qemu-img compare exits 3 when the allocation status cannot be determined.
    private static MapEntry Status(BlockStatusReader status, string name, long offset, long maxLength)
    {
        try
        {
            return status.At(offset, maxLength);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException)
        {
            throw new CliException($"Sector allocation test failed for {name}: {e.Message}", 3);
        }
    }

    private static void Say(TextWriter stdout, bool quiet, string text)
    {
        if (!quiet)
        {
            stdout.Write(text);
        }
    }

    /// <summary>Whether a range reads as zeros without reading: a zero range, or an unallocated one that no lower layer can supply.</summary>
    internal static bool ReadsAsZero(AllocationExtent e, int chainLength) =>
        e.Kind == AllocationKind.Zero || (e.Kind == AllocationKind.Unallocated && e.Depth >= chainLength - 1);

    private static bool SameStatus(MapEntry a, MapEntry b) =>
        a.Present == b.Present && a.Zero == b.Zero && a.Data == b.Data && a.HasOffset == b.HasOffset;

    private static long? FirstDifference(BlockDevice a, string nameA, BlockDevice b, string nameB, long start, long end, byte[] bufferA, byte[] bufferB, CancellationToken cancellationToken)
    {
        for (long position = start; position < end;)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = (int)Math.Min(ChunkSize, end - position);
            Read(a, nameA, position, bufferA.AsSpan(0, n));
            Read(b, nameB, position, bufferB.AsSpan(0, n));
            int index = bufferA.AsSpan(0, n).CommonPrefixLength(bufferB.AsSpan(0, n));
            if (index < n)
            {
                return position + index;
            }

            position += n;
        }

        return null;
    }

    private static long? FirstNonZero(BlockDevice device, string name, long start, long end, byte[] buffer, CancellationToken cancellationToken)
    {
        for (long position = start; position < end;)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = (int)Math.Min(ChunkSize, end - position);
            Read(device, name, position, buffer.AsSpan(0, n));
            int index = buffer.AsSpan(0, n).IndexOfAnyExcept((byte)0);
            if (index >= 0)
            {
                return position + index;
            }

            position += n;
        }

        return null;
    }

    private static void Read(BlockDevice device, string name, long offset, Span<byte> buffer)
    {
        try
        {
            device.ReadExactly(offset, buffer);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException)
        {
            throw new CliException($"Error while reading offset {offset} of {name}: {e.Message}", 4);
        }
    }
}
