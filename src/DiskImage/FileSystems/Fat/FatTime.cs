namespace DiskImage.FileSystems.Fat;

/// <summary>
/// FAT dates and times (fatgen103 §6.1): a date of year − 1980, month and day, a time of hours, minutes and
/// seconds / 2, plus hundredths for the creation time. They carry no time zone; like Linux mounted with the
/// default options on a UTC system, they are read and written as UTC.
/// </summary>
internal static class FatTime
{
    /// <summary>The earliest time FAT can hold, 1980-01-01T00:00:00Z.</summary>
    public static readonly DateTime Earliest = new(1980, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>The latest time FAT can hold, 2107-12-31T23:59:59Z (odd seconds only in the creation time).</summary>
    public static readonly DateTime Latest = new(2107, 12, 31, 23, 59, 59, DateTimeKind.Utc);

    /// <summary>
    /// Converts a date, time and hundredths to Unix time. Out-of-range fields are added arithmetically (day 31
    /// of February is 3 March), as Linux does, so no on-disk value is rejected.
    /// </summary>
    public static UnixTime ToUnix(ushort date, ushort time, int hundredths)
    {
        int year = 1980 + (date >> 9);
        int month = Math.Clamp((date >> 5) & 0xF, 1, 12);
        int day = Math.Max(date & 0x1F, 1);
        DateTime d = new DateTime(year, month, 1, 0, 0, 0, DateTimeKind.Utc).AddDays(day - 1);
        long seconds = ((time >> 11) * 3600L) + (((time >> 5) & 0x3F) * 60L) + ((time & 0x1F) * 2L);
        hundredths = Math.Clamp(hundredths, 0, 199);
        seconds += hundredths / 100;
        long unix = (long)(d - DateTime.UnixEpoch).TotalSeconds + seconds;
        return new UnixTime(unix, hundredths % 100 * 10_000_000);
    }

    /// <summary>Converts a Unix time (clamped to 1980–2107) to a date, a time and hundredths (0–199).</summary>
    public static (ushort Date, ushort Time, byte Hundredths) FromUnix(UnixTime t)
    {
        DateTime d;
        if (t.Seconds < (long)(Earliest - DateTime.UnixEpoch).TotalSeconds)
        {
            d = Earliest;
            t = new UnixTime((long)(Earliest - DateTime.UnixEpoch).TotalSeconds, 0);
        }
        else if (t.Seconds > (long)(Latest - DateTime.UnixEpoch).TotalSeconds)
        {
            d = Latest;
            t = new UnixTime((long)(Latest - DateTime.UnixEpoch).TotalSeconds, 990_000_000);
        }
        else
        {
            d = DateTime.UnixEpoch.AddSeconds(t.Seconds);
        }

        ushort date = (ushort)(((d.Year - 1980) << 9) | (d.Month << 5) | d.Day);
        ushort time = (ushort)((d.Hour << 11) | (d.Minute << 5) | (d.Second / 2));
        byte hundredths = (byte)(((d.Second & 1) * 100) + (t.Nanoseconds / 10_000_000));
        return (date, time, hundredths);
    }
}
