using System.Security.Cryptography;
using System.Text;

namespace DiskImage.Customization;

/// <summary>
/// <c>--password USER:SELECTOR</c> and <c>--root-password SELECTOR</c>: sets field 2 of the user's
/// <c>/etc/shadow</c> line and nothing else (other fields, other lines, the file's inode, mode, owner and
/// labels are kept). Selectors: <c>password:PW</c>, <c>file:FILE</c> (its first line), <c>random</c>,
/// <c>disabled</c> (<c>*</c>), <c>locked</c> (<c>!!*</c>), <c>locked:SELECTOR</c> (<c>!!</c> before the hash).
/// Applied after every other operation, as virt-customize does.
/// </summary>
internal sealed class PasswordOperation : CustomizeOperation
{
    private const string RandomAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"; // look-alikes removed
    private readonly string _user;
    private readonly string _selector;

    public PasswordOperation(string option, string argument)
        : base(option, argument)
    {
        if (option == "root-password")
        {
            (_user, _selector) = ("root", argument);
        }
        else
        {
            (_user, _selector) = SplitPair("USER:SELECTOR");
        }

        CheckSelector(_selector.StartsWith("locked:", StringComparison.Ordinal) ? _selector[7..] : _selector);
    }

    public override bool RunsLast => true;

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        string path = t.Resolve(GuestAccounts.ShadowPath);
        if (t.Stat(path) is null)
        {
            throw t.Error($"the image has no {GuestAccounts.ShadowPath}");
        }

        string[] lines = GuestAccounts.ReadShadow(t, path);
        int index = Array.FindIndex(lines, l => l.StartsWith(_user + ":", StringComparison.Ordinal));
        if (index < 0)
        {
            throw t.Error($"the user '{_user}' has no line in {GuestAccounts.ShadowPath}");
        }

        string field = Field(context, t);
        string line = lines[index];
        int first = line.IndexOf(':', StringComparison.Ordinal);
        int second = line.IndexOf(':', first + 1);
        lines[index] = string.Concat(line.AsSpan(0, first + 1), field, line.AsSpan(second));
        t.WriteFile(path, Encoding.UTF8.GetBytes(string.Join('\n', lines)));
    }

    private string Field(CustomizeContext context, GuestTree t)
    {
        string selector = _selector;
        string prefix = string.Empty;
        if (selector == "locked")
        {
            return "!!*";
        }

        if (selector.StartsWith("locked:", StringComparison.Ordinal))
        {
            prefix = "!!";
            selector = selector[7..];
        }

        if (selector == "disabled")
        {
            return prefix + "*";
        }

        string password;
        if (selector == "random")
        {
            if (!context.GeneratedPasswords.TryGetValue(_user, out password!))
            {
                password = RandomPassword();
                context.GeneratedPasswords[_user] = password;
            }
        }
        else if (selector.StartsWith("password:", StringComparison.Ordinal))
        {
            password = selector[9..];
        }
        else
        {
            string file = HostPath.Full(t, selector[5..]);
            string text = Encoding.UTF8.GetString(HostPath.ReadAllBytes(t, file));
            int nl = text.IndexOf('\n', StringComparison.Ordinal);
            password = nl < 0 ? text : text[..nl];
        }

        string algorithm = context.Options.PasswordCrypto is { } chosen ? PasswordHashing.Validate(chosen) : PasswordHashing.DefaultFor(context.Os);
        return prefix + (t.DryRun ? "$6$(dry-run)" : PasswordHashing.Hash(password, algorithm, context.Options.PasswordRounds));
    }

    private void CheckSelector(string selector)
    {
        if (selector is "random" or "disabled" or "locked"
            || selector.StartsWith("password:", StringComparison.Ordinal)
            || selector.StartsWith("file:", StringComparison.Ordinal) && selector.Length > 5)
        {
            if (selector.Contains('\n', StringComparison.Ordinal) || selector.Contains('\0', StringComparison.Ordinal))
            {
                throw new CustomizationException(ToString(), "the password must not contain a line break or NUL");
            }

            return;
        }

        throw new CustomizationException(ToString(), "expected a selector: password:PW, file:FILE, random, disabled, locked or locked:SELECTOR");
    }

    private static string RandomPassword()
    {
        Span<char> c = stackalloc char[16];
        for (int i = 0; i < c.Length; i++)
        {
            c[i] = RandomAlphabet[RandomNumberGenerator.GetInt32(RandomAlphabet.Length)];
        }

        return new string(c);
    }
}
