using System.Reflection;
using Pipeline.Stages;

namespace Build.Host;

/// <summary>One task of the host: its name, what it does, what it depends on, and the stage it runs (if any).</summary>
public sealed record TaskInfo(string Name, string Description, Type Type, IReadOnlyList<string> DependsOn, Stage? Stage);

/// <summary>
/// The host's tasks, found by their <see cref="TaskNameAttribute"/>. A stage task's description and dependencies come
/// from its stage's declaration (the tasks of its upstream stages); other tasks state theirs with attributes.
/// </summary>
public sealed class TaskCatalog
{
    public IReadOnlyList<TaskInfo> Tasks { get; }

    TaskCatalog(IReadOnlyList<TaskInfo> tasks) => Tasks = tasks;

    public static TaskCatalog Discover(Assembly assembly)
    {
        var types = assembly.GetTypes().Where(t => !t.IsAbstract && t.GetCustomAttribute<TaskNameAttribute>() is not null).ToList();
        var names = types.ToDictionary(t => t, t => t.GetCustomAttribute<TaskNameAttribute>()!.Name);
        var stages = types.Where(t => typeof(IStageTask).IsAssignableFrom(t))
            .ToDictionary(t => ((IStageTask)Activator.CreateInstance(t)!).Stage, t => names[t]);
        var infos = types.Select(t =>
        {
            var stage = stages.FirstOrDefault(s => s.Value == names[t]).Key;
            var dependsOn = stage is null
                ? t.GetCustomAttributes<IsDependentOnAttribute>().Select(d => names[d.Task]).ToList()
                : stage.Upstream.Select(u => stages.TryGetValue(u, out var name) ? name
                    : throw new InvalidOperationException($"stage '{stage.Name}' reads '{u.Name}', which no task runs")).ToList();
            string description = stage?.Description ?? t.GetCustomAttribute<TaskDescriptionAttribute>()?.Description ?? "";
            return new TaskInfo(names[t], description, t, dependsOn, stage);
        }).ToList();

        // Dependency order, so help and tree read like the pipeline.
        var ordered = new List<TaskInfo>();
        void Visit(TaskInfo task)
        {
            if (ordered.Contains(task)) return;
            foreach (var dependency in task.DependsOn) Visit(infos.Single(i => i.Name == dependency));
            ordered.Add(task);
        }
        foreach (var info in infos.OrderBy(i => i.Stage is null).ThenBy(i => i.Name == "Default")) Visit(info);
        return new TaskCatalog(ordered);
    }

    public TaskInfo? Find(string name) => Tasks.FirstOrDefault(t => t.Name.Equals(name, StringComparison.OrdinalIgnoreCase));

    public IEnumerable<Stage> Stages => Tasks.Select(t => t.Stage).OfType<Stage>();

    /// <summary>The task and every task it depends on, directly or not.</summary>
    public IReadOnlyList<TaskInfo> Closure(TaskInfo target)
    {
        var closure = new List<TaskInfo>();
        void Visit(TaskInfo task)
        {
            if (closure.Contains(task)) return;
            closure.Add(task);
            foreach (var dependency in task.DependsOn) Visit(Find(dependency)!);
        }
        Visit(target);
        return closure;
    }

    /// <summary>The task graph as JSON (<c>--tree --format=json</c>): each task's name, output folder, description and dependencies.</summary>
    public System.Text.Json.Nodes.JsonArray TreeJson() => new([.. Tasks.Select(task => (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject
    {
        ["task"] = task.Name,
        ["output"] = task.Stage is { } stage ? $"artifacts/{stage.Name}/" : null,
        ["description"] = task.Description,
        ["depends_on"] = new System.Text.Json.Nodes.JsonArray([.. task.DependsOn.Select(d => (System.Text.Json.Nodes.JsonNode)d)]),
    })]);

    /// <summary>The task graph, one line per task, a stage's with its output folder: <c>--tree</c>.</summary>
    public string Tree()
    {
        int width = Tasks.Max(t => t.Name.Length), folder = Stages.Max(s => s.Name.Length) + "artifacts//".Length;
        return string.Join("\n", Tasks.Select(task =>
            $"{task.Name.PadRight(width)}  {(task.Stage is { } stage ? $"artifacts/{stage.Name}/" : "").PadRight(folder)}  {task.Description}" +
            (task.DependsOn.Count == 0 ? "" : $"  ← {string.Join(", ", task.DependsOn)}")));
    }
}
