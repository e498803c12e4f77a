using System.Runtime.InteropServices.Marshalling;
using DiskImage.FileSystems;

namespace DiskImage.Interop;

/// <summary>
/// Marshals a host path to the NUL-terminated bytes a libc call takes, through <see cref="UnixPathEncoding"/>
/// (not plain UTF-8), so a name that is not valid UTF-8 reaches the host as the same bytes it was read as.
/// </summary>
[CustomMarshaller(typeof(string), MarshalMode.ManagedToUnmanagedIn, typeof(ManagedToUnmanagedIn))]
internal static unsafe class UnixPathMarshaller
{
    /// <summary>Encodes into a caller-allocated stack buffer when the path fits, else into a pinned array.</summary>
    public ref struct ManagedToUnmanagedIn
    {
        private byte* _pointer;
        private byte[]? _array;
        private System.Runtime.InteropServices.GCHandle _handle;

        /// <summary>The stack buffer the generated code provides.</summary>
        public static int BufferSize => 512;

        /// <summary>Encodes <paramref name="managed"/> (throws <see cref="ArgumentException"/> when it cannot be encoded).</summary>
        public void FromManaged(string? managed, Span<byte> buffer)
        {
            if (managed is null)
            {
                _pointer = null;
                return;
            }

            int count = UnixPathEncoding.GetByteCount(managed);
            if (managed.AsSpan().IndexOf('\0') >= 0)
            {
                throw new ArgumentException($"The path '{managed}' contains a NUL character.", nameof(managed));
            }

            if (count + 1 <= buffer.Length)
            {
                UnixPathEncoding.TryGetBytes(managed, buffer, out int written);
                buffer[written] = 0;
                _pointer = (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(buffer));
                return;
            }

            _array = new byte[count + 1];
            UnixPathEncoding.TryGetBytes(managed, _array, out _);
            _handle = System.Runtime.InteropServices.GCHandle.Alloc(_array, System.Runtime.InteropServices.GCHandleType.Pinned);
            _pointer = (byte*)_handle.AddrOfPinnedObject();
        }

        /// <summary>The NUL-terminated bytes.</summary>
        public readonly byte* ToUnmanaged() => _pointer;

        /// <summary>Unpins a heap buffer.</summary>
        public void Free()
        {
            if (_handle.IsAllocated)
            {
                _handle.Free();
            }
        }
    }
}
