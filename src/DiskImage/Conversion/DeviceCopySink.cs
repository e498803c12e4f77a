using DiskImage.IO;

namespace DiskImage.Conversion;

/// <summary>Writes the non-zero runs of each unit to a device; zero ranges are skipped or zeroed.</summary>
internal sealed class DeviceCopySink(BlockDevice target, bool targetIsZero, int blockSize) : CopySink
{
    public override int BlockSize => blockSize;

    public override void Process(CopySlot slot) => FindDataRuns(slot);

    public override void Commit(CopySlot slot)
    {
        long cursor = 0;
        for (int i = 0; i < slot.RunCount; i++)
        {
            int start = slot.Runs[2 * i];
            int length = slot.Runs[(2 * i) + 1];
            if (!targetIsZero && start > cursor)
            {
                target.WriteZeroes(slot.Offset + cursor, start - cursor);
            }

            target.Write(slot.Offset + start, slot.Buffer.AsSpan(start, length));
            cursor = start + length;
        }

        if (!targetIsZero && cursor < slot.Length)
        {
            target.WriteZeroes(slot.Offset + cursor, slot.Length - cursor);
        }
    }

    public override void CommitZero(long offset, long length)
    {
        if (!targetIsZero)
        {
            target.WriteZeroes(offset, length);
        }
    }
}
