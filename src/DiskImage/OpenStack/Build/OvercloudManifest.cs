using System.Text.Json;

namespace DiskImage.OpenStack.Build;

/// <summary>
/// The build manifest (<c>overcloud-build.json</c> in the output directory): for every file written, its image,
/// format, size, SHA-256 and the recipe and input hashes it was built from. A file is current when it exists with
/// that size and SHA-256 and its entry's hashes equal the present ones. Written atomically after each file.
/// </summary>
internal sealed class OvercloudManifest
{
    public const string FileName = "overcloud-build.json";
    private readonly SortedDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public sealed record Entry(string Name, string Image, string Format, long Size, string Sha256, string RecipeHash, string InputHash);

    public IReadOnlyCollection<Entry> Entries => _entries.Values;

    /// <summary>Reads the manifest of <paramref name="directory"/>; a missing or unreadable one is empty (everything is rebuilt).</summary>
    public static OvercloudManifest Load(string directory)
    {
        var m = new OvercloudManifest();
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            return m;
        }

        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
            if (doc.RootElement.TryGetProperty("files", out JsonElement files) && files.ValueKind == JsonValueKind.Array)
            {
                foreach (JsonElement f in files.EnumerateArray())
                {
                    var e = new Entry(
                        f.GetProperty("name").GetString()!,
                        f.GetProperty("image").GetString()!,
                        f.GetProperty("format").GetString()!,
                        f.GetProperty("size").GetInt64(),
                        f.GetProperty("sha256").GetString()!,
                        f.GetProperty("recipe-hash").GetString()!,
                        f.GetProperty("input-hash").GetString()!);
                    m._entries[e.Name] = e;
                }
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            m._entries.Clear();
        }

        return m;
    }

    public Entry? Find(string name) => _entries.GetValueOrDefault(name);

    public void Set(Entry entry) => _entries[entry.Name] = entry;

    /// <summary>Writes the manifest into <paramref name="directory"/> under a temporary name, then renames it into place.</summary>
    public void Save(string directory)
    {
        using var file = new AtomicOutputFile(directory, FileName);
        using (FileStream s = file.Create())
        using (var w = new Utf8JsonWriter(s, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("version", 1);
            w.WriteStartArray("files");
            foreach (Entry e in _entries.Values)
            {
                w.WriteStartObject();
                w.WriteString("name", e.Name);
                w.WriteString("image", e.Image);
                w.WriteString("format", e.Format);
                w.WriteNumber("size", e.Size);
                w.WriteString("sha256", e.Sha256);
                w.WriteString("recipe-hash", e.RecipeHash);
                w.WriteString("input-hash", e.InputHash);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
            w.Flush();
            s.WriteByte((byte)'\n');
        }

        file.Commit();
    }
}
