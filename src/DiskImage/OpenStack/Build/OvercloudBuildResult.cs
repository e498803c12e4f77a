namespace DiskImage.OpenStack.Build;

/// <summary>The result of <see cref="OvercloudBuilder.BuildAsync"/>.</summary>
public sealed class OvercloudBuildResult
{
    /// <summary>Every file of the selected images, in build order.</summary>
    public required IReadOnlyList<OvercloudBuildOutput> Outputs { get; init; }

    /// <summary>The manifest's path (<c>overcloud-build.json</c> in the output directory).</summary>
    public required string ManifestPath { get; init; }

    /// <summary>The SHA-256 of the inputs (the base image's bytes and the <c>SOURCE_DATE_EPOCH</c>) the outputs were checked against.</summary>
    public required string InputHash { get; init; }

    /// <summary>Whether some selected file was skipped (<see cref="OvercloudBuildAction.Skipped"/>).</summary>
    public bool AnySkipped
    {
        get
        {
            foreach (OvercloudBuildOutput o in Outputs)
            {
                if (o.Action == OvercloudBuildAction.Skipped)
                {
                    return true;
                }
            }

            return false;
        }
    }
}
