using System.Text;

namespace DiskImage.Tests.Docs;

/// <summary>
/// One <c>```csharp</c> block of README.md or docs/*.md, with the directive of the HTML comment that
/// stands on the line before its fence (<c>&lt;!-- snippet: compile-only (why) --&gt;</c>), if any.
/// </summary>
/// <remarks>
/// The rule the docs follow: every C# block compiles as written as a top-level program, its usings
/// included, and runs in an empty directory with exit code 0; a block that needs input the reader
/// has (a root file system image, a tree) says so with <c>compile-only</c> and is only compiled.
/// </remarks>
public sealed record DocSnippet(string File, int Line, string Code, bool CompileOnly)
{
    private const string Directive = "<!-- snippet:";

    /// <summary>The name the test shows: file and line of the fence.</summary>
    public override string ToString() => $"{File}:{Line}";

    /// <summary>Every C# block of the README and the docs folder, in file order.</summary>
    public static IReadOnlyList<DocSnippet> FindAll()
    {
        string root = RepositoryRoot();
        var files = new List<string> { Path.Combine(root, "README.md") };
        files.AddRange(Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Order(StringComparer.Ordinal));
        var snippets = new List<DocSnippet>();
        foreach (string file in files)
        {
            snippets.AddRange(Parse(Path.GetRelativePath(root, file), System.IO.File.ReadAllLines(file)));
        }

        return snippets;
    }

    /// <summary>Splits a Markdown page into its C# blocks.</summary>
    public static IEnumerable<DocSnippet> Parse(string name, string[] lines)
    {
        for (int i = 0; i < lines.Length; i++)
        {
            string fence = lines[i].TrimStart();
            if (!fence.StartsWith("```csharp", StringComparison.Ordinal) && !fence.StartsWith("```cs", StringComparison.Ordinal))
            {
                continue;
            }

            string before = i > 0 ? lines[i - 1].Trim() : string.Empty;
            bool compileOnly = false;
            if (before.StartsWith(Directive, StringComparison.Ordinal))
            {
                string directive = before[Directive.Length..].TrimStart();
                compileOnly = directive.StartsWith("compile-only", StringComparison.Ordinal)
                    ? true
                    : throw new InvalidDataException($"{name}:{i}: unknown snippet directive '{before}'.");
            }

            var code = new StringBuilder();
            int start = i + 1;
            for (i++; i < lines.Length && !lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal); i++)
            {
                code.AppendLine(lines[i]);
            }

            yield return new DocSnippet(name, start, code.ToString(), compileOnly);
        }
    }

    /// <summary>The folder holding DiskImage.sln, found upwards from the test assembly.</summary>
    public static string RepositoryRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "DiskImage.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("DiskImage.sln not found above " + AppContext.BaseDirectory);
    }
}
