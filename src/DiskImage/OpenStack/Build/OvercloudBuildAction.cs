namespace DiskImage.OpenStack.Build;

/// <summary>What a build did with one file.</summary>
public enum OvercloudBuildAction
{
    /// <summary>The file was written (under a temporary name, then renamed into place) and recorded in the manifest.</summary>
    Built = 0,

    /// <summary>The file was already current (same recipe, same inputs, content equal to the manifest) and was left alone.</summary>
    Current = 1,

    /// <summary>The file was not built because this version cannot build it yet; <see cref="OvercloudBuildOutput.Message"/> says why.</summary>
    Skipped = 2,
}
