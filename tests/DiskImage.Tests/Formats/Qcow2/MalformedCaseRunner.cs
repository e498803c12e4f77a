using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>
/// Runs one hostile image through everything a caller may do with it — open read-only and read the
/// guest disk and its snapshots, open writable and write, then check — and reports any outcome the
/// hardening contract forbids: an exception other than <see cref="InvalidDataException"/> or
/// <see cref="NotSupportedException"/> (the check must not throw at all), a hang past
/// <see cref="Timeout"/>, or more allocation than <see cref="AllocationBudget(long)"/>.
/// </summary>
public static class MalformedCaseRunner
{
    /// <summary>Per-case wall-clock limit.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Bytes a case may allocate: a fixed allowance for buffers and caches plus a small multiple of the file size.</summary>
    public static long AllocationBudget(long fileLength) => (16L << 20) + (8 * fileLength);

    /// <summary>DISKIMAGE_MALFORMED_READ_ONLY=1 skips the writable stage (to triage read-side failures on their own).</summary>
    private static bool ReadOnlyRun => Environment.GetEnvironmentVariable("DISKIMAGE_MALFORMED_READ_ONLY") is "1";

    private const int ReadChunk = 64 * 1024;
    private const long ReadHead = 8L << 20;
    private const long ReadTail = 1L << 20;

    /// <summary>What a case does and checks beyond the defaults.</summary>
    public sealed class Options
    {
        /// <summary>Open options for both opens (Writable is set per stage).</summary>
        public DiskImageOpenOptions? OpenOptions { get; init; }

        /// <summary>Whether to run the writable stage.</summary>
        public bool Write { get; init; } = true;

        /// <summary>Called with the host bytes after the writable stage; returns a failure text or null.</summary>
        public Func<byte[], string?>? VerifyAfterWrite { get; init; }

        /// <summary>A path for the image (cases whose backing names resolve against a directory); null keeps it in memory.</summary>
        public string? FilePath { get; init; }
    }

    private static long s_lastAllocated;

    /// <summary>Bytes allocated by the stages of the last case that completed (for test output).</summary>
    public static long LastAllocatedBytes => Volatile.Read(ref s_lastAllocated);

    /// <summary>Runs the case on its own thread under <see cref="Timeout"/>; returns null when it behaved, else why not.</summary>
    public static string? Run(string name, byte[] image, Options? options = null)
    {
        options ??= new Options();
        string? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                failure = RunCore(image, options);
            }
            catch (Exception ex)
            {
                failure = "harness: " + ex;
            }
        }, 16 * 1024 * 1024)
        {
            IsBackground = true,
            Name = "malformed:" + name,
        };
        thread.Start();
        if (!thread.Join(Timeout))
        {
            return $"{name}: did not finish within {Timeout.TotalSeconds} s (hang)";
        }

        return failure is null ? null : $"{name}: {failure}";
    }

    private static bool Allowed(Exception ex) => ex is InvalidDataException or NotSupportedException;

    private static string Describe(string stage, Exception ex) => $"{stage} threw {ex.GetType().Name}: {ex.Message}\n{ex.StackTrace}";

    private static string? RunCore(byte[] image, Options options)
    {
        DiskImageOpenOptions baseOptions = options.OpenOptions ?? new DiskImageOpenOptions();
        var failures = new List<string>();
        long allocated = 0;

        // Read-only stage.
        long before = GC.GetAllocatedBytesForCurrentThread();
        byte[] readOnlyCopy = (byte[])image.Clone();
        long afterCopy = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            using Qcow2Image img = OpenImage(readOnlyCopy, options, Clone(baseOptions, writable: false));
            ReadEverything(img);
        }
        catch (Exception ex) when (Allowed(ex))
        {
        }
        catch (Exception ex)
        {
            failures.Add(Describe("read-only open/read", ex));
        }

        long readOnlyStage = GC.GetAllocatedBytesForCurrentThread() - afterCopy;
        allocated += readOnlyStage;
        long writeStage = 0;

        // Writable stage.
        byte[] writableCopy = (byte[])image.Clone();
        if (options.Write && !ReadOnlyRun)
        {
            long start = GC.GetAllocatedBytesForCurrentThread();
            var host = new MemoryBlockDevice(writableCopy, writable: true);
            try
            {
                using Qcow2Image img = OpenImage(host, options, Clone(baseOptions, writable: true));
                WriteSome(img);
            }
            catch (Exception ex) when (Allowed(ex))
            {
            }
            catch (Exception ex)
            {
                failures.Add(Describe("writable open/write", ex));
            }

            writeStage = GC.GetAllocatedBytesForCurrentThread() - start;
            allocated += writeStage;
            writableCopy = host.Data.ToArray();
            if (writableCopy.Length > image.Length + (64L << 20))
            {
                failures.Add($"the writable stage grew the host from {image.Length:N0} to {writableCopy.Length:N0} bytes");
            }

            if (options.VerifyAfterWrite?.Invoke(writableCopy) is string problem)
            {
                failures.Add("after write: " + problem);
            }
        }

        // Check stage: must report, never throw.
        long checkStart = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            using var host = new MemoryBlockDevice(writableCopy, writable: false);
            Qcow2Image.Check(host);
        }
        catch (Exception ex)
        {
            failures.Add(Describe("check", ex));
        }

        long checkStage = GC.GetAllocatedBytesForCurrentThread() - checkStart;
        allocated += checkStage;
        Volatile.Write(ref s_lastAllocated, allocated);
        long budget = AllocationBudget(image.Length) * 3;
        if (allocated > budget)
        {
            failures.Add($"allocated {allocated:N0} bytes over three stages (read-only {readOnlyStage:N0}, write {writeStage:N0}, check {checkStage:N0}), more than the budget {budget:N0} for a {image.Length:N0}-byte file");
        }

        _ = before;
        return failures.Count == 0 ? null : string.Join("\n", failures);
    }

    private static DiskImageOpenOptions Clone(DiskImageOpenOptions o, bool writable) => new()
    {
        Writable = writable,
        Format = o.Format,
        BackingFiles = o.BackingFiles,
        AllowExternalDataFile = o.AllowExternalDataFile,
        MaxBackingChainDepth = o.MaxBackingChainDepth,
    };

    private static Qcow2Image OpenImage(byte[] bytes, Options options, DiskImageOpenOptions openOptions) =>
        OpenImage(new MemoryBlockDevice(bytes, writable: openOptions.Writable), options, openOptions);

    private static Qcow2Image OpenImage(MemoryBlockDevice host, Options options, DiskImageOpenOptions openOptions) =>
        Qcow2Image.Open(host, openOptions, leaveOpen: false, fileName: options.FilePath);

    /// <summary>Reads the head and tail of the guest disk, walks its allocation map and reads each snapshot's head.</summary>
    public static void ReadEverything(Qcow2Image img)
    {
        byte[] buffer = new byte[ReadChunk];
        ReadRanges(img.Content, buffer);
        int extents = 0;
        foreach (AllocationExtent _ in img.Content.EnumerateAllocation())
        {
            if (++extents > 4096)
            {
                break;
            }
        }

        _ = img.GetInfo();
        int snapshots = 0;
        foreach (Qcow2Snapshot snapshot in img.Snapshots)
        {
            if (++snapshots > 8)
            {
                break;
            }

            BlockDevice view = img.OpenSnapshot(snapshot);
            using (view)
            {
                ReadRanges(view, buffer);
            }
        }
    }

    private static void ReadRanges(BlockDevice device, byte[] buffer)
    {
        long length = device.Length;
        long head = Math.Min(length, ReadHead);
        for (long at = 0; at < head; at += buffer.Length)
        {
            device.Read(at, buffer.AsSpan(0, (int)Math.Min(buffer.Length, head - at)));
        }

        for (long at = Math.Max(head, length - ReadTail); at < length; at += buffer.Length)
        {
            device.Read(at, buffer.AsSpan(0, (int)Math.Min(buffer.Length, length - at)));
        }
    }

    /// <summary>Writes data, a partial cluster and zeros at a few places, then flushes.</summary>
    public static void WriteSome(Qcow2Image img)
    {
        BlockDevice c = img.Content;
        long length = c.Length;
        byte[] data = new byte[4096];
        Array.Fill(data, (byte)0xa5);
        if (length >= 4096)
        {
            c.Write(0, data);
            long middle = length / 2 / 4096 * 4096;
            c.Write(middle, data);
            long zeroAt = Math.Min(length - 4096, 65536);
            c.WriteZeroes(zeroAt, Math.Min(65536, length - zeroAt));
            c.Write(length - 4096, data.AsSpan(0, 512));
        }

        c.Flush();
    }
}
