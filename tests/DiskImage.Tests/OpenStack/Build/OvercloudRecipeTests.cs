using DiskImage.OpenStack.Build;
using DiskImage.Sysprep;

namespace DiskImage.Tests.OpenStack.Build;

/// <summary>Recipe parsing: the embedded default, a full custom recipe, and malformed recipes refused with their position.</summary>
public sealed class OvercloudRecipeTests
{
    [Fact]
    public void Default_DescribesTheLabSet()
    {
        OvercloudRecipe recipe = OvercloudRecipe.Default;
        Assert.Equal(["overcloud-full", "deploy-ramdisk-ironic", "ironic-python-agent"], recipe.Images.Where(i => i.BuildByDefault).Select(i => i.Name));
        Assert.Equal(
            ["overcloud-full.qcow2", "overcloud-full.vmlinuz", "overcloud-full.initrd", "deploy-ramdisk-ironic.kernel", "deploy-ramdisk-ironic.initramfs", "ironic-python-agent.kernel", "ironic-python-agent.initramfs"],
            recipe.Images.Where(i => i.BuildByDefault).SelectMany(i => i.Files));
        OvercloudImageRecipe full = recipe.Images[0];
        Assert.Equal((OvercloudImageKind.Partition, "xfs", "img-rootfs", "qcow2", true), (full.Kind, full.FileSystem, full.Label, full.Format, full.Compress));
        Assert.Equal(OvercloudImageRecipe.DefaultCompressionLevel, full.CompressionLevel);
        Assert.Equal(OvercloudImageKind.Ramdisk, recipe.Images[2].Kind);
        Assert.Contains("python3", recipe.Images[2].Ramdisk!.Binaries);
        Assert.Equal("gzip", recipe.Images[2].Ramdisk!.Compression);
        Assert.Equal(MachineIdPolicy.Uninitialized, recipe.MachineId);
        Assert.Equal("defaults,random-seed", recipe.SysprepOperations);
        Assert.Equal(OvercloudRecipe.DefaultText, recipe.Text);
    }

    [Fact]
    public void Custom_EveryKey()
    {
        const string Yaml = """
            version: 1
            customize:
              - hostname: overcloud
              - --write: "/etc/motd:built by diskimage"
              - selinux-relabel
            sysprep:
              operations: [defaults, -ssh-hostkeys, extras]
              machine-id: empty
            images:
              - name: full
                type: partition
                file-system: ext4
                label: root-fs
                format: raw
                image: full.img
                kernel: false
                initrd: full.ird
              - name: agent
                type: ramdisk
                kernel: agent.kernel
                initramfs: agent.ramdisk
                ramdisk:
                  binaries: [sh, /usr/bin/python3]
                  modules: [virtio_blk]
                  files: [/etc/resolv.conf]
                  init: |
                    #!/bin/sh
                    exec sh
                  compression: zstd
            """;
        OvercloudRecipe r = OvercloudRecipe.Parse(Yaml);
        Assert.Equal(["--hostname", "overcloud", "--write", "/etc/motd:built by diskimage", "--selinux-relabel"], r.Customize);
        Assert.Equal(MachineIdPolicy.Empty, r.MachineId);
        Assert.Equal("defaults,-ssh-hostkeys,extras", r.SysprepOperations);
        OvercloudImageRecipe full = r.FindImage("full")!;
        Assert.Equal(("ext4", "root-fs", "raw", false), (full.FileSystem, full.Label, full.Format, full.Compress));
        Assert.Equal(["full.img", "full.ird"], full.Files);
        Assert.Null(full.KernelFile);
        OvercloudRamdiskRecipe rd = r.FindImage("agent")!.Ramdisk!;
        Assert.Equal(["sh", "/usr/bin/python3"], rd.Binaries);
        Assert.Equal(["virtio_blk"], rd.Modules);
        Assert.Equal(["/etc/resolv.conf"], rd.Files);
        Assert.Equal("#!/bin/sh\nexec sh\n", rd.Init);
        Assert.Equal("zstd", rd.Compression);
        Assert.Null(r.FindImage("absent"));

        // The hash follows what shapes an image, not the text's layout.
        OvercloudRecipe reformatted = OvercloudRecipe.Parse(Yaml.Replace("version: 1\n", "# a comment\nversion: 1\n", StringComparison.Ordinal));
        Assert.Equal(r.HashFor(r.Images[0]), reformatted.HashFor(reformatted.Images[0]));
        OvercloudRecipe other = OvercloudRecipe.Parse(Yaml.Replace("label: root-fs", "label: other", StringComparison.Ordinal));
        Assert.NotEqual(r.HashFor(r.Images[0]), other.HashFor(other.Images[0]));
        Assert.Equal(r.HashFor(r.Images[1]), other.HashFor(other.Images[1]));
    }

    [Theory]
    [InlineData("images:\n  - name: a\n    type: partition\n    colour: red\n", "recipe:4:5: unknown key 'colour'")]
    [InlineData("images:\n  - name: a\n    type: floppy\n", "recipe:3:11: image 'a': type 'floppy'")]
    [InlineData("images:\n  - name: a\n", "recipe:2:5: image 'a' has no 'type:'")]
    [InlineData("images:\n  - type: partition\n", "has no 'name:'")]
    [InlineData("images: []\n", "recipe:1:9: 'images:' is empty")]
    [InlineData("version: 1\n", "has no 'images:' list")]
    [InlineData("version: 2\nimages: []\n", "recipe:1:10: unsupported recipe version")]
    [InlineData("customize:\n  - frobnicate: x\nimages: []\n", "recipe:2:5: 'frobnicate' is not a customize option")]
    [InlineData("customize:\n  - hostname\nimages: []\n", "recipe:2:5: customize 'hostname' needs an argument")]
    [InlineData("customize:\n  - chmod: abc\nimages: []\n", "recipe:2:5: --chmod")]
    [InlineData("sysprep:\n  operations: defaults,no-such-op\nimages: []\n", "recipe:2:15: 'no-such-op' is not a known operation")]
    [InlineData("sysprep:\n  machine-id: random\nimages: []\n", "recipe:2:15: machine-id 'random'")]
    [InlineData("images:\n  - name: a\n    type: partition\n  - name: a\n    type: ramdisk\n", "recipe:4:5: a second image is named 'a'")]
    [InlineData("images:\n  - name: a\n    type: partition\n    image: x\n  - name: b\n    type: ramdisk\n    kernel: x\n", "image 'b' writes 'x', which image 'a' writes too")]
    [InlineData("images:\n  - name: ../etc\n    type: partition\n", "recipe:2:11: name '../etc' must be a plain file name")]
    [InlineData("images:\n  - name: a\n    type: partition\n    format: raw\n    compress: true\n", "compress needs format qcow2")]
    [InlineData("images:\n  - name: a\n    type: partition\n    compress: maybe\n", "compress 'maybe' is not true or false")]
    [InlineData("images:\n  - name: a\n    type: partition\n    compression-level: 5\n", "recipe:4:24: image 'a': compression-level needs compress: true")]
    [InlineData("images:\n  - name: a\n    type: partition\n    compress: true\n    compression-level: 0\n", "recipe:5:24: compression-level '0' is not a deflate level 1-9")]
    [InlineData("images:\n  - name: a\n    type: partition\n    compress: true\n    compression-level: 10\n", "compression-level '10' is not a deflate level 1-9")]
    [InlineData("images:\n  - name: a\n    type: partition\n    compress: true\n    compression-level: fast\n", "compression-level 'fast' is not a deflate level 1-9")]
    [InlineData("images:\n  - name: a\n    type: partition\n    label: much-too-long-label\n", "longer than 12 bytes")]
    [InlineData("images:\n  - name: a\n    type: ramdisk\n    ramdisk:\n      binaries: sh\n", "recipe:5:17: 'binaries' must be a list")]
    [InlineData("images: [\n", "recipe:2:1: not valid YAML")]
    [InlineData("- just\n- a list\n", "the recipe must be a mapping")]
    public void Malformed_InvalidDataExceptionWithPosition(string yaml, string expected)
    {
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => OvercloudRecipe.Parse(yaml));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CompressionLevel_DefaultThree_ChosenLevelRead_AndPartOfTheHash()
    {
        const string Yaml = "images:\n  - name: a\n    type: partition\n    compress: true\n";
        OvercloudRecipe byDefault = OvercloudRecipe.Parse(Yaml);
        OvercloudRecipe three = OvercloudRecipe.Parse(Yaml + "    compression-level: 3\n");
        OvercloudRecipe nine = OvercloudRecipe.Parse(Yaml + "    compression-level: 9\n");
        Assert.Equal(3, byDefault.Images[0].CompressionLevel);
        Assert.Equal(9, nine.Images[0].CompressionLevel);
        Assert.Equal(byDefault.HashFor(byDefault.Images[0]), three.HashFor(three.Images[0]));
        Assert.NotEqual(byDefault.HashFor(byDefault.Images[0]), nine.HashFor(nine.Images[0]));

        const string WholeDisk = "images:\n  - name: w\n    type: whole-disk\n    compress: true\n    compression-level: 1\n    disk:\n      partition-table: mbr\n      partitions:\n        - mount: /\n";
        Assert.Equal(1, OvercloudRecipe.Parse(WholeDisk).Images[0].CompressionLevel);
    }

    [Fact]
    public void Load_NamesTheFile()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("r.yaml"), "images:\n  - name: a\n    type: nope\n");
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => OvercloudRecipe.Load(dir.File("r.yaml")));
        Assert.StartsWith(dir.File("r.yaml") + ":3:11:", e.Message, StringComparison.Ordinal);
    }
}
