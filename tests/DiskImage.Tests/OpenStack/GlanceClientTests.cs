using System.Net;
using System.Security.Cryptography;
using DiskImage.OpenStack;

namespace DiskImage.Tests.OpenStack;

/// <summary>The Glance v2 client against a real glance-api: every call, the hashes Glance stores, and its refusals.</summary>
[Collection(GlanceCollection.Name)]
public sealed class GlanceClientTests(GlanceServer server)
{
    private GlanceClient Client()
    {
        server.Require();
        return new GlanceClient(new OpenStackAuthOptions { AuthType = OpenStackAuthType.None, Endpoint = server.Endpoint });
    }

    private static string UniqueName(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..10];

    [SkippableFact]
    public async Task CreateUploadGetDownload_GlanceStoresTheBytesAndHashesSent()
    {
        using GlanceClient client = Client();
        string name = UniqueName("roundtrip");
        byte[] data = new byte[3 * 1024 * 1024 + 17];
        new Random(11).NextBytes(data);

        GlanceImage created = await client.CreateImageAsync(new GlanceImageDefinition
        {
            Name = name,
            DiskFormat = "qcow2",
            Visibility = "public",
            Properties = new Dictionary<string, string> { ["hw_architecture"] = "x86_64", ["tripleo_test"] = "yes" },
        });
        Assert.Equal("queued", created.Status);
        Assert.Equal("bare", created.ContainerFormat);
        Assert.Equal("public", created.Visibility);
        Assert.Null(created.Size);
        Assert.Equal("x86_64", created.Properties["hw_architecture"]);

        GlanceUploadResult upload = await client.UploadAsync(created.Id, new MemoryStream(data));
        Assert.Equal("active", upload.Image.Status);
        Assert.Equal(data.Length, upload.Image.Size);
        Assert.Equal(Convert.ToHexStringLower(MD5.HashData(data)), upload.Image.Checksum);
        Assert.Equal("sha512", upload.Image.HashAlgorithm);
        Assert.Equal(Convert.ToHexStringLower(SHA512.HashData(data)), upload.Image.HashValue);
        Assert.Equal(upload.Md5, upload.Image.Checksum);
        Assert.Equal(upload.Sha512, upload.Image.HashValue);

        IReadOnlyList<GlanceImage> found = await client.FindImagesAsync(name);
        Assert.Equal(created.Id, Assert.Single(found).Id);

        var copy = new MemoryStream();
        Assert.Equal(data.Length, await client.DownloadAsync(created.Id, copy));
        Assert.Equal(data, copy.ToArray());

        Assert.True(await client.DeleteImageAsync(created.Id));
        Assert.False(await client.DeleteImageAsync(created.Id));
        Assert.Empty(await client.FindImagesAsync(name));
        var gone = await Assert.ThrowsAsync<OpenStackException>(() => client.GetImageAsync(created.Id));
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    [SkippableFact]
    public async Task UploadFromNonSeekableStream_IsSentChunked()
    {
        using GlanceClient client = Client();
        byte[] data = new byte[200_001];
        new Random(3).NextBytes(data);
        GlanceImage created = await client.CreateImageAsync(new GlanceImageDefinition { Name = UniqueName("chunked"), DiskFormat = "aki" });
        GlanceUploadResult upload = await client.UploadAsync(created.Id, new ForwardOnlyStream(data));
        Assert.Equal(data.Length, upload.Image.Size);
        Assert.Equal(Convert.ToHexStringLower(MD5.HashData(data)), upload.Image.Checksum);
        await client.DeleteImageAsync(created.Id);
    }

    [SkippableFact]
    public async Task Refusals_AreOpenStackExceptionsWithGlancesStatusAndMessage()
    {
        using GlanceClient client = Client();
        var badFormat = await Assert.ThrowsAsync<OpenStackException>(() =>
            client.CreateImageAsync(new GlanceImageDefinition { Name = UniqueName("bad"), DiskFormat = "qcow3" }));
        Assert.Equal(HttpStatusCode.BadRequest, badFormat.StatusCode);
        Assert.Contains("qcow3", badFormat.Message);

        GlanceImage image = await client.CreateImageAsync(new GlanceImageDefinition { Name = UniqueName("twice"), DiskFormat = "raw" });
        await client.UploadAsync(image.Id, new MemoryStream(new byte[4096]));
        var again = await Assert.ThrowsAsync<OpenStackException>(() => client.UploadAsync(image.Id, new MemoryStream(new byte[4096])));
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);

        var removeMissing = await Assert.ThrowsAsync<OpenStackException>(() =>
            client.UpdateImageAsync(image.Id, [new("nonexistent", null)]));
        Assert.Equal(HttpStatusCode.Conflict, removeMissing.StatusCode);
        await client.DeleteImageAsync(image.Id);

        GlanceImage big = await client.CreateImageAsync(new GlanceImageDefinition { Name = UniqueName("big"), DiskFormat = "raw" });
        var tooLarge = await Assert.ThrowsAnyAsync<Exception>(() =>
            client.UploadAsync(big.Id, new MemoryStream(new byte[GlanceServer.ImageSizeCap + 1])));
        Assert.True(tooLarge is OpenStackException { StatusCode: HttpStatusCode.RequestEntityTooLarge } or HttpRequestException, tooLarge.ToString());
        Assert.Equal("queued", (await client.GetImageAsync(big.Id)).Status);
        await client.DeleteImageAsync(big.Id);
    }

    [SkippableFact]
    public async Task Update_AddsReplacesRenamesAndRemoves()
    {
        using GlanceClient client = Client();
        string name = UniqueName("patch");
        GlanceImage image = await client.CreateImageAsync(new GlanceImageDefinition { Name = name, DiskFormat = "ari" });
        string k1 = Guid.NewGuid().ToString(), k2 = Guid.NewGuid().ToString();
        GlanceImage patched = await client.UpdateImageAsync(image.Id,
            [new("kernel_id", k1), new("tripleo_platform", "p1"), new("name", name + "-renamed")]);
        Assert.Equal(name + "-renamed", patched.Name);
        Assert.Equal(k1, patched.Properties["kernel_id"]);
        patched = await client.UpdateImageAsync(image.Id, [new("kernel_id", k2), new("tripleo_platform", null)]);
        Assert.Equal(k2, patched.Properties["kernel_id"]);
        Assert.False(patched.Properties.ContainsKey("tripleo_platform"));
        Assert.Equal(k2, (await client.GetImageAsync(image.Id)).Properties["kernel_id"]);
        await client.DeleteImageAsync(image.Id);
    }

    /// <summary>A stream with no length and no seeking, so the upload is sent with chunked encoding.</summary>
    private sealed class ForwardOnlyStream(byte[] data) : Stream
    {
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = Math.Min(Math.Min(count, 7777), data.Length - _position);
            Array.Copy(data, _position, buffer, offset, n);
            _position += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
