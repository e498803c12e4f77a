namespace DiskImage.Customization;

/// <summary>One <c>/etc/passwd</c> entry: name, numeric ids and home directory.</summary>
internal sealed record GuestAccount(string Name, uint UserId, uint GroupId, string Home);
