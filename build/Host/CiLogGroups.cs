using Cake.Common.Build;
using Cake.Core;

namespace Build.Host;

/// <summary>
/// The task lifetime for CI logs: each task's lines fold into a group on GitHub Actions and Azure Pipelines
/// (as GitVersion's build does with its BuildTaskLifetime).
/// </summary>
public sealed class CiLogGroups(BuildSystem ci)
{
    public void Setup(ITaskSetupContext setup)
    {
        if (ci.IsRunningOnGitHubActions) ci.GitHubActions.Commands.StartGroup(setup.Task.Name);
        else if (ci.IsRunningOnAzurePipelines) ci.AzurePipelines.Commands.BeginGroup(setup.Task.Name);
    }

    public void Teardown(ITaskTeardownContext teardown)
    {
        if (ci.IsRunningOnGitHubActions) ci.GitHubActions.Commands.EndGroup();
        else if (ci.IsRunningOnAzurePipelines) ci.AzurePipelines.Commands.EndGroup();
    }
}
