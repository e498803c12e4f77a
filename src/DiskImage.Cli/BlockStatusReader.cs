using DiskImage.Cli.Commands;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

namespace DiskImage.Cli;

/// <summary>
/// Block status of a guest range the way qemu-img computes it for <c>map</c> and <c>compare</c>:
/// the image's allocation translated to qemu's flags and, for a qcow2 layer that looks
/// metadata-preallocated, data clusters whose host range is a hole in the image file also reported
/// as zero (qemu asks the file below in that case).
/// </summary>
internal sealed class BlockStatusReader : IDisposable
{
    private readonly List<(DiskImageFile Image, string Name)> _chain;
    private readonly BlockDevice _content;
    private readonly bool?[] _preallocated;
    private readonly FileBlockDevice?[] _hosts;

    public BlockStatusReader(List<(DiskImageFile Image, string Name)> chain)
    {
        _chain = chain;
        _content = chain[0].Image.Content;
        _preallocated = new bool?[chain.Count];
        _hosts = new FileBlockDevice?[chain.Count];
    }

    /// <summary>The status at <paramref name="offset"/>, covering at most <paramref name="maxLength"/> bytes.</summary>
    public MapEntry At(long offset, long maxLength)
    {
        AllocationExtent extent = _content.GetAllocation(offset, maxLength);
        DiskImageFormat format = extent.Depth < _chain.Count ? _chain[extent.Depth].Image.Format : DiskImageFormat.Qcow2;
        MapEntry entry = MapEntry.From(extent, format);
        if (format != DiskImageFormat.Qcow2 || !entry.Data || entry.Zero || !entry.HasOffset || !IsPreallocated(extent.Depth))
        {
            return entry;
        }

        FileBlockDevice? host = Host(extent.Depth);
        if (host is null)
        {
            return entry;
        }

        if (entry.Offset >= host.Length)
        {
            return entry with { Zero = true };
        }

        AllocationExtent below = host.GetAllocation(entry.Offset, Math.Min(entry.Length, host.Length - entry.Offset));
        bool zero = below.Kind != AllocationKind.Data;

        // A hole that runs to the end of the file covers the rest of the range.
        long length = zero && below.End >= host.Length ? entry.Length : below.Length;
        return entry with { Length = length, Zero = zero };
    }

    /// <summary>
    /// qemu's test for a metadata-preallocated image: clearly more clusters in use than the file
    /// really allocates (at least 10/9 of them, and 2 more). The count here is the data clusters plus
    /// the four metadata clusters every image has.
    /// </summary>
    private bool IsPreallocated(int depth)
    {
        if (_preallocated[depth] is { } known)
        {
            return known;
        }

        bool result = false;
        // Guest data in an external data file: the image file holds metadata only.
        if (_chain[depth].Image is Qcow2Image image && image.GetInfo().Qcow2?.DataFile is null)
        {
            ImageInfo info = image.GetInfo();
            if (info.ActualSize >= 0 && info.ClusterSize is { } clusterSize && clusterSize > 0)
            {
                long real = info.ActualSize / clusterSize;
                long threshold = Math.Max(real * 10 / 9, real + 2);
                long count = 4;
                BlockDevice content = image.Content;
                long position = 0;
                while (position < content.Length && count < threshold)
                {
                    AllocationExtent e = content.GetAllocation(position, content.Length - position);
                    if (e.Depth == 0 && e.HostOffset >= 0)
                    {
                        count += (e.Length + clusterSize - 1) / clusterSize;
                    }

                    position = e.End;
                }

                result = count >= threshold;
            }
        }

        _preallocated[depth] = result;
        return result;
    }

    private FileBlockDevice? Host(int depth)
    {
        if (_hosts[depth] is null && _chain[depth].Image.FileName is { } path)
        {
            try
            {
                _hosts[depth] = FileBlockDevice.Open(path);
            }
            catch (IOException)
            {
                _preallocated[depth] = false;
            }
        }

        return _hosts[depth];
    }

    public void Dispose()
    {
        foreach (FileBlockDevice? host in _hosts)
        {
            host?.Dispose();
        }
    }
}
