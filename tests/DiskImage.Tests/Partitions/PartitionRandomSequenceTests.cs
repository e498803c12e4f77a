using DiskImage.IO;
using DiskImage.Partitions;
using DiskImage.Partitions.Gpt;
using DiskImage.Partitions.Mbr;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Partitions;

/// <summary>
/// Seeded random sequences of create/add/delete/resize: after every few steps the table must pass
/// <c>sfdisk --verify</c> (and <c>sgdisk -v</c> for GPT), list in <c>sfdisk --json</c> exactly as we list
/// it, and read back as we left it. The seed is printed on failure.
/// </summary>
public sealed class PartitionRandomSequenceTests
{
    public static TheoryData<string, int> Runs()
    {
        var data = new TheoryData<string, int>();
        for (int seed = 1; seed <= 5; seed++)
        {
            data.Add("gpt", seed);
            data.Add("mbr", seed);
        }

        data.Add("gpt4k", 1);
        data.Add("gpt4k", 2);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Runs))]
    public void RandomOperations_TablePassesSfdiskAndSgdisk_ListsIdentically(string kind, int seed)
    {
        Oracle.Require("sfdisk");
        Oracle.Require("sgdisk");
        using var tmp = new TempDirectory();
        var random = new Random(seed * 7919 + kind.Length);
        long size = (64L + random.Next(0, 64)) << 20;
        string img = PartitionOracle.NewImage(tmp, "disk.img", size);
        var log = new List<string> { $"{kind} seed {seed}, disk {size} bytes" };
        using (FileBlockDevice disk = FileBlockDevice.Open(img, writable: true))
        {
            PartitionTable table = kind == "mbr"
                ? MbrPartitionTable.Create(disk, new MbrCreateOptions { DiskSignature = (uint)random.Next(1, int.MaxValue) })
                : GptPartitionTable.Create(disk, new GptCreateOptions { SectorSize = kind == "gpt4k" ? 4096 : 512, DiskGuid = new Guid(random.GetItems<byte>(Enumerable.Range(0, 256).Select(i => (byte)i).ToArray(), 16)) });
            for (int step = 0; step < 14; step++)
            {
                string done = Step(table, random);
                log.Add(done);
                if (step is 6 or 13 && kind != "gpt4k")
                {
                    disk.Flush();
                    Check(img, kind, log);
                }
            }

            List<string> expected = table.Partitions.Select(Describe).ToList();
            using FileBlockDevice again = FileBlockDevice.Open(img);
            Assert.Equal(expected, PartitionTable.Open(again).Partitions.Select(Describe).ToList());
        }

        if (kind == "gpt4k")
        {
            using SectorLoopDevice loop = SectorLoopDevice.Attach(img, "-b", "4096");
            string context = string.Join("\n", log);
            PartitionOracle.AssertSgdiskVerifies(loop.Path, context, allowUnalignedEnd: true);
            PartitionOracle.AssertSfdiskVerifies(loop.Path, context);
            PartitionOracle.AssertSameListing(PartitionOracle.SfdiskJson(loop.Path), PartitionOracle.OurJson(img), ignoreDeviceNames: true, context);
        }
    }

    private static void Check(string img, string kind, List<string> log)
    {
        string context = string.Join("\n", log);
        PartitionOracle.AssertSfdiskVerifies(img, context);
        if (kind != "mbr")
        {
            PartitionOracle.AssertSgdiskVerifies(img, context, allowUnalignedEnd: true);
        }

        PartitionOracle.AssertSameListing(PartitionOracle.SfdiskJson(img), PartitionOracle.OurJson(img), context: context);
    }

    private static string Describe(Partition p) => p switch
    {
        GptPartition g => $"{g.Number} {g.FirstSector}+{g.SectorCount} {g.TypeName} {g.UniqueGuid} '{g.Name}' {g.Attributes}",
        MbrPartition m => $"{m.Number} {m.FirstSector}+{m.SectorCount} {m.TypeName} {m.Bootable}",
        _ => p.ToString(),
    };

    private static string Step(PartitionTable table, Random random)
    {
        string[] gptTypes = ["linux", "esp", "bios", "lvm", "swap", "raid", "home", "xbootldr"];
        string[] mbrTypes = ["83", "82", "8e", "c", "ef", "fd", "7"];
        int op = random.Next(10);
        IReadOnlyList<Partition> parts = table.Partitions;
        try
        {
            if (op < 5 || parts.Count == 0)
            {
                long? size = random.Next(6) == 0 ? null : (long)random.Next(1, 9) * (1 << 20) + (random.Next(3) == 0 ? random.Next(1, 64) * 4096L : 0);
                bool mbr = table is MbrPartitionTable;
                bool hasExtended = parts.Any(p => p is MbrPartition { IsExtended: true });
                bool extended = mbr && !hasExtended && random.Next(3) == 0;
                bool logical = mbr && hasExtended && random.Next(2) == 0;
                var options = new PartitionAddOptions
                {
                    Size = extended ? 24L << 20 : size,
                    Type = extended ? "extended" : mbr ? random.GetItems(mbrTypes, 1)[0] : random.GetItems(gptTypes, 1)[0],
                    Name = mbr ? null : $"part-{random.Next(1000)}-ü",
                    Bootable = random.Next(4) == 0,
                    Logical = logical,
                    UniqueGuid = mbr ? null : new Guid(random.GetItems<byte>(Enumerable.Range(0, 256).Select(i => (byte)i).ToArray(), 16)),
                    Attributes = mbr || random.Next(3) != 0 ? GptPartitionAttributes.None : GptPartitionAttributes.RequiredPartition | GptPartitionAttributes.NoAutoMount,
                };
                Partition p = table.Add(options);
                return $"add {options.Type} size {options.Size} logical {logical} → {p}";
            }

            Partition target = parts[random.Next(parts.Count)];
            if (op < 7)
            {
                if (target is MbrPartition { IsExtended: true } && parts.Any(p => p is MbrPartition { IsLogical: true }))
                {
                    return $"skip delete of extended {target.Number}";
                }

                table.Delete(target.Number);
                return $"delete {target.Number}";
            }

            long? newSize = random.Next(2) == 0 ? null : target.Length + (random.Next(0, 4) * (1L << 20));
            Partition resized = table.Resize(target.Number, newSize);
            return $"resize {target.Number} to {newSize?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "max"} → {resized}";
        }
        catch (InvalidOperationException e)
        {
            return $"refused ({op}): {e.Message}";
        }
    }
}
