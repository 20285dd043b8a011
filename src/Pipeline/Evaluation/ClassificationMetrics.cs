namespace Pipeline.Evaluation;

public sealed record ClassScores(string Class, int Support, double Precision, double Recall, double F1);

/// <summary>
/// What a classifier did on a labelled set. <see cref="Confusion"/>[true, predicted] counts images.
/// <see cref="BinaryAccuracy"/> is Keras' "accuracy" under binary cross-entropy: each of the ten outputs is scored
/// on its own against the one-hot label (probability ≥ 0.5 counts as 1), averaged over images and outputs.
/// </summary>
public sealed record ClassificationMetrics(int Count, double Accuracy, double BinaryAccuracy, double Loss,
    int[,] Confusion, IReadOnlyList<ClassScores> Classes, double MacroF1)
{
    /// <param name="labels">true class per image</param>
    /// <param name="probabilities">row-major <c>Count × classes</c> class probabilities (softmax of the logits)</param>
    public static ClassificationMetrics Compute(ReadOnlySpan<byte> labels, ReadOnlySpan<float> probabilities, IReadOnlyList<string> classNames)
    {
        var accumulator = new Accumulator(classNames);
        accumulator.Add(labels, probabilities);
        return accumulator.Result();
    }

    /// <summary>The metrics gathered batch by batch (the confusion matrix, binary hits and loss add up), so scoring a
    /// split needs no per-image array; the same figures as one <see cref="Compute"/> over the whole.</summary>
    public sealed class Accumulator(IReadOnlyList<string> classNames)
    {
        readonly int classes = classNames.Count;
        readonly int[,] confusion = new int[classNames.Count, classNames.Count];
        long binaryRight, count;
        double loss;

        /// <summary>Adds a batch; returns each image's predicted class.</summary>
        public int[] Add(ReadOnlySpan<byte> labels, ReadOnlySpan<float> probabilities)
        {
            if (probabilities.Length != labels.Length * classes)
                throw new ArgumentException($"{probabilities.Length} probabilities for {labels.Length} images of {classes} classes", nameof(probabilities));
            var predicted = Predictions.ArgMax(probabilities, classes);
            for (int i = 0; i < labels.Length; i++)
            {
                var row = probabilities.Slice(i * classes, classes);
                for (int c = 0; c < classes; c++)
                    if ((row[c] >= 0.5f) == (c == labels[i])) binaryRight++;
                confusion[labels[i], predicted[i]]++;
                loss -= Math.Log(Math.Max(row[labels[i]], 1e-12f));
            }
            count += labels.Length;
            return predicted;
        }

        public ClassificationMetrics Result() =>
            FromConfusion(confusion, classNames, (double)binaryRight / (count * classes), loss / count);
    }

    public static ClassificationMetrics FromConfusion(int[,] confusion, IReadOnlyList<string> classNames, double binaryAccuracy, double loss)
    {
        int classes = classNames.Count, count = 0, right = 0;
        var scores = new List<ClassScores>();
        for (int c = 0; c < classes; c++)
        {
            int truePositive = confusion[c, c], actual = 0, predicted = 0;
            for (int k = 0; k < classes; k++)
            {
                actual += confusion[c, k];
                predicted += confusion[k, c];
            }
            count += actual;
            right += truePositive;
            double precision = predicted == 0 ? 0 : (double)truePositive / predicted;
            double recall = actual == 0 ? 0 : (double)truePositive / actual;
            double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            scores.Add(new ClassScores(classNames[c], actual, precision, recall, f1));
        }
        return new ClassificationMetrics(count, count == 0 ? 0 : (double)right / count, binaryAccuracy, loss, confusion, scores,
            scores.Average(s => s.F1));
    }

    /// <summary>The confusion matrix as nested arrays (rows = true class), for JSON.</summary>
    public int[][] ConfusionRows() =>
        Enumerable.Range(0, Confusion.GetLength(0)).Select(r => Enumerable.Range(0, Confusion.GetLength(1)).Select(c => Confusion[r, c]).ToArray()).ToArray();
}

public static class Predictions
{
    /// <summary>The most probable class of each row of a row-major <c>Count × classes</c> matrix.</summary>
    public static int[] ArgMax(ReadOnlySpan<float> probabilities, int classes)
    {
        var predicted = new int[probabilities.Length / classes];
        for (int i = 0; i < predicted.Length; i++)
        {
            var row = probabilities.Slice(i * classes, classes);
            int best = 0;
            for (int c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
            predicted[i] = best;
        }
        return predicted;
    }

    /// <summary>The <paramref name="k"/> most probable classes of one row, most probable first; ties go to the lower class, as in <see cref="ArgMax"/>.</summary>
    public static int[] TopK(ReadOnlySpan<float> row, int k)
    {
        var values = row.ToArray();
        return [.. Enumerable.Range(0, values.Length).OrderByDescending(c => values[c]).Take(k)]; // a stable sort
    }
}
