using System.Text.Json;
using DiskImage.Conversion;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Conversion;

public sealed class ImageConverterTests : IDisposable
{
    private const int Seed = 9001;

    /// <summary>Not a multiple of any cluster size, so the last cluster is partial.</summary>
    private const long SourceLength = (24L << 20) + (3 * 512);

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>
    /// A sparse raw file mixing incompressible data, compressible text, allocated zeros and holes,
    /// with data ending in the partial last cluster.
    /// </summary>
    private string MakeSourceRaw(string name = "source.raw", long length = SourceLength)
    {
        string path = _temp.File(name);
        var rng = new Random(Seed);
        using var device = FileBlockDevice.Create(path, length);
        var buffer = new byte[1 << 20];
        for (long pos = 0; pos + buffer.Length <= length; pos += buffer.Length)
        {
            switch (rng.Next(4))
            {
                case 0:
                    rng.NextBytes(buffer);
                    device.Write(pos, buffer);
                    break;
                case 1:
                    for (int i = 0; i < buffer.Length; i++)
                    {
                        buffer[i] = (byte)"the quick brown fox jumps over the lazy dog "[(i + rng.Next(2)) % 44];
                    }

                    device.Write(pos, buffer);
                    break;
                case 2:
                    Array.Clear(buffer);
                    device.Write(pos, buffer); // allocated zeros
                    break;
                default:
                    break; // hole
            }

            // A few isolated bytes inside otherwise zero regions.
            device.Write(pos + rng.Next(buffer.Length), [(byte)rng.Next(1, 256)]);
        }

        device.Write(length - 700, Enumerable.Repeat((byte)0x77, 700).ToArray());
        return path;
    }

    private static void AssertQemuIdentical(string raw, string image, string format)
    {
        ToolResult r = Oracle.Run("qemu-img", "compare", "-f", "raw", "-F", format, raw, image);
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    private static JsonElement QemuCheck(string image)
    {
        ToolResult r = Oracle.Run("qemu-img", "check", "--output=json", "-f", "qcow2", image);
        Assert.True(r.ExitCode == 0, $"qemu-img check found problems: {r}");
        using var doc = JsonDocument.Parse(r.StandardOutput);
        return doc.RootElement.Clone();
    }

    private static long Get(JsonElement e, string name) => e.TryGetProperty(name, out JsonElement v) ? v.GetInt64() : 0;

    private static void Convert(string source, string target, ConvertOptions options, IProgress<ConvertProgress>? progress = null)
    {
        using DiskImageFile image = DiskImageFile.Open(source);
        ImageConverter.Convert(image.Content, target, options, progress);
    }

    [SkippableFact]
    public void Convert_RawToRaw_IdenticalAndSparse()
    {
        Oracle.Require("qemu-img");
        string source = MakeSourceRaw();
        string target = _temp.File("out.raw");
        Convert(source, target, new ConvertOptions { TargetFormat = DiskImageFormat.Raw });
        AssertQemuIdentical(source, target, "raw");
        using var s = FileBlockDevice.Open(source);
        using var t = FileBlockDevice.Open(target);
        Assert.Equal(s.Length, t.Length);
        Assert.True(t.AllocatedSize < s.AllocatedSize, $"target {t.AllocatedSize} bytes allocated, source {s.AllocatedSize}");
    }

    [SkippableFact]
    public void Convert_SparseSizeZero_FullyAllocatesRawTarget()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "Allocation is visible on Linux only.");
        Oracle.Require("qemu-img");
        string source = MakeSourceRaw();
        string target = _temp.File("full.raw");
        Convert(source, target, new ConvertOptions { TargetFormat = DiskImageFormat.Raw, SparseSize = 0 });
        AssertQemuIdentical(source, target, "raw");
        using var t = FileBlockDevice.Open(target);
        Assert.True(t.AllocatedSize >= SourceLength, $"allocated {t.AllocatedSize}");
        Assert.DoesNotContain(t.EnumerateAllocation(), e => e.Kind != AllocationKind.Data);
    }

    [SkippableFact]
    public void Convert_SparseSizeLarge_KeepsSmallerZeroRunsAllocated()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "Allocation is visible on Linux only.");
        string source = _temp.File("small-zero-runs.raw");
        using (var s = FileBlockDevice.Create(source, 4 << 20))
        {
            byte[] data = Enumerable.Repeat((byte)1, 4 << 20).ToArray();
            data.AsSpan(1 << 20, 64 << 10).Clear(); // a 64 KiB zero run
            data.AsSpan(2 << 20, 1 << 20).Clear(); // a 1 MiB zero run
            s.Write(0, data);
        }

        string target = _temp.File("s256k.raw");
        Convert(source, target, new ConvertOptions { TargetFormat = DiskImageFormat.Raw, SparseSize = 256 << 10 });
        using var t = FileBlockDevice.Open(target);
        AllocationExtent[] holes = t.EnumerateAllocation().Where(e => e.Kind != AllocationKind.Data).ToArray();
        Assert.Equal([new AllocationExtent(2 << 20, 1 << 20, AllocationKind.Zero, 2 << 20)], holes);
    }

    public static TheoryData<int, int, bool> Qcow2Layouts => new()
    {
        { 65536, 3, false },
        { 512, 3, false },
        { 2 * 1024 * 1024, 3, false },
        { 4096, 2, false },
        { 65536, 3, true },
    };

    [SkippableTheory]
    [MemberData(nameof(Qcow2Layouts))]
    public void Convert_RawToQcow2_PassesQemuCheckAndCompare(int clusterSize, int version, bool extendedL2)
    {
        Oracle.Require("qemu-img");
        string source = MakeSourceRaw();
        string target = _temp.File("out.qcow2");
        Convert(source, target, new ConvertOptions
        {
            TargetFormat = DiskImageFormat.Qcow2,
            Qcow2 = new Qcow2CreateOptions { ClusterSize = clusterSize, Version = version, ExtendedL2 = extendedL2 },
        });
        JsonElement check = QemuCheck(target);
        Assert.Equal(0, Get(check, "corruptions") + Get(check, "leaks") + Get(check, "check-errors"));
        AssertQemuIdentical(source, target, "qcow2");

        // Sparseness: the same clusters are allocated as when qemu-img converts the same file.
        string reference = _temp.File("qemu.qcow2");
        Oracle.RunOk("qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o",
            $"cluster_size={clusterSize},compat={(version == 2 ? "0.10" : "1.1")},extended_l2={(extendedL2 ? "on" : "off")}", source, reference);
        Assert.Equal(Get(QemuCheck(reference), "allocated-clusters"), Get(check, "allocated-clusters"));
    }

    [SkippableTheory]
    [InlineData(DiskImageFormat.Raw, false)]
    [InlineData(DiskImageFormat.Qcow2, false)]
    [InlineData(DiskImageFormat.Qcow2, true)]
    public void Convert_OverlayOnBackingChain_FlattensLikeQemuImg(DiskImageFormat targetFormat, bool compress)
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string raw = MakeSourceRaw("base.raw");
        string middle = _temp.File("middle.qcow2");
        string top = _temp.File("top.qcow2");
        Oracle.RunOk("qemu-img", "create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", middle);
        Oracle.RunOk("qemu-io", "-f", "qcow2", "-c", "write -P 0x33 1M 3M", "-c", "write -z 8M 2M", middle);
        Oracle.RunOk("qemu-img", "create", "-f", "qcow2", "-b", "middle.qcow2", "-F", "qcow2", top);
        Oracle.RunOk("qemu-io", "-f", "qcow2", "-c", "write -P 0x44 2M 64k", "-c", "write -z 12M 4M", "-c", "write -P 0x55 20M 1k", top);

        string expected = _temp.File("expected.raw");
        Oracle.RunOk("qemu-img", "convert", "-f", "qcow2", "-O", "raw", top, expected);
        string target = _temp.File("flat.out");
        using (DiskImageFile image = DiskImageFile.Open(top, new DiskImageOpenOptions { BackingFiles = BackingFilePolicy.Allow }))
        {
            ImageConverter.Convert(image.Content, target, new ConvertOptions { TargetFormat = targetFormat, Compress = compress });
        }

        if (targetFormat == DiskImageFormat.Qcow2)
        {
            QemuCheck(target);
            ToolResult info = Oracle.RunOk("qemu-img", "info", target);
            Assert.DoesNotContain("backing file", info.StandardOutput, StringComparison.Ordinal);
        }

        AssertQemuIdentical(expected, target, targetFormat == DiskImageFormat.Raw ? "raw" : "qcow2");
    }

    [SkippableFact]
    public void Convert_RandomizedSourcesAndOptions_PassQemuCheckAndCompare()
    {
        Oracle.Require("qemu-img");
        var rng = new Random(Seed);
        int[] clusterSizes = [512, 4096, 65536, 1 << 20];
        int[] sparseSizes = [0, 512, 4096, 65536];
        for (int i = 0; i < 16; i++)
        {
            long length = (rng.Next(1, 6 << 20) + 511) / 512 * 512;
            string source = _temp.File($"r{i}.raw");
            byte[] data = BlockCopierTests.MakeContent((int)length, Seed + i, zeroRunMax: rng.Next(1000, 400_000));
            using (var d = FileBlockDevice.Create(source, length))
            {
                for (int pos = 0; pos < data.Length; pos += 4096)
                {
                    ReadOnlySpan<byte> block = data.AsSpan(pos, Math.Min(4096, data.Length - pos));
                    if (block.ContainsAnyExcept((byte)0) || rng.Next(4) == 0)
                    {
                        d.Write(pos, block);
                    }
                }
            }

            bool qcow2 = rng.Next(4) != 0;
            var options = new ConvertOptions
            {
                TargetFormat = qcow2 ? DiskImageFormat.Qcow2 : DiskImageFormat.Raw,
                Compress = qcow2 && rng.Next(2) == 0,
                SparseSize = sparseSizes[rng.Next(sparseSizes.Length)],
                MaxDegreeOfParallelism = rng.Next(1, 5),
                Qcow2 = new Qcow2CreateOptions
                {
                    ClusterSize = clusterSizes[rng.Next(clusterSizes.Length)],
                    CompressionType = rng.Next(2) == 0 ? Qcow2CompressionType.Deflate : Qcow2CompressionType.Zstd,
                },
            };
            string target = _temp.File($"r{i}.out");
            string context = $"case {i} (seed {Seed}): length {length}, {options.TargetFormat}, compress {options.Compress}, -S {options.SparseSize}, workers {options.MaxDegreeOfParallelism}, cluster {options.Qcow2.ClusterSize}";
            Convert(source, target, options);
            if (qcow2)
            {
                ToolResult check = Oracle.Run("qemu-img", "check", "-f", "qcow2", target);
                Assert.True(check.ExitCode == 0, $"{context}: {check}");
            }

            ToolResult compare = Oracle.Run("qemu-img", "compare", "-f", "raw", "-F", qcow2 ? "qcow2" : "raw", source, target);
            Assert.True(compare.ExitCode == 0, $"{context}: {compare}");
        }
    }

    [SkippableTheory]
    [InlineData(0)]
    [InlineData(512)]
    [InlineData(65536)]
    public void Convert_SparseSizeToQcow2_AllocatesLikeQemuImg(int sparseSize)
    {
        Oracle.Require("qemu-img");
        string source = MakeSourceRaw();
        string target = _temp.File("s.qcow2");
        Convert(source, target, new ConvertOptions { SparseSize = sparseSize });
        JsonElement check = QemuCheck(target);
        AssertQemuIdentical(source, target, "qcow2");
        string reference = _temp.File("qemu-s.qcow2");
        Oracle.RunOk("qemu-img", "convert", "-S", sparseSize.ToString(System.Globalization.CultureInfo.InvariantCulture), "-f", "raw", "-O", "qcow2", source, reference);
        Assert.Equal(Get(QemuCheck(reference), "allocated-clusters"), Get(check, "allocated-clusters"));
    }

    [SkippableTheory]
    [InlineData(Qcow2CompressionType.Deflate, 65536, 2)]
    [InlineData(Qcow2CompressionType.Zstd, 65536, 2)]
    [InlineData(Qcow2CompressionType.Deflate, 4096, 1)]
    [InlineData(Qcow2CompressionType.Zstd, 2 * 1024 * 1024, 2)]
    public void Convert_RawToQcow2Compressed_PassesQemuCheckAndCompare(Qcow2CompressionType type, int clusterSize, int workers)
    {
        Oracle.Require("qemu-img");
        string source = MakeSourceRaw();
        string target = _temp.File("out.qcow2");
        Convert(source, target, new ConvertOptions
        {
            TargetFormat = DiskImageFormat.Qcow2,
            Compress = true,
            MaxDegreeOfParallelism = workers,
            Qcow2 = new Qcow2CreateOptions { ClusterSize = clusterSize, CompressionType = type },
        });
        JsonElement check = QemuCheck(target);
        Assert.Equal(0, Get(check, "corruptions") + Get(check, "leaks") + Get(check, "check-errors"));
        Assert.True(Get(check, "compressed-clusters") > 0, $"no compressed clusters: {check}");
        AssertQemuIdentical(source, target, "qcow2");

        ToolResult info = Oracle.RunOk("qemu-img", "info", "--output=json", target);
        string expected = type == Qcow2CompressionType.Zstd ? "zstd" : "zlib";
        Assert.Contains($"\"compression-type\": \"{expected}\"", info.StandardOutput, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData(Qcow2CompressionType.Deflate, 1, 9)]
    [InlineData(Qcow2CompressionType.Zstd, 1, 19)]
    public void Convert_CompressionLevels_HigherLevelNotLargerAndBothPassQemu(Qcow2CompressionType type, int low, int high)
    {
        Oracle.Require("qemu-img");
        string source = MakeSourceRaw();
        string fast = _temp.File("fast.qcow2");
        string small = _temp.File("small.qcow2");
        var create = new Qcow2CreateOptions { CompressionType = type };
        Convert(source, fast, new ConvertOptions { Compress = true, CompressionLevel = low, Qcow2 = create });
        Convert(source, small, new ConvertOptions { Compress = true, CompressionLevel = high, Qcow2 = create });
        foreach (string target in new[] { fast, small })
        {
            JsonElement check = QemuCheck(target);
            Assert.Equal(0, Get(check, "corruptions") + Get(check, "leaks") + Get(check, "check-errors"));
            AssertQemuIdentical(source, target, "qcow2");
        }

        Assert.True(new FileInfo(small).Length <= new FileInfo(fast).Length, $"level {high} output larger than level {low}");
    }

    [Theory]
    [InlineData(Qcow2CompressionType.Deflate, 10)]
    [InlineData(Qcow2CompressionType.Deflate, -1)]
    [InlineData(Qcow2CompressionType.Zstd, 23)]
    public void Convert_CompressionLevelOutOfRange_Throws(Qcow2CompressionType type, int level)
    {
        using var source = new MemoryBlockDevice(1 << 20);
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageConverter.Convert(source, _temp.File("bad.qcow2"), new ConvertOptions
        {
            Compress = true,
            CompressionLevel = level,
            Qcow2 = new Qcow2CreateOptions { CompressionType = type },
        }));
    }

    [SkippableFact]
    public void Convert_CompressedWithDifferentWorkerCountsAndFlush_SameFile()
    {
        Oracle.Require("qemu-img");
        string source = MakeSourceRaw();
        string one = _temp.File("one.qcow2");
        string four = _temp.File("four.qcow2");
        Convert(source, one, new ConvertOptions { Compress = true, MaxDegreeOfParallelism = 1 });
        Convert(source, four, new ConvertOptions { Compress = true, MaxDegreeOfParallelism = 4, FlushToDisk = true });
        Assert.True(File.ReadAllBytes(one).AsSpan().SequenceEqual(File.ReadAllBytes(four)), "output depends on the thread count");
    }

    [SkippableTheory]
    [InlineData("zlib")]
    [InlineData("zstd")]
    [InlineData(null)]
    public void Convert_Qcow2ToRaw_IdenticalToQemuImg(string? compression)
    {
        Oracle.Require("qemu-img");
        string raw = MakeSourceRaw();
        string qcow2 = _temp.File("made-by-qemu.qcow2");
        List<string> args = ["convert", "-f", "raw", "-O", "qcow2"];
        if (compression is not null)
        {
            args.AddRange(["-c", "-o", $"compression_type={compression}"]);
        }

        args.AddRange([raw, qcow2]);
        Oracle.RunOk("qemu-img", [.. args]);
        string target = _temp.File("back.raw");
        Convert(qcow2, target, new ConvertOptions { TargetFormat = DiskImageFormat.Raw });
        AssertQemuIdentical(raw, target, "raw");
        AssertQemuIdentical(target, qcow2, "qcow2");
    }

    [SkippableFact]
    public void Convert_Progress_MonotonicTo100Percent()
    {
        string source = MakeSourceRaw();
        var reports = new List<ConvertProgress>();
        Convert(source, _temp.File("p.raw"), new ConvertOptions { TargetFormat = DiskImageFormat.Raw }, new BlockCopierTests.SyncProgress(reports.Add));
        Assert.True(reports.Count > 2);
        for (int i = 1; i < reports.Count; i++)
        {
            Assert.True(reports[i].Processed >= reports[i - 1].Processed);
            Assert.Equal(SourceLength, reports[i].Total);
        }

        Assert.Equal(100, reports[^1].Percent);
    }

    [SkippableTheory]
    [InlineData(DiskImageFormat.Raw, false)]
    [InlineData(DiskImageFormat.Qcow2, false)]
    [InlineData(DiskImageFormat.Qcow2, true)]
    public async Task ConvertAsync_Cancelled_ThrowsAndRemovesTarget(DiskImageFormat format, bool compress)
    {
        string source = MakeSourceRaw();
        string target = _temp.File("cancelled.qcow2");
        using var cts = new CancellationTokenSource();
        var progress = new BlockCopierTests.SyncProgress(p =>
        {
            if (p.Processed > SourceLength / 3)
            {
                cts.Cancel();
            }
        });
        using DiskImageFile image = DiskImageFile.Open(source);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            ImageConverter.ConvertAsync(image.Content, target, new ConvertOptions { TargetFormat = format, Compress = compress, Qcow2 = new Qcow2CreateOptions { ClusterSize = 4096 } }, progress, cts.Token));
        Assert.False(File.Exists(target));

        // The source is still usable afterwards.
        Assert.Equal(SourceLength, image.Content.Length);
        image.Content.ReadExactly(0, new byte[4096]);
    }

    [SkippableFact]
    public void Convert_OntoItsOwnQcow2Source_RefusedAndSourceKept()
    {
        // A target is never an input (issue 8): even though the new image would be renamed over the
        // old one, converting an image onto itself is refused as qemu-img refuses it.
        Oracle.Require("qemu-img");
        string raw = MakeSourceRaw();
        string image = _temp.File("self.qcow2");
        Oracle.RunOk("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", raw, image);
        byte[] before = File.ReadAllBytes(image);
        using (DiskImageFile source = DiskImageFile.Open(image))
        {
            Assert.Throws<ArgumentException>(() => ImageConverter.Convert(source.Content, image, new ConvertOptions { TargetFormat = DiskImageFormat.Qcow2 }));
        }

        Assert.Equal(before, File.ReadAllBytes(image));
        QemuCheck(image);
        AssertQemuIdentical(raw, image, "qcow2");
        Assert.Empty(Directory.GetFiles(_temp.Path, "*.tmp"));
    }

    [Fact]
    public void Convert_SourceFailsMidway_LeavesExistingTargetUntouchedAndNoTemporaryFile()
    {
        string target = _temp.File("existing.raw");
        File.WriteAllBytes(target, [1, 2, 3, 4]);
        using var source = new FailingReadDevice(8 << 20, failAt: 5 << 20);
        Assert.Throws<IOException>(() => ImageConverter.Convert(source, target, new ConvertOptions { TargetFormat = DiskImageFormat.Raw }));
        Assert.Equal([1, 2, 3, 4], File.ReadAllBytes(target));
        Assert.Equal([target], Directory.GetFiles(_temp.Path));
    }

    [SkippableFact]
    public void Convert_TargetIsSymbolicLink_WritesThroughLink()
    {
        Skip.If(OperatingSystem.IsWindows(), "Symbolic links need privileges on Windows.");
        string real = _temp.File("real.raw");
        File.WriteAllBytes(real, [9]);
        string link = _temp.File("link.raw");
        File.CreateSymbolicLink(link, real);
        using var source = new MemoryBlockDevice(Enumerable.Repeat((byte)5, 10_000).ToArray());
        ImageConverter.Convert(source, link, new ConvertOptions { TargetFormat = DiskImageFormat.Raw, Overwrite = true });
        Assert.NotNull(new FileInfo(link).LinkTarget);
        Assert.Equal(Enumerable.Repeat((byte)5, 10_000).ToArray(), File.ReadAllBytes(real));
    }

    /// <summary>Reads zeros until <c>failAt</c>, then fails like a broken disk.</summary>
    private sealed class FailingReadDevice(long length, long failAt) : BlockDevice
    {
        public override long Length => length;

        public override bool CanWrite => false;

        protected override void ReadCore(long offset, Span<byte> buffer)
        {
            if (offset + buffer.Length > failAt)
            {
                throw new IOException("Simulated read error.");
            }

            buffer.Fill(1);
        }

        protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) => throw new NotSupportedException();

        protected override void FlushCore()
        {
        }
    }

    [Fact]
    public void Convert_InvalidOptions_Throw()
    {
        using var source = new MemoryBlockDevice(4096);
        string target = _temp.File("x.raw");
        Assert.Throws<NotSupportedException>(() => ImageConverter.Convert(source, target, new ConvertOptions { TargetFormat = DiskImageFormat.Raw, Compress = true }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageConverter.Convert(source, target, new ConvertOptions { TargetFormat = DiskImageFormat.Raw, SparseSize = -1 }));
        Assert.Throws<NotSupportedException>(() => ImageConverter.Convert(source, target, new ConvertOptions { Qcow2 = new Qcow2CreateOptions { BackingFile = "base.raw", BackingFormat = DiskImageFormat.Raw } }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageConverter.Convert(source, target, new ConvertOptions { TargetFormat = DiskImageFormat.Raw, MaxDegreeOfParallelism = 0 }));
        Assert.False(File.Exists(target));
    }

    [Fact]
    public void Convert_TargetIsSource_Throws()
    {
        string path = _temp.File("self.raw");
        File.WriteAllBytes(path, [1, 2, 3]);
        using var source = FileBlockDevice.Open(path);
        Assert.Throws<ArgumentException>(() => ImageConverter.Convert(source, path, new ConvertOptions { TargetFormat = DiskImageFormat.Raw }));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
    }

    [Fact]
    public void Convert_EmptySource_CreatesEmptyRaw()
    {
        using var source = new MemoryBlockDevice(0);
        string target = _temp.File("empty.raw");
        ImageConverter.Convert(source, target, new ConvertOptions { TargetFormat = DiskImageFormat.Raw });
        Assert.Equal(0, new FileInfo(target).Length);
    }
}
