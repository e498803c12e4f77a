namespace DiskImage.Tests.FileSystems;

/// <summary>The stream a <see cref="FailureOp"/> holds open between its calls.</summary>
public sealed class FailureOpContext
{
    public Stream? Stream { get; set; }

    public void Close()
    {
        Stream?.Dispose();
        Stream = null;
    }
}
