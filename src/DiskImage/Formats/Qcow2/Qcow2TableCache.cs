namespace DiskImage.Formats.Qcow2;

/// <summary>A bounded least-recently-used cache of metadata tables keyed by host offset. Thread-safe.</summary>
/// <typeparam name="T">The decoded table type.</typeparam>
internal sealed class Qcow2TableCache<T>
    where T : class
{
    private readonly Dictionary<long, LinkedListNode<KeyValuePair<long, T>>> _map = [];
    private readonly LinkedList<KeyValuePair<long, T>> _order = new();
    private readonly int _capacity;
    private readonly Lock _lock = new();

    /// <summary>Creates a cache holding at most <paramref name="capacity"/> tables.</summary>
    public Qcow2TableCache(int capacity) => _capacity = Math.Max(1, capacity);

    /// <summary>Returns the cached table at <paramref name="offset"/>, or <see langword="null"/>.</summary>
    public T? Get(long offset)
    {
        lock (_lock)
        {
            if (_map.TryGetValue(offset, out LinkedListNode<KeyValuePair<long, T>>? node))
            {
                if (node != _order.First)
                {
                    _order.Remove(node);
                    _order.AddFirst(node);
                }

                return node.Value.Value;
            }

            return null;
        }
    }

    /// <summary>Adds or replaces the table at <paramref name="offset"/>, evicting the least recently used one when full.</summary>
    public void Put(long offset, T table)
    {
        lock (_lock)
        {
            if (_map.TryGetValue(offset, out LinkedListNode<KeyValuePair<long, T>>? node))
            {
                _order.Remove(node);
            }
            else if (_map.Count >= _capacity && _order.Last is { } last)
            {
                _order.RemoveLast();
                _map.Remove(last.Value.Key);
            }

            node = new LinkedListNode<KeyValuePair<long, T>>(new(offset, table));
            _order.AddFirst(node);
            _map[offset] = node;
        }
    }

    /// <summary>Drops the table at <paramref name="offset"/>, if cached.</summary>
    public void Remove(long offset)
    {
        lock (_lock)
        {
            if (_map.Remove(offset, out LinkedListNode<KeyValuePair<long, T>>? node))
            {
                _order.Remove(node);
            }
        }
    }

    /// <summary>Drops every table.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _map.Clear();
            _order.Clear();
        }
    }
}
