using DiskImage.IO;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>One pristine image of the hostile-image corpus, opened read-only, and its metadata map.</summary>
internal sealed record XfsCorpusImage(string Kind, BlockDevice Device, XfsMetadataMap Map, bool Writable);
