namespace Pipeline;

/// <summary>
/// A mistake in the user's input, data or environment. Its message names the file, argument or stage and what is
/// wrong, so the host prints just the message (no stack trace) and exits non-zero.
/// </summary>
public abstract class PipelineException(string message, Exception? inner = null) : Exception(message, inner);
