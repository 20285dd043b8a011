using Cake.Core;

namespace Build.Host;

// The Cake.Frosting programming model, on Cake.Core's engine: one class per task, named and wired by attributes.
// The names follow Cake.Frosting's (which is not on the package feed), so a Frosting user reads the tasks as usual.

[AttributeUsage(AttributeTargets.Class)]
public sealed class TaskNameAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}

[AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
public sealed class IsDependentOnAttribute(Type task) : Attribute
{
    public Type Task { get; } = task;
}

[AttributeUsage(AttributeTargets.Class)]
public sealed class TaskDescriptionAttribute(string description) : Attribute
{
    public string Description { get; } = description;
}

/// <summary>A task. <see cref="ShouldRun"/> becomes the task's Cake criteria; <see cref="RunAsync"/> its action.</summary>
public abstract class AsyncFrostingTask<TContext> where TContext : ICakeContext
{
    public virtual bool ShouldRun(TContext context) => true;

    public virtual Task RunAsync(TContext context) => Task.CompletedTask;

    /// <summary>Runs after the task whether it ran or was up to date (not in dry runs): checks on recorded results.</summary>
    public virtual Task FinishAsync(TContext context) => Task.CompletedTask;
}

/// <summary>
/// A task that never writes a stage's folder, the run cache or the staging area (it reads records, writes its own
/// folder): it runs without the artifacts lock, beside a pipeline run, e.g. Report --serve watching a training.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class LockFreeAttribute : Attribute;
