using System.Diagnostics.CodeAnalysis;

namespace DiskImage;

/// <summary>
/// Builds and throws the exceptions for malformed image data (<see cref="InvalidDataException"/>,
/// naming the structure and where it was found) and for valid but unsupported features
/// (<see cref="NotSupportedException"/>). Keeps the throwing out of hot methods.
/// </summary>
internal static class FormatError
{
    /// <summary>Creates an <see cref="InvalidDataException"/> for <paramref name="structure"/> at a host offset (-1 when unknown).</summary>
    public static InvalidDataException Create(string structure, long offset, string message) =>
        new(offset >= 0 ? $"{structure} at offset {offset}: {message}" : $"{structure}: {message}");

    /// <summary>Throws an <see cref="InvalidDataException"/> for <paramref name="structure"/> at a host offset (-1 when unknown).</summary>
    [DoesNotReturn]
    public static void Throw(string structure, long offset, string message) => throw Create(structure, offset, message);

    /// <summary>Throws an <see cref="InvalidDataException"/> from an expression position.</summary>
    [DoesNotReturn]
    public static T Throw<T>(string structure, long offset, string message) => throw Create(structure, offset, message);

    /// <summary>Throws <see cref="NotSupportedException"/> naming the unsupported feature.</summary>
    [DoesNotReturn]
    public static void Unsupported(string message) => throw new NotSupportedException(message);
}
