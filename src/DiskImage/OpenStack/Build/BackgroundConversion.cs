using DiskImage.Conversion;
using DiskImage.IO;

namespace DiskImage.OpenStack.Build;

/// <summary>
/// Converts a raw scratch image into an output file's temporary name on a worker thread, then hashes the result and
/// makes it durable, while the build goes on with the next files (kernels, ramdisks). The conversion reads only the
/// scratch file and writes only the temporary file, so it shares nothing with the guest the build keeps reading.
/// <see cref="Complete"/> waits for it and hands over the output; <see cref="Dispose"/> without it cancels the work,
/// waits for it to stop and deletes what it wrote.
/// </summary>
internal sealed class BackgroundConversion : IDisposable
{
    private readonly CancellationTokenSource _cancel;
    private readonly Task<(string Sha256, long Size)> _task;
    private readonly string? _scratch;
    private AtomicOutputFile? _output;

    private BackgroundConversion(AtomicOutputFile output, string? scratch, CancellationTokenSource cancel, Task<(string Sha256, long Size)> task)
    {
        _output = output;
        _scratch = scratch;
        _cancel = cancel;
        _task = task;
    }

    /// <summary>
    /// Starts converting <paramref name="raw"/> into <paramref name="output"/>'s temporary file; the conversion owns
    /// <paramref name="output"/> from here on and deletes <paramref name="raw"/> when it is done (unless it is the
    /// output's own temporary file).
    /// </summary>
    public static BackgroundConversion Start(string raw, AtomicOutputFile output, ConvertOptions options, Func<string, CancellationToken, (string Sha256, long Size)> hash, CancellationToken ct)
    {
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        CancellationToken token = cancel.Token;
        string target = output.TempPath;
        Task<(string, long)> task = Task.Factory.StartNew(
            () =>
            {
                using (var source = FileBlockDevice.Open(raw))
                {
                    ImageConverter.Convert(source, target, options, null, token);
                }

                File.Delete(raw);
                (string Sha256, long Size) result = hash(target, token);
                using (var f = new FileStream(target, FileMode.Open, FileAccess.ReadWrite, FileShare.Read))
                {
                    f.Flush(flushToDisk: true);
                }

                return result;
            },
            token,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        return new BackgroundConversion(output, raw == target ? null : raw, cancel, task);
    }

    /// <summary>Waits for the conversion; returns the output (now the caller's to commit or dispose) with its SHA-256 and size.</summary>
    /// <exception cref="OperationCanceledException">The build was cancelled.</exception>
    public (AtomicOutputFile Output, string Sha256, long Size) Complete()
    {
        (string sha, long size) = _task.GetAwaiter().GetResult();
        AtomicOutputFile output = _output ?? throw new InvalidOperationException("The conversion's output was handed over already.");
        _output = null;
        return (output, sha, size);
    }

    /// <summary>Cancels the conversion unless it was completed, waits for its thread to stop, and deletes its files.</summary>
    public void Dispose()
    {
        if (_output is not null)
        {
            _cancel.Cancel();
        }

        try
        {
            _task.Wait();
        }
        catch (AggregateException)
        {
            // Its failure was reported by Complete, or the build is failing for another reason already.
        }

        if (_scratch is not null)
        {
            try
            {
                File.Delete(_scratch);
            }
            catch (IOException)
            {
                // The scratch directory is deleted as a whole afterwards.
            }
        }

        _output?.Dispose();
        _output = null;
        _cancel.Dispose();
    }
}
