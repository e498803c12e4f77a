using System.Reflection;
using System.Runtime.CompilerServices;
using DiskImage.Formats;

namespace DiskImage.Tests.Api;

/// <summary>Every public options type is immutable after construction (<c>init</c> only) and has a static <c>Default</c>.</summary>
public sealed class OptionsContractTests
{
    public static TheoryData<string> OptionsTypes()
    {
        var data = new TheoryData<string>();
        foreach (Type t in PublicOptionsTypes())
        {
            data.Add(t.FullName!);
        }

        return data;
    }

    private static IEnumerable<Type> PublicOptionsTypes() =>
        typeof(DiskImageFile).Assembly.GetExportedTypes()
            .Where(t => t.IsClass && t.Name.EndsWith("Options", StringComparison.Ordinal))
            .OrderBy(t => t.FullName, StringComparer.Ordinal);

    [Fact]
    public void TheAssembly_HasTheKnownOptionsTypes()
    {
        string[] names = PublicOptionsTypes().Select(t => t.Name).ToArray();
        foreach (string expected in new[]
        {
            "Ext4OpenOptions", "Ext4FormatOptions", "Ext4BuildOptions", "Qcow2CreateOptions", "InitramfsWriteOptions",
            "CpioBuildOptions", "XfsOpenOptions", "FileSystemCopyOptions", "DiskImageOpenOptions", "ConvertOptions",
            "BlockCopyOptions", "InitramfsReaderOptions", "InitramfsExtractOptions",
        })
        {
            Assert.Contains(expected, names);
        }
    }

    [Theory]
    [MemberData(nameof(OptionsTypes))]
    public void OptionsType_HasAStaticDefault_EqualToANewInstance(string typeName)
    {
        Type type = typeof(DiskImageFile).Assembly.GetType(typeName, throwOnError: true)!;
        PropertyInfo? property = type.GetProperty("Default", BindingFlags.Public | BindingFlags.Static);
        Assert.True(property is not null, $"{type.Name} has no public static Default");
        Assert.Equal(type, property!.PropertyType);
        Assert.Null(property.SetMethod);
        object? value = property.GetValue(null);
        Assert.NotNull(value);
        Assert.Same(value, property.GetValue(null));

        // The shared default says what a new instance says.
        object fresh = Activator.CreateInstance(type)!;
        foreach (PropertyInfo p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            object? a = p.GetValue(value), b = p.GetValue(fresh);
            if (a is null || b is null || p.PropertyType.IsValueType || p.PropertyType == typeof(string))
            {
                Assert.True(Equals(a, b), $"{type.Name}.Default.{p.Name} is {a}, a new instance has {b}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(OptionsTypes))]
    public void OptionsType_HasNoPublicSetterButInit(string typeName)
    {
        Type type = typeof(DiskImageFile).Assembly.GetType(typeName, throwOnError: true)!;
        foreach (PropertyInfo p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static))
        {
            MethodInfo? setter = p.SetMethod;
            if (setter is null || !setter.IsPublic)
            {
                continue;
            }

            bool isInit = setter.ReturnParameter.GetRequiredCustomModifiers().Contains(typeof(IsExternalInit));
            Assert.True(isInit, $"{type.Name}.{p.Name} has a public setter; options are init-only");
        }

        Assert.DoesNotContain(type.GetFields(BindingFlags.Public | BindingFlags.Instance), f => !f.IsInitOnly);
    }
}
