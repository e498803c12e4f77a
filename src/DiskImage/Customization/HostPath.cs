using DiskImage.FileSystems;

namespace DiskImage.Customization;

/// <summary>Host paths named by operations (upload, copy-in, firstboot scripts, key and password files).</summary>
internal static class HostPath
{
    /// <summary>The absolute '/'-separated form of a host path (relative to the current directory).</summary>
    public static string Full(GuestTree t, string path)
    {
        if (path.Length == 0)
        {
            throw t.Error("the host path is empty");
        }

        return Path.TrimEndingDirectorySeparator(Path.GetFullPath(path)).Replace(Path.DirectorySeparatorChar, '/');
    }

    /// <summary>The host entry, or an error naming the operation when it is missing.</summary>
    public static UnixFileInfo Stat(GuestTree t, string fullPath, bool followFinal)
    {
        try
        {
            UnixFileInfo info = t.Host.GetEntry(fullPath);
            if (followFinal && info.Type == UnixFileType.SymbolicLink)
            {
                string real = Path.GetFullPath(new FileInfo(fullPath).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? fullPath);
                info = t.Host.GetEntry(real);
            }

            return info;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw t.Error($"the host file '{fullPath}' cannot be read: {e.Message}", e);
        }
    }

    /// <summary>The whole content of a host file.</summary>
    public static byte[] ReadAllBytes(GuestTree t, string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw t.Error($"the host file '{path}' cannot be read: {e.Message}", e);
        }
    }
}
