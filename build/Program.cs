using Build.Host;
using Pipeline.Runtime;

// Before anything allocates: keep freed buffers in the heap (training is ~10x slower without it on these VMs).
MallocTuning.Apply();
return await PipelineHost.RunAsync(args);
