using System.Text;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;
using DiskImage.Tests.Oracles;
using Xunit.Abstractions;
using F = DiskImage.Tests.Formats.Qcow2.Surgeon.Field;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>
/// Hand-crafted hostile qcow2 images, one per attack class (qemu iotests 080/060/261 themes and the
/// CVE classes of the qcow2 reference): each must be refused with InvalidDataException or
/// NotSupportedException (or read/written/checked safely), never with another exception, a hang, an
/// allocation out of proportion to the file, or a write that lands on metadata. Base images come from
/// qemu-img (<see cref="CheckImages"/>) and are damaged with the <see cref="Surgeon"/>.
/// </summary>
public sealed class MalformedInputTests(MalformedImagesFixture images, ITestOutputHelper output) : IClassFixture<MalformedImagesFixture>
{
    private const ulong Copied = 1UL << 63;
    private const ulong Compressed = 1UL << 62;

    private Surgeon Edit(string recipe = "data") => Surgeon.FromBytes(images.Get(recipe));

    private void AssertSurvives(string name, byte[] image, MalformedCaseRunner.Options? options = null)
    {
        string? failure = MalformedCaseRunner.Run(name, image, options);
        output.WriteLine($"{name}: {image.Length:N0}-byte file, {MalformedCaseRunner.LastAllocatedBytes:N0} bytes allocated");
        if (failure is not null)
        {
            output.WriteLine(failure);
        }

        Assert.True(failure is null, failure);
    }

    private static Qcow2Image Open(byte[] image, DiskImageOpenOptions? options = null) =>
        Qcow2Image.Open(new MemoryBlockDevice((byte[])image.Clone(), writable: options?.Writable ?? false), options);

    /// <summary>Asserts that opening throws <typeparamref name="T"/> (or a subclass) and that the whole case survives.</summary>
    private void AssertOpenThrows<T>(string name, byte[] image, DiskImageOpenOptions? options = null)
        where T : Exception
    {
        T ex = Assert.ThrowsAny<T>(() => Open(image, options).Dispose());
        output.WriteLine($"{name}: {ex.GetType().Name}: {ex.Message}");
        AssertSurvives(name, image, new MalformedCaseRunner.Options { OpenOptions = options });
    }

    /// <summary>Asserts that opening is refused with one of the two allowed exception types.</summary>
    private void AssertOpenRejected(string name, byte[] image, DiskImageOpenOptions? options = null)
    {
        Exception? ex = Record.Exception(() => Open(image, options).Dispose());
        Assert.True(ex is InvalidDataException or NotSupportedException, $"{name}: expected InvalidDataException or NotSupportedException, got {ex?.ToString() ?? "no exception"}");
        output.WriteLine($"{name}: {ex!.GetType().Name}: {ex.Message}");
        AssertSurvives(name, image, new MalformedCaseRunner.Options { OpenOptions = options });
    }

    // ---- CVE-2014-0144: missing validation of header-driven sizes and offsets ----

    [SkippableTheory]
    [InlineData(0x00400001u)]
    [InlineData(0x10000000u)]
    [InlineData(0xffffffffu)]
    public void Open_HugeL1Size_CVE_2014_0144_Throws(uint l1Size)
    {
        Surgeon s = Edit();
        s.SetU32(F.L1Size, l1Size);
        AssertOpenThrows<InvalidDataException>($"l1_size=0x{l1Size:x}", s.Data);
    }

    [SkippableFact]
    public void Open_L1TableOffsetMisaligned_CVE_2014_0144_Throws()
    {
        Surgeon s = Edit();
        s.SetU64(F.L1TableOffset, s.L1TableOffset + 512);
        AssertOpenThrows<InvalidDataException>("l1 offset misaligned", s.Data);
    }

    [SkippableFact]
    public void Open_L1TablePastEndOfFile_CVE_2014_0144_Throws()
    {
        Surgeon s = Edit();
        s.SetU64(F.L1TableOffset, 1UL << 50);
        AssertOpenThrows<InvalidDataException>("l1 offset past eof", s.Data);
    }

    [SkippableTheory]
    [InlineData(0x101u)]
    [InlineData(0x1000000u)]
    [InlineData(0xffffffffu)]
    public void Open_HugeRefcountTable_CVE_2014_0144_Throws(uint clusters)
    {
        Surgeon s = Edit();
        s.SetU32(F.RefcountTableClusters, clusters);
        AssertOpenThrows<InvalidDataException>($"refcount_table_clusters=0x{clusters:x}", s.Data);
    }

    [SkippableFact]
    public void Open_RefcountTableOffsetMisaligned_CVE_2014_0144_Throws()
    {
        Surgeon s = Edit();
        s.SetU64(F.RefcountTableOffset, s.RefcountTableOffset + 8);
        AssertOpenThrows<InvalidDataException>("reftable misaligned", s.Data);
    }

    [SkippableFact]
    public void Open_TooManySnapshots_CVE_2014_0144_Throws()
    {
        Surgeon s = Edit("snapshots");
        s.SetU32(F.NbSnapshots, 65537);
        AssertOpenThrows<InvalidDataException>("nb_snapshots=65537", s.Data);
    }

    [SkippableFact]
    public void Open_SnapshotTablePastEndOfFile_CVE_2014_0144_Throws()
    {
        Surgeon s = Edit("snapshots");
        s.SetU32(F.NbSnapshots, 65536);
        AssertOpenThrows<InvalidDataException>("nb_snapshots=65536 past eof", s.Data);
    }

    [SkippableFact]
    public void Open_SnapshotTableOver64MiB_CVE_2014_0144_Throws()
    {
        // 1024 entries of 65592 bytes (name_size 65535) exceed QEMU's 64 MiB snapshot table limit.
        Surgeon s = Edit("data");
        int cluster = s.ClusterSize;
        long tableOffset = (s.Data.Length + cluster - 1) / cluster * cluster;
        const int EntryLength = 40 + 16 + 1 + 65535;
        const int Count = 1024;
        s.SetLength((int)(tableOffset + ((long)EntryLength * Count)));
        for (int i = 0; i < Count; i++)
        {
            long at = tableOffset + ((long)i * EntryLength);
            s.SetU64(at, s.L1TableOffset);
            s.SetU32(at + 8, s.L1Size);
            s.SetU16(at + 12, 1);
            s.SetU16(at + 14, 65535);
            s.SetU32(at + 36, 16);
            s.SetU64(at + 48, s.VirtualSize);
            s.SetU8(at + 56, (byte)'1');
        }

        s.SetU32(F.NbSnapshots, Count);
        s.SetU64(F.SnapshotsOffset, (ulong)tableOffset);
        Exception? ex = Record.Exception(() => Open(s.Data).Dispose());
        Assert.True(ex is InvalidDataException, $"expected InvalidDataException, got {ex}");
        using var host = new MemoryBlockDevice(s.Data, writable: false);
        Qcow2CheckResult check = Qcow2Image.Check(host);
        Assert.Equal(1, check.ExitCode);
    }

    [SkippableFact]
    public void Open_SnapshotExtraDataTooLarge_CVE_2014_0144_Throws()
    {
        Surgeon s = Edit("snapshots");
        s.SetU32(s.SnapshotField(0, 36), 1025);
        AssertOpenThrows<InvalidDataException>("snapshot extra_data_size=1025", s.Data);
    }

    [SkippableTheory]
    [InlineData("misaligned")]
    [InlineData("past-eof")]
    [InlineData("huge-size")]
    public void Open_SnapshotL1Invalid_CVE_2014_0144_RejectsOrReportsSafely(string kind)
    {
        Surgeon s = Edit("snapshots");
        switch (kind)
        {
            case "misaligned": s.SetU64(s.SnapshotField(0, 0), s.Snapshots()[0].L1TableOffset + 512); break;
            case "past-eof": s.SetU64(s.SnapshotField(0, 0), 1UL << 45); break;
            default: s.SetU32(s.SnapshotField(0, 8), 0x10000000); break;
        }

        AssertSurvives("snapshot l1 " + kind, s.Data);
    }

    [SkippableTheory]
    [InlineData(0xfffffff8u)]
    [InlineData(0x00100000u)]
    [InlineData(100u)]
    public void Open_BadHeaderLength_CVE_2014_0144_Rejected(uint headerLength)
    {
        Surgeon s = Edit();
        s.SetU32(F.HeaderLength, headerLength);
        AssertOpenRejected($"header_length={headerLength}", s.Data);
    }

    [SkippableFact]
    public void Open_HugeExtensionLength_CVE_2014_0144_Throws()
    {
        Surgeon s = Edit();
        s.AddExtension(0x12345678, [1, 2, 3, 4], declaredLength: 0x7ffffff0);
        AssertOpenThrows<InvalidDataException>("extension length 0x7ffffff0", s.Data);
    }

    [SkippableFact]
    public void Open_ExtensionPastCluster0_CVE_2014_0144_Throws()
    {
        Surgeon s = Edit();
        s.AddExtension(0x12345678, [1, 2, 3, 4], declaredLength: s.ClusterSize);
        AssertOpenThrows<InvalidDataException>("extension past cluster 0", s.Data);
    }

    [SkippableFact]
    public void Open_BackingFileOffsetPastCluster0_CVE_2014_0144_Throws()
    {
        Surgeon s = Edit();
        s.SetU64(F.BackingFileOffset, (ulong)s.ClusterSize + 8);
        s.SetU32(F.BackingFileSize, 4);
        AssertOpenRejected("backing offset past cluster 0", s.Data, new DiskImageOpenOptions { BackingFiles = BackingFilePolicy.Allow });
    }

    [SkippableTheory]
    [InlineData(1024u)]
    [InlineData(0xffffffffu)]
    public void Open_BackingFileNameTooLong_CVE_2014_0144_Throws(uint size)
    {
        Surgeon s = Edit();
        s.SetBackingFile("base.qcow2", "qcow2");
        s.SetU32(F.BackingFileSize, size);
        AssertOpenRejected($"backing name size {size}", s.Data, new DiskImageOpenOptions { BackingFiles = BackingFilePolicy.Allow });
    }

    // ---- CVE-2014-0143: integer overflows ----

    [SkippableTheory]
    [InlineData(F.L1TableOffset)]
    [InlineData(F.RefcountTableOffset)]
    [InlineData(F.SnapshotsOffset)]
    public void Open_OffsetNearTopOfRange_CVE_2014_0143_Rejected(int field)
    {
        Surgeon s = Edit("snapshots");
        s.SetU64(field, 0xfffffffffffe0000UL);
        AssertOpenRejected($"field {field} = 0xfffffffffffe0000", s.Data);
    }

    [SkippableTheory]
    [InlineData(1UL << 62)]
    [InlineData(ulong.MaxValue - 511)]
    [InlineData((1UL << 55) + 512)]
    public void Open_HugeVirtualSize_CVE_2014_0143_Rejected(ulong size)
    {
        Surgeon s = Edit();
        s.SetU64(F.Size, size);
        AssertOpenRejected($"size={size}", s.Data);
    }

    [SkippableFact]
    public void Read_L2EntryWithHugeHostOffset_CVE_2014_0143_ThrowsInvalidData()
    {
        Surgeon s = Edit();
        s.SetL2Entry(0, 0, 0x00fffffffffffe00UL | Copied);
        using Qcow2Image img = Open(s.Data);
        Assert.ThrowsAny<InvalidDataException>(() => img.Content.Read(0, new byte[4096]));
        AssertSurvives("l2 huge host offset", s.Data);
    }

    [SkippableFact]
    public void Read_CompressedDescriptorAtTopOfRange_CVE_2014_0143_ThrowsInvalidData()
    {
        Surgeon s = Edit();
        int shift = 62 - (s.ClusterBits - 8);
        ulong offsetMask = (1UL << shift) - 1;
        s.SetL2Entry(0, 0, Compressed | offsetMask | (0xffUL << shift));
        using Qcow2Image img = Open(s.Data);
        Assert.ThrowsAny<InvalidDataException>(() => img.Content.Read(0, new byte[4096]));
        AssertSurvives("compressed at top of range", s.Data);
    }

    // ---- CVE-2014-0146/0147: error paths and allocator logic on damaged refcounts ----

    [SkippableTheory]
    [InlineData(200)]
    [InlineData(113)]
    public void Open_TruncatedInsideHeaderExtensions_CVE_2014_0146_Rejected(int length)
    {
        Surgeon s = Edit();
        AssertOpenRejected($"truncated at {length}", s.Data.AsSpan(0, length).ToArray());
    }

    [SkippableFact]
    public void Open_TruncatedSnapshotTable_CVE_2014_0146_Rejected()
    {
        Surgeon s = Edit("snapshots");
        AssertOpenRejected("snapshot table cut", s.Data.AsSpan(0, (int)s.SnapshotsOffset + 20).ToArray());
    }

    [SkippableTheory]
    [InlineData("refblock-on-l1")]
    [InlineData("refblock-on-header")]
    [InlineData("refblock-misaligned")]
    [InlineData("refblock-past-eof")]
    [InlineData("reftable-zeroed")]
    [InlineData("refblock-zeroed")]
    [InlineData("refblock-all-ones")]
    public void Write_DamagedRefcounts_CVE_2014_0147_NeverClobbersMetadata(string kind)
    {
        Surgeon s = Edit();
        long l1 = (long)s.L1TableOffset;
        long refblock = (long)(s.RefTableEntry(0) & ~511UL);
        switch (kind)
        {
            case "refblock-on-l1": s.SetRefTableEntry(0, (ulong)l1); break;
            case "refblock-on-header": s.SetRefTableEntry(0, 0x200); break;
            case "refblock-misaligned": s.SetRefTableEntry(0, (ulong)refblock + 512); break;
            case "refblock-past-eof": s.SetRefTableEntry(0, 1UL << 40); break;
            case "reftable-zeroed": s.SetRefTableEntry(0, 0); break;
            case "refblock-zeroed": Array.Clear(s.Data, (int)refblock, s.ClusterSize); break;
            default: Array.Fill(s.Data, (byte)0xff, (int)refblock, s.ClusterSize); break;
        }

        byte[] header = s.Data.AsSpan(0, 72).ToArray();
        AssertSurvives("refcounts " + kind, s.Data, new MalformedCaseRunner.Options
        {
            VerifyAfterWrite = after =>
                !after.AsSpan(0, 72).SequenceEqual(header) ? "the header's first 72 bytes changed" :
                HasWritePattern(after, l1, s.ClusterSize) ? "guest data was written over the L1 table" :
                HasWritePattern(after, 0, s.ClusterSize) ? "guest data was written over the header" : null,
        });
    }

    /// <summary>Whether the runner's 0xa5 write pattern (16 bytes or more) landed in [start, start+length).</summary>
    private static bool HasWritePattern(byte[] bytes, long start, int length)
    {
        int run = 0;
        int end = (int)Math.Min(bytes.Length, start + length);
        for (int i = (int)start; i < end; i++)
        {
            run = bytes[i] == 0xa5 ? run + 1 : 0;
            if (run >= 16)
            {
                return true;
            }
        }

        return false;
    }

    [SkippableFact]
    public void Check_EveryL1EntryMapsTheSameL2Table_FinishesWithinBudget()
    {
        // 262144 L1 entries all naming one 2 MiB L2 table: walking each would visit 2^36 entries.
        Surgeon s = Edit("cluster2M");
        ulong l2 = s.L1Entry(0);
        int entries = s.ClusterSize / 8;
        for (int i = 0; i < entries; i++)
        {
            s.SetL1Entry(i, l2);
        }

        s.SetU32(F.L1Size, (uint)entries);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Qcow2CheckResult r;
        using (var host = new MemoryBlockDevice(s.Data, writable: false))
        {
            r = Qcow2Image.Check(host);
        }

        watch.Stop();
        output.WriteLine($"{watch.ElapsedMilliseconds} ms: {QemuCheck.Describe(r)}");
        Assert.True(r.ExitCode is 1 or 2, QemuCheck.Describe(r));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"check took {watch.Elapsed}");
        AssertSurvives("l1 all same l2", s.Data);
    }

    // ---- Overlapping metadata (iotest 060) ----

    [SkippableTheory]
    [InlineData("data-on-l1")]
    [InlineData("data-on-reftable")]
    [InlineData("data-on-refblock")]
    [InlineData("l2-on-reftable")]
    [InlineData("l2-on-header")]
    [InlineData("l2-on-l1")]
    [InlineData("data-on-snapshot-table")]
    public void Write_OverlappingMetadata_NeverClobbersMetadata(string kind)
    {
        Surgeon s = Edit("snapshots");
        long l1 = (long)s.L1TableOffset;
        long reftable = (long)s.RefcountTableOffset;
        long refblock = (long)(s.RefTableEntry(0) & ~511UL);
        long snapshots = (long)s.SnapshotsOffset;
        long target = kind switch
        {
            "data-on-l1" or "l2-on-l1" => l1,
            "data-on-reftable" or "l2-on-reftable" => reftable,
            "data-on-refblock" => refblock,
            "data-on-snapshot-table" => snapshots,
            _ => 0,
        };
        if (kind.StartsWith("data", StringComparison.Ordinal))
        {
            s.SetL2Entry(0, 0, (ulong)target | Copied);
        }
        else
        {
            // "l2-on-header" leaves only the COPIED flag: an entry whose offset is the header cluster.
            s.SetL1Entry(0, (ulong)target | Copied);
        }

        AssertSurvives("overlap " + kind, s.Data, new MalformedCaseRunner.Options
        {
            VerifyAfterWrite = after =>
                HasWritePattern(after, target, s.ClusterSize) ? $"guest data was written over metadata at 0x{target:x}" : null,
        });
    }

    // ---- Crafted compressed descriptors ----

    [SkippableTheory]
    [InlineData("sectors-past-eof")]
    [InlineData("offset-in-header")]
    [InlineData("copied-flag")]
    [InlineData("garbage-data")]
    public void Read_CraftedCompressedDescriptor_ThrowsOnlyInvalidData(string kind)
    {
        Surgeon s = Edit("compressed");
        int shift = 62 - (s.ClusterBits - 8);
        ulong entry = kind switch
        {
            "sectors-past-eof" => Compressed | ((ulong)s.Data.Length - 100) | (0xffUL << shift),
            "offset-in-header" => Compressed | 0x10UL | (3UL << shift),
            "copied-flag" => s.L2Entry(0, 0) | Copied,
            _ => Compressed | (s.L1TableOffset + 8) | (1UL << shift),
        };
        s.SetL2Entry(0, 0, entry);
        AssertSurvives("compressed " + kind, s.Data);
        Exception? ex = Record.Exception(() =>
        {
            using Qcow2Image img = Open(s.Data);
            img.Content.Read(0, new byte[65536]);
        });
        Assert.True(ex is null or InvalidDataException, $"compressed {kind}: {ex}");
    }

    // ---- Extended L2 (subclusters) ----

    [SkippableTheory]
    [InlineData("alloc-and-zero")]
    [InlineData("alloc-without-offset")]
    [InlineData("compressed-with-bitmap")]
    public void Read_InvalidSubclusterBitmap_ThrowsOnlyInvalidData(string kind)
    {
        Surgeon s = Edit("extended-l2");
        (int l1, int l2) = s.GuestIndex(0);
        switch (kind)
        {
            case "alloc-and-zero": s.SetL2Bitmap(l1, l2, 0x0000000100000001UL); break;
            case "alloc-without-offset": s.SetL2Entry(l1, l2, 0); s.SetL2Bitmap(l1, l2, 1); break;
            default: s.SetL2Entry(l1, l2, Compressed | 0x30000UL); s.SetL2Bitmap(l1, l2, 1); break;
        }

        Exception? ex = Record.Exception(() =>
        {
            using Qcow2Image img = Open(s.Data);
            img.Content.Read(0, new byte[4096]);
        });
        Assert.True(ex is InvalidDataException, $"subcluster {kind}: expected InvalidDataException, got {ex?.ToString() ?? "none"}");
        AssertSurvives("subcluster " + kind, s.Data);
    }

    // ---- Other header validation (iotest 080) ----

    [SkippableTheory]
    [InlineData(0u)]
    [InlineData(8u)]
    [InlineData(22u)]
    [InlineData(64u)]
    [InlineData(0xffffffffu)]
    public void Open_ClusterBitsOutOfRange_Rejected(uint bits)
    {
        Surgeon s = Edit();
        s.SetU32(F.ClusterBits, bits);
        AssertOpenRejected($"cluster_bits={bits}", s.Data);
    }

    [SkippableFact]
    public void Open_RefcountOrderAbove6_Rejected()
    {
        Surgeon s = Edit();
        s.SetU32(F.RefcountOrder, 7);
        AssertOpenRejected("refcount_order=7", s.Data);
    }

    [SkippableFact]
    public void Open_HeaderLengthNotMultipleOf8_ThrowsOnlyInvalidDataOrNotSupported()
    {
        // qemu-img 7.2 refuses this image ("Header extension too large"); either outcome is safe here.
        Surgeon s = Edit();
        s.SetU32(F.HeaderLength, 108);
        AssertSurvives("header_length=108", s.Data);
    }

    [SkippableFact]
    public void Open_VirtualSizeNotMultipleOf512_ThrowsOnlyInvalidDataOrNotSupported()
    {
        // qemu-img 7.2 opens it and rounds the size down to a multiple of 512; refusing is also safe.
        Surgeon s = Edit();
        s.SetU64(F.Size, s.VirtualSize - 1);
        AssertSurvives("size not a multiple of 512", s.Data);
    }

    [SkippableFact]
    public void Open_L1TooSmallForVirtualSize_Rejected()
    {
        Surgeon s = Edit();
        s.SetU64(F.Size, 1UL << 40);
        AssertOpenRejected("l1 too small", s.Data);
    }

    [SkippableTheory]
    [InlineData(1)]
    [InlineData(0)]
    [InlineData(3)]
    public void Open_UnsupportedVersionOrMagic_Rejected(int kind)
    {
        Surgeon s = Edit();
        if (kind == 0)
        {
            s.SetU32(F.Magic, 0x514649fa);
        }
        else
        {
            s.SetU32(F.Version, kind == 1 ? 1u : 4u);
        }

        AssertOpenRejected($"version/magic {kind}", s.Data);
    }

    [SkippableFact]
    public void Open_UnknownIncompatibleFeature_ThrowsNotSupported()
    {
        Surgeon s = Edit();
        s.SetFeatureBit(F.IncompatibleFeatures, 20, true);
        AssertOpenThrows<NotSupportedException>("incompatible bit 20", s.Data);
    }

    [SkippableFact]
    public void Open_CorruptBitWritable_Rejected()
    {
        Surgeon s = Edit();
        s.SetFeatureBit(F.IncompatibleFeatures, 1, true);
        AssertOpenRejected("corrupt bit, writable", s.Data, new DiskImageOpenOptions { Writable = true });
        using Qcow2Image readOnly = Open(s.Data);
        Assert.Equal(s.VirtualSize, (ulong)readOnly.Content.Length);
    }

    [SkippableTheory]
    [InlineData("l1-reserved")]
    [InlineData("l2-reserved")]
    [InlineData("l2-misaligned")]
    [InlineData("l2-past-eof")]
    [InlineData("l2-far-past-eof")]
    [InlineData("l1-past-eof")]
    [InlineData("l1-misaligned")]
    public void ReadWrite_BadTableEntries_ThrowsOnlyInvalidData(string kind)
    {
        Surgeon s = Edit();
        switch (kind)
        {
            case "l1-reserved": s.SetL1Entry(0, s.L1Entry(0) | 0x0100000000000000UL); break;
            case "l2-reserved": s.SetL2Entry(0, 0, s.L2Entry(0, 0) | 0x0100000000000000UL); break;
            case "l2-misaligned": s.SetL2Entry(0, 0, s.L2Entry(0, 0) + 512); break;
            case "l2-past-eof": s.SetL2Entry(0, 0, ((ulong)s.Data.Length + (ulong)s.ClusterSize) / (ulong)s.ClusterSize * (ulong)s.ClusterSize | Copied); break;
            case "l2-far-past-eof": s.SetL2Entry(0, 0, (1UL << 30) | Copied); break;   // a write in place would grow the host to 1 GiB
            case "l1-past-eof": s.SetL1Entry(0, (1UL << 40) | Copied); break;
            default: s.SetL1Entry(0, s.L1Entry(0) + 512); break;
        }

        AssertSurvives("table entry " + kind, s.Data);
    }

    [SkippableTheory]
    [InlineData("feature-table-huge")]
    [InlineData("bitmaps-bad-directory")]
    [InlineData("bitmaps-without-extension")]
    [InlineData("duplicate-backing-format")]
    public void Open_OddExtensions_ThrowsOnlyInvalidDataOrNotSupported(string kind)
    {
        Surgeon s = Edit();
        switch (kind)
        {
            case "feature-table-huge":
                s.AddExtension(0x6803f857, new byte[48 * 20]);
                break;
            case "bitmaps-bad-directory":
            {
                byte[] ext = new byte[24];
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(ext, 65535);
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(ext.AsSpan(8), 0xffffffffUL);
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(ext.AsSpan(16), 1UL << 40);
                s.AddExtension(0x23852875, ext);
                s.SetFeatureBit(F.AutoclearFeatures, 0, true);
                break;
            }

            case "bitmaps-without-extension":
                s.SetFeatureBit(F.AutoclearFeatures, 0, true);
                break;
            default:
                s.AddExtension(0xe2792aca, Encoding.ASCII.GetBytes("qcow2"));
                s.AddExtension(0xe2792aca, Encoding.ASCII.GetBytes("raw"));
                break;
        }

        AssertSurvives("extension " + kind, s.Data);
    }

    // ---- External references: backing files, data files, probing ----

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Open_BackingFileDeniedByDefault_CVE_2015_5163_ThrowsNotSupported(bool writable)
    {
        Surgeon s = Edit();
        s.SetBackingFile("/etc/passwd", "raw");
        AssertOpenThrows<NotSupportedException>("backing /etc/passwd", s.Data, new DiskImageOpenOptions { Writable = writable });
    }

    [SkippableFact]
    public void Open_ExternalDataFileDeniedByDefault_CVE_2024_32498_ThrowsNotSupported()
    {
        Surgeon s = Edit();
        s.AddExtension(0x44415441, Encoding.ASCII.GetBytes("/etc/passwd"));
        s.SetFeatureBit(F.IncompatibleFeatures, 2, true);
        AssertOpenThrows<NotSupportedException>("data file /etc/passwd", s.Data);
        AssertOpenThrows<NotSupportedException>("data file /etc/passwd, backing allowed", s.Data, new DiskImageOpenOptions { BackingFiles = BackingFilePolicy.Allow });
    }

    [SkippableFact]
    public void Open_RawDiskCarryingQcow2Header_CVE_2008_2004_NeverFollowsBacking()
    {
        // A guest wrote a qcow2 header naming a host file into its raw disk.
        Surgeon s = Edit();
        s.SetBackingFile("/etc/passwd", "raw");
        string path = images.Directory.File($"probe-{Guid.NewGuid():N}.img");
        File.WriteAllBytes(path, s.Data);

        Exception? detected = Record.Exception(() => DiskImageFile.Open(path).Dispose());
        Assert.True(detected is NotSupportedException, $"detection must not follow the backing file by default: {detected?.ToString() ?? "opened"}");

        using DiskImageFile raw = DiskImageFile.Open(path, new DiskImageOpenOptions { Format = DiskImageFormat.Raw });
        Assert.Equal(DiskImageFormat.Raw, raw.Format);
        Assert.Equal(s.Data.Length, raw.Content.Length);
        byte[] head = new byte[512];
        raw.Content.ReadExactly(0, head);
        Assert.Equal(s.Data.AsSpan(0, 512).ToArray(), head);
    }

    [SkippableTheory]
    [InlineData("self")]
    [InlineData("two-cycle")]
    [InlineData("three-cycle")]
    public void Open_BackingChainCycle_AllowPolicy_Rejected(string kind)
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string a = dir.File("a.qcow2");
        string b = dir.File("b.qcow2");
        string c = dir.File("c.qcow2");
        void Make(string path, string backing) =>
            Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", Path.GetFileName(backing), "-F", "qcow2", path, "1M");
        switch (kind)
        {
            case "self": Make(a, a); break;
            case "two-cycle": Make(a, b); Make(b, a); break;
            default: Make(a, b); Make(b, c); Make(c, a); break;
        }

        var options = new DiskImageOpenOptions { BackingFiles = BackingFilePolicy.Allow };
        Exception? ex = Record.Exception(() => Qcow2Image.Open(a, options).Dispose());
        Assert.True(ex is InvalidDataException or NotSupportedException, $"cycle {kind}: {ex?.ToString() ?? "opened"}");
        output.WriteLine($"{kind}: {ex!.GetType().Name}: {ex.Message}");
        AssertSurvives("cycle " + kind, File.ReadAllBytes(a), new MalformedCaseRunner.Options { OpenOptions = options, FilePath = a });
    }

    [SkippableFact]
    public void Open_BackingChainDeeperThanLimit_Rejected()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string previous = dir.File("l0.qcow2");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", previous, "1M");
        for (int i = 1; i <= 6; i++)
        {
            string next = dir.File($"l{i}.qcow2");
            Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", Path.GetFileName(previous), "-F", "qcow2", next, "1M");
            previous = next;
        }

        var options = new DiskImageOpenOptions { BackingFiles = BackingFilePolicy.Allow, MaxBackingChainDepth = 3 };
        Exception? ex = Record.Exception(() => Qcow2Image.Open(previous, options).Dispose());
        Assert.True(ex is InvalidDataException or NotSupportedException, $"depth: {ex?.ToString() ?? "opened"}");
        using Qcow2Image ok = Qcow2Image.Open(previous, new DiskImageOpenOptions { BackingFiles = BackingFilePolicy.Allow, MaxBackingChainDepth = 6 });
        Assert.Equal(1 << 20, ok.Content.Length);
    }

    [SkippableFact]
    public void Open_BackingFileMissing_AllowPolicy_Rejected()
    {
        Surgeon s = Edit();
        s.SetBackingFile("does-not-exist.qcow2", "qcow2");
        string path = images.Directory.File($"missing-backing-{Guid.NewGuid():N}.qcow2");
        File.WriteAllBytes(path, s.Data);
        var options = new DiskImageOpenOptions { BackingFiles = BackingFilePolicy.Allow };
        Exception? ex = Record.Exception(() => Qcow2Image.Open(path, options).Dispose());
        Assert.True(ex is InvalidDataException or NotSupportedException or FileNotFoundException, $"missing backing: {ex?.ToString() ?? "opened"}");
    }
}
