namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>One metadata structure of an XFS image: where it is, how long its CRC covers, and where the CRC is.</summary>
internal readonly record struct XfsStructure(string Kind, long Offset, int Length, int CrcOffset, bool InUse);
