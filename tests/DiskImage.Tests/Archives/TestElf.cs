using System.Buffers.Binary;
using System.Text;

namespace DiskImage.Tests.Archives;

/// <summary>
/// Minimal ELF files for loader tests: a header, program headers (one PT_LOAD over the whole file, PT_INTERP,
/// PT_DYNAMIC), the interpreter path, a string table and a dynamic table, in either class and byte order.
/// </summary>
internal static class TestElf
{
    public static byte[] Build(bool is64, bool bigEndian, ushort machine, string? interpreter = null, string[]? needed = null, string? runPath = null, string? rPath = null) =>
        BuildWithLayout(is64, bigEndian, machine, interpreter, needed ?? [], runPath, rPath).Bytes;

    /// <summary>Files the reader must refuse with InvalidDataException.</summary>
    public static IEnumerable<byte[]> Hostile()
    {
        (byte[] b, Layout l) = BuildWithLayout(true, false, 62, "/lib/ld.so", ["liba.so"], null, null);

        byte[] x = (byte[])b.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(x.AsSpan(32), (ulong)x.Length + 8); // e_phoff past the end
        yield return x;

        x = (byte[])b.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(x.AsSpan(32), ulong.MaxValue - 10); // e_phoff overflowing
        yield return x;

        x = (byte[])b.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(x.AsSpan(l.DynamicPhdr + 32), 1UL << 40); // PT_DYNAMIC filesz past the end
        yield return x;

        x = (byte[])b.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(x.AsSpan(l.StrtabEntry + 8), 0x7000_0000); // DT_STRTAB in no segment
        yield return x;

        x = (byte[])b.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(x.AsSpan(l.NeededEntry + 8), 1UL << 20); // DT_NEEDED past DT_STRSZ
        yield return x;

        x = (byte[])b.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(x.AsSpan(l.StrszEntry + 8), 3); // string table cut before the NUL
        yield return x;

        x = (byte[])b.Clone();
        x[4] = 7; // ELF class
        yield return x;

        x = (byte[])b.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(x.AsSpan(54), 8); // e_phentsize too small
        yield return x;

        x = (byte[])b.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(x.AsSpan(54), 0xFFFF); // e_phentsize huge: 4 GiB table refused, not allocated
        BinaryPrimitives.WriteUInt16LittleEndian(x.AsSpan(56), 0xFFFE);
        yield return x;

        x = (byte[])b.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(x.AsSpan(l.InterpPhdr + 32), 0); // empty interpreter
        yield return x;

        yield return b[..40]; // truncated header
    }

    internal readonly record struct Layout(int DynamicPhdr, int InterpPhdr, int NeededEntry, int StrtabEntry, int StrszEntry);

    private static (byte[] Bytes, Layout Layout) BuildWithLayout(bool is64, bool big, ushort machine, string? interpreter, string[] needed, string? runPath, string? rPath)
    {
        int ehsize = is64 ? 64 : 52;
        int phentsize = is64 ? 56 : 32;
        bool dynamic = needed.Length > 0 || runPath is not null || rPath is not null;
        int phnum = 1 + (interpreter is null ? 0 : 1) + (dynamic ? 1 : 0);
        ulong vbase = is64 ? 0x400000UL : 0x08048000UL;

        var strtab = new MemoryStream();
        strtab.WriteByte(0);
        int Add(string s)
        {
            int at = (int)strtab.Length;
            byte[] bytes = Encoding.UTF8.GetBytes(s);
            strtab.Write(bytes);
            strtab.WriteByte(0);
            return at;
        }

        int[] neededOffsets = needed.Select(Add).ToArray();
        int runOffset = runPath is null ? -1 : Add(runPath);
        int rOffset = rPath is null ? -1 : Add(rPath);
        byte[] strings = strtab.ToArray();
        byte[] interp = interpreter is null ? [] : [.. Encoding.UTF8.GetBytes(interpreter), 0];

        int phoff = ehsize;
        int interpOffset = phoff + phnum * phentsize;
        int strOffset = interpOffset + interp.Length;
        int dynOffset = (strOffset + strings.Length + 7) & ~7;
        int dynEntry = is64 ? 16 : 8;
        var tags = new List<(long Tag, ulong Value)>();
        int neededEntry = -1;
        foreach (int n in neededOffsets)
        {
            if (neededEntry < 0)
            {
                neededEntry = dynOffset + tags.Count * dynEntry;
            }

            tags.Add((1, (ulong)n));
        }

        if (runOffset >= 0)
        {
            tags.Add((29, (ulong)runOffset));
        }

        if (rOffset >= 0)
        {
            tags.Add((15, (ulong)rOffset));
        }

        int strtabEntry = dynOffset + tags.Count * dynEntry;
        tags.Add((5, vbase + (ulong)strOffset));
        int strszEntry = dynOffset + tags.Count * dynEntry;
        tags.Add((10, (ulong)strings.Length));
        tags.Add((0, 0));
        int length = dynamic ? dynOffset + tags.Count * dynEntry : dynOffset;
        byte[] b = new byte[length];

        void U16(int at, ushort v) { if (big) { BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(at), v); } else { BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(at), v); } }
        void U32(int at, uint v) { if (big) { BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(at), v); } else { BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), v); } }
        void U64(int at, ulong v) { if (big) { BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(at), v); } else { BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), v); } }
        void Word(int at, ulong v) { if (is64) { U64(at, v); } else { U32(at, (uint)v); } }

        "\u007FELF"u8.CopyTo(b);
        b[4] = (byte)(is64 ? 2 : 1);
        b[5] = (byte)(big ? 2 : 1);
        b[6] = 1;
        U16(16, 3); // ET_DYN
        U16(18, machine);
        U32(20, 1);
        Word(24, 0);
        Word(is64 ? 32 : 28, (ulong)phoff);
        U16(is64 ? 52 : 40, (ushort)ehsize);
        U16(is64 ? 54 : 42, (ushort)phentsize);
        U16(is64 ? 56 : 44, (ushort)phnum);

        int ph = phoff;
        int interpPhdr = -1;
        int dynamicPhdr = -1;
        void Phdr(uint type, int offset, int size)
        {
            U32(ph, type);
            if (is64)
            {
                U64(ph + 8, (ulong)offset);
                U64(ph + 16, vbase + (ulong)offset);
                U64(ph + 24, vbase + (ulong)offset);
                U64(ph + 32, (ulong)size);
                U64(ph + 40, (ulong)size);
            }
            else
            {
                U32(ph + 4, (uint)offset);
                U32(ph + 8, (uint)(vbase + (ulong)offset));
                U32(ph + 12, (uint)(vbase + (ulong)offset));
                U32(ph + 16, (uint)size);
                U32(ph + 20, (uint)size);
            }

            ph += phentsize;
        }

        Phdr(1, 0, length);
        if (interpreter is not null)
        {
            interpPhdr = ph;
            Phdr(3, interpOffset, interp.Length);
        }

        if (dynamic)
        {
            dynamicPhdr = ph;
            Phdr(2, dynOffset, tags.Count * dynEntry);
        }

        interp.CopyTo(b, interpOffset);
        if (dynamic)
        {
            strings.CopyTo(b, strOffset);
            for (int i = 0; i < tags.Count; i++)
            {
                Word(dynOffset + i * dynEntry, (ulong)tags[i].Tag);
                Word(dynOffset + i * dynEntry + (is64 ? 8 : 4), tags[i].Value);
            }
        }

        return (b, new Layout(dynamicPhdr, interpPhdr, neededEntry, strtabEntry, strszEntry));
    }
}
