namespace DiskImage.FileSystems;

/// <summary>
/// A Unix timestamp with nanosecond precision: seconds since 1970-01-01T00:00:00Z (may be negative)
/// plus nanoseconds 0–999,999,999. <see cref="DateTimeOffset"/> keeps only 100 ns ticks, so file
/// systems report times as this type.
/// </summary>
public readonly record struct UnixTime : IComparable<UnixTime>
{
    /// <summary>Creates a timestamp.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="nanoseconds"/> is not in 0–999,999,999.</exception>
    public UnixTime(long seconds, int nanoseconds)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(nanoseconds);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(nanoseconds, 999_999_999);
        Seconds = seconds;
        Nanoseconds = nanoseconds;
    }

    /// <summary>Whole seconds since the Unix epoch.</summary>
    public long Seconds { get; }

    /// <summary>Nanoseconds within the second (0–999,999,999).</summary>
    public int Nanoseconds { get; }

    /// <summary>The current time.</summary>
    public static UnixTime Now => FromDateTimeOffset(DateTimeOffset.UtcNow);

    /// <summary>Converts a <see cref="DateTimeOffset"/> (100 ns precision).</summary>
    public static UnixTime FromDateTimeOffset(DateTimeOffset value)
    {
        long ticks = value.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        long seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long rem);
        if (rem < 0)
        {
            seconds--;
            rem += TimeSpan.TicksPerSecond;
        }

        return new UnixTime(seconds, (int)(rem * 100));
    }

    /// <summary>Converts to a <see cref="DateTimeOffset"/>, truncating to 100 ns.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The time is outside the range of <see cref="DateTimeOffset"/>.</exception>
    public DateTimeOffset ToDateTimeOffset() =>
        DateTimeOffset.UnixEpoch.AddTicks(checked((Seconds * TimeSpan.TicksPerSecond) + (Nanoseconds / 100)));

    /// <inheritdoc />
    public int CompareTo(UnixTime other)
    {
        int c = Seconds.CompareTo(other.Seconds);
        return c != 0 ? c : Nanoseconds.CompareTo(other.Nanoseconds);
    }

    /// <summary>Compares two timestamps.</summary>
    public static bool operator <(UnixTime left, UnixTime right) => left.CompareTo(right) < 0;

    /// <summary>Compares two timestamps.</summary>
    public static bool operator >(UnixTime left, UnixTime right) => left.CompareTo(right) > 0;

    /// <summary>Compares two timestamps.</summary>
    public static bool operator <=(UnixTime left, UnixTime right) => left.CompareTo(right) <= 0;

    /// <summary>Compares two timestamps.</summary>
    public static bool operator >=(UnixTime left, UnixTime right) => left.CompareTo(right) >= 0;

    /// <summary>Formats as <c>seconds.nanoseconds</c>.</summary>
    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Seconds}.{Nanoseconds:D9}");
}
