using Cake.Common.Build;

namespace Build.Host;

/// <summary>
/// The task lifetime for CI logs: each task's lines fold into a group on GitHub Actions and Azure Pipelines
/// (as GitVersion's build does with its BuildTaskLifetime).
/// </summary>
public sealed class CiLogGroups(BuildSystem ci)
{
    public void Start(string task)
    {
        if (ci.IsRunningOnGitHubActions) ci.GitHubActions.Commands.StartGroup(task);
        else if (ci.IsRunningOnAzurePipelines) ci.AzurePipelines.Commands.BeginGroup(task);
    }

    public void End()
    {
        if (ci.IsRunningOnGitHubActions) ci.GitHubActions.Commands.EndGroup();
        else if (ci.IsRunningOnAzurePipelines) ci.AzurePipelines.Commands.EndGroup();
    }
}
