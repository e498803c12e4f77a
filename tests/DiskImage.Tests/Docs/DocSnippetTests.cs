using System.Diagnostics;
using System.Text;
using DiskImage.Formats;
using DiskImage.Tests.Oracles;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Emit;

namespace DiskImage.Tests.Docs;

/// <summary>
/// Every C# block in README.md and docs/*.md compiles as written in a new console project (.NET 10,
/// implicit usings on: the only prelude) against this build of the library, and the runnable ones
/// run in an empty directory and exit 0.
/// </summary>
public sealed class DocSnippetTests
{
    /// <summary>The usings a <c>dotnet new console</c> project adds implicitly: the stated prelude of every block.</summary>
    private const string ImplicitUsings =
        "global using System;\nglobal using System.Collections.Generic;\nglobal using System.IO;\nglobal using System.Linq;\n" +
        "global using System.Net.Http;\nglobal using System.Threading;\nglobal using System.Threading.Tasks;\n";

    public static TheoryData<string> Snippets()
    {
        var data = new TheoryData<string>();
        foreach (DocSnippet s in DocSnippet.FindAll())
        {
            data.Add(s.ToString());
        }

        return data;
    }

    [Fact]
    public void FindAll_Docs_FindsTheReadmeAndEveryDocsBlock()
    {
        IReadOnlyList<DocSnippet> all = DocSnippet.FindAll();
        Assert.Contains(all, s => s.File == "README.md");
        Assert.True(all.Count >= 6, $"only {all.Count} C# blocks found: {string.Join(", ", all)}");
    }

    [Fact]
    public void Parse_UnknownDirective_Throws()
    {
        string[] page = ["<!-- snippet: sometimes -->", "```csharp", "int x = 1;", "```"];
        Assert.Throws<InvalidDataException>(() => DocSnippet.Parse("page.md", page).ToList());
    }

    [Theory]
    [MemberData(nameof(Snippets))]
    public void Snippet_AsWritten_CompilesAndRuns(string id)
    {
        DocSnippet snippet = DocSnippet.FindAll().Single(s => s.ToString() == id);
        using var dir = new TempDirectory();
        string dll = Path.Combine(dir.Path, "snippet.dll");
        Compile(snippet, dll);
        if (snippet.CompileOnly)
        {
            return;
        }

        string run = Path.Combine(dir.Path, "run");
        Directory.CreateDirectory(run);
        ToolResult r = Oracle.Run(DotnetHost(), ["exec", dll], TimeSpan.FromMinutes(2), run);
        Assert.True(r.ExitCode == 0, $"{snippet} exited {r.ExitCode}\n{r.StandardOutput}{r.StandardError}");
    }

    private static void Compile(DocSnippet snippet, string dll)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        SyntaxTree[] trees =
        [
            CSharpSyntaxTree.ParseText(ImplicitUsings, parse, "ImplicitUsings.cs", Encoding.UTF8),
            CSharpSyntaxTree.ParseText(snippet.Code, parse, snippet.File, Encoding.UTF8),
        ];
        var options = new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable);
        CSharpCompilation compilation = CSharpCompilation.Create("snippet", trees, References(), options);
        EmitResult result = compilation.Emit(dll);
        IEnumerable<Diagnostic> errors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error);
        Assert.True(result.Success, $"{snippet} does not compile as written:\n" +
            string.Join('\n', errors.Select(d => $"  line {d.Location.GetLineSpan().StartLinePosition.Line + 1}: {d.Id} {d.GetMessage()}")));

        string folder = Path.GetDirectoryName(dll)!;
        foreach (string library in LibraryFiles())
        {
            File.Copy(library, Path.Combine(folder, Path.GetFileName(library)));
        }

        string version = Environment.Version.ToString(3);
        File.WriteAllText(Path.Combine(folder, "snippet.runtimeconfig.json"),
            $$"""{ "runtimeOptions": { "tfm": "net10.0", "framework": { "name": "Microsoft.NETCore.App", "version": "{{version}}" } } }""");
    }

    /// <summary>The shared framework's assemblies and the library's.</summary>
    private static List<MetadataReference> References()
    {
        string framework = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        string tpa = (string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!;
        var references = new List<MetadataReference>();
        foreach (string path in tpa.Split(Path.PathSeparator))
        {
            if (path.StartsWith(framework, StringComparison.Ordinal) && path.EndsWith(".dll", StringComparison.Ordinal))
            {
                references.Add(MetadataReference.CreateFromFile(path));
            }
        }

        foreach (string library in LibraryFiles())
        {
            references.Add(MetadataReference.CreateFromFile(library));
        }

        return references;
    }

    /// <summary>DiskImage.dll and the assemblies it references that are not part of the framework.</summary>
    private static List<string> LibraryFiles()
    {
        var files = new List<string>();
        var pending = new Queue<System.Reflection.Assembly>([typeof(DiskImageFile).Assembly]);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (pending.TryDequeue(out System.Reflection.Assembly? assembly))
        {
            string location = assembly.Location;
            if (!seen.Add(location) || !location.StartsWith(AppContext.BaseDirectory, StringComparison.Ordinal))
            {
                continue;
            }

            files.Add(location);
            foreach (System.Reflection.AssemblyName name in assembly.GetReferencedAssemblies())
            {
                pending.Enqueue(System.Reflection.Assembly.Load(name));
            }
        }

        return files;
    }

    /// <summary>The dotnet host running the tests (the SDK sets DOTNET_HOST_PATH), else the one on PATH.</summary>
    private static string DotnetHost()
    {
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (host is not null && File.Exists(host))
        {
            return host;
        }

        string? current = Process.GetCurrentProcess().MainModule?.FileName;
        return current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet" ? current : "dotnet";
    }
}
