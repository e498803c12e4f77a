namespace DiskImage.Security.Crypt;

/// <summary>
/// The parsed head of a <c>$y$</c> or <c>$7$</c> crypt string: parameters, where the salt starts and the
/// salt text (up to the last <c>$</c>, or the end), exactly as the yescrypt reference's <c>yescrypt_r</c> reads it.
/// </summary>
internal readonly record struct YescryptSetting(uint Flags, ulong N, uint R, uint P, uint T, bool IsScrypt, int PrefixLength, string SaltText)
{
    /// <summary>Parses <paramref name="setting"/>; throws <see cref="ArgumentException"/> or <see cref="NotSupportedException"/>.</summary>
    public static YescryptSetting Parse(string setting)
    {
        ReadOnlySpan<char> text = setting;
        if (text.Length < 3 || text[0] != '$' || (text[1] != '7' && text[1] != 'y') || text[2] != '$')
        {
            throw Yescrypt.Invalid(setting, "it does not start with $y$ or $7$");
        }

        int pos = 3;
        uint flags, r, p = 1, t = 0;
        ulong n;
        bool scrypt = text[1] == '7';
        if (scrypt)
        {
            int log2 = pos < text.Length ? YescryptBase64.Value(text[pos++]) : 64;
            if (log2 < 1 || log2 > 63)
            {
                throw Yescrypt.Invalid(setting, "log2 N must be 1 to 63");
            }

            n = 1UL << log2;
            if (!YescryptBase64.TryDecodeFixed(text, ref pos, 30, out r) || !YescryptBase64.TryDecodeFixed(text, ref pos, 30, out p))
            {
                throw Yescrypt.Invalid(setting, "r and p must be 5 base-64 characters each");
            }

            flags = 0;
        }
        else
        {
            if (!YescryptBase64.TryDecodeUInt32(text, ref pos, 0, out uint flavor))
            {
                throw Yescrypt.Invalid(setting, "the flavor is not valid base-64");
            }

            if (flavor < YescryptKdf.ReadWrite)
            {
                flags = flavor;
            }
            else if (flavor <= YescryptKdf.ReadWrite + (0x3fcu >> 2))
            {
                flags = YescryptKdf.ReadWrite + ((flavor - YescryptKdf.ReadWrite) << 2);
            }
            else
            {
                throw Yescrypt.Invalid(setting, "unknown flavor");
            }

            if (!YescryptBase64.TryDecodeUInt32(text, ref pos, 1, out uint log2) || log2 > 63)
            {
                throw Yescrypt.Invalid(setting, "log2 N is not valid");
            }

            n = 1UL << (int)log2;
            if (!YescryptBase64.TryDecodeUInt32(text, ref pos, 1, out r))
            {
                throw Yescrypt.Invalid(setting, "r is not valid");
            }

            if (pos < text.Length && text[pos] != '$')
            {
                if (!YescryptBase64.TryDecodeUInt32(text, ref pos, 1, out uint have))
                {
                    throw Yescrypt.Invalid(setting, "the optional-parameter set is not valid");
                }

                if ((have & 1) != 0 && !YescryptBase64.TryDecodeUInt32(text, ref pos, 2, out p))
                {
                    throw Yescrypt.Invalid(setting, "p is not valid");
                }

                if ((have & 2) != 0 && !YescryptBase64.TryDecodeUInt32(text, ref pos, 1, out t))
                {
                    throw Yescrypt.Invalid(setting, "t is not valid");
                }

                if ((have & 4) != 0)
                {
                    throw new NotSupportedException($"The setting '{setting}' asks for a hash upgrade (g), which crypt() does not compute.");
                }

                if ((have & 8) != 0)
                {
                    throw new NotSupportedException($"The setting '{setting}' needs a yescrypt ROM (NROM), which crypt() does not have.");
                }
            }

            if (pos >= text.Length || text[pos++] != '$')
            {
                throw Yescrypt.Invalid(setting, "the parameters do not end with '$'");
            }
        }

        int saltEnd = setting.LastIndexOf('$');
        if (saltEnd < pos)
        {
            saltEnd = setting.Length;
        }

        return new YescryptSetting(flags, n, r, p, t, scrypt, pos, setting[pos..saltEnd]);
    }
}
