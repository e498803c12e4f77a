using DiskImage.FileSystems;

namespace DiskImage.Tests.FileSystems;

/// <summary>One operation of a failure-atomicity sequence: the <see cref="IFileSystem"/> calls it makes, in order.</summary>
public sealed record FailureOp(string Name, Action<IFileSystem, FailureOpContext>[] Steps);
