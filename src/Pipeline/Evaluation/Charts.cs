using Pipeline.Imaging;
using ScottPlot;
using SkiaSharp;

namespace Pipeline.Evaluation;

/// <summary>
/// The report's charts, drawn headless with ScottPlot. ScottPlot drops text silently when its font is missing, so
/// the charts use the same checked font file as the contact sheets, registered under one family name.
/// </summary>
public static class Charts
{
    const string Family = "Pipeline Label";
    static readonly Lazy<string> font = new(() =>
    {
        ScottPlot.Fonts.AddFontFile(Family, Imaging.Fonts.LabelFile);
        return Family;
    });

    /// <summary>Loss and accuracy per epoch, training against validation, side by side.</summary>
    public static byte[] TrainingCurves(IReadOnlyList<int> epochs, IReadOnlyList<double> loss, IReadOnlyList<double> valLoss,
        IReadOnlyList<double> accuracy, IReadOnlyList<double> valAccuracy)
    {
        double[] x = epochs.Select(e => (double)e).ToArray();
        // Legends sit where the curves are not: loss falls, accuracy rises.
        var lossPlot = LinePlot("Loss (cross-entropy)", "epoch", [("training", x, loss), ("validation", x, valLoss)], Alignment.UpperRight);
        var accuracyPlot = LinePlot("Accuracy", "epoch", [("training", x, accuracy), ("validation", x, valAccuracy)], Alignment.LowerRight);
        return SideBySide(lossPlot, accuracyPlot, 560, 400);
    }

    /// <summary>One run's validation curves, for <see cref="CompareCurves"/>.</summary>
    public sealed record Run(string Name, IReadOnlyList<int> Epochs, IReadOnlyList<double> ValLoss, IReadOnlyList<double> ValAccuracy);

    /// <summary>Two or more runs' validation loss and accuracy per epoch, overlaid.</summary>
    public static byte[] CompareCurves(IReadOnlyList<Run> runs)
    {
        double[] X(Run r) => r.Epochs.Select(e => (double)e).ToArray();
        var lossPlot = LinePlot("Validation loss", "epoch", [.. runs.Select(r => (r.Name, X(r), r.ValLoss))], Alignment.UpperRight);
        var accuracyPlot = LinePlot("Validation accuracy", "epoch", [.. runs.Select(r => (r.Name, X(r), r.ValAccuracy))], Alignment.LowerRight);
        return SideBySide(lossPlot, accuracyPlot, 560, 400);
    }

    /// <summary>One series of <see cref="Scatter"/>: points alone, or joined by a line.</summary>
    public sealed record Series(string Name, double[] X, double[] Y, bool Line);

    /// <summary>
    /// Points (and lines) of several series on one plot, e.g. a search's objective by trial. <paramref name="choices"/>
    /// labels whole-number x values (a choice's index) with the choices; <paramref name="logX"/>: x holds log10 values,
    /// labelled as powers of ten.
    /// </summary>
    public static byte[] Scatter(string title, string xLabel, string yLabel, IReadOnlyList<Series> series,
        IReadOnlyList<string>? choices = null, bool logX = false)
    {
        var plot = NewPlot(title);
        foreach (var s in series.Where(s => s.X.Length > 0))
        {
            var scatter = plot.Add.Scatter(s.X, s.Y);
            scatter.LegendText = s.Name;
            scatter.MarkerSize = s.Line ? 4 : 8;
            scatter.LineWidth = s.Line ? 2 : 0;
        }
        if (choices is not null)
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
                [.. Enumerable.Range(0, choices.Count).Select(i => (double)i)], [.. choices]);
        else if (logX)
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = v => $"{Math.Pow(10, v):G3}" };
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.ShowLegend(Alignment.LowerRight);
        plot.Font.Set(font.Value);
        plot.Legend.FontName = font.Value;
        return plot.GetImageBytes(640, 440, ImageFormat.Png);
    }

    /// <summary>The confusion matrix as a heatmap, rows = true class, columns = predicted, each cell labelled with its count.</summary>
    public static byte[] ConfusionMatrix(int[,] confusion, IReadOnlyList<string> classes)
    {
        int n = classes.Count;
        var plot = NewPlot("Confusion matrix (test split)");
        var shares = new double[n, n];
        for (int r = 0; r < n; r++)
        {
            double total = Math.Max(1, Enumerable.Range(0, n).Sum(c => confusion[r, c]));
            for (int c = 0; c < n; c++) shares[r, c] = Math.Log10(1 + 1000 * confusion[r, c] / total); // log scale: errors stay visible
        }
        // Blues runs from dark (low) to white (high): negated values make empty cells white and full ones dark.
        var heatmap = plot.Add.Heatmap(Negated(shares));
        heatmap.Colormap = new ScottPlot.Colormaps.Blues();
        heatmap.FlipVertically = true;
        heatmap.Extent = new CoordinateRect(0, n - 1, n - 1, 0); // the extent runs through the centres of the corner cells
        for (int r = 0; r < n; r++)
            for (int c = 0; c < n; c++)
            {
                var text = plot.Add.Text(confusion[r, c].ToString(), c, r);
                text.LabelFontName = font.Value;
                text.LabelFontSize = 13;
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontColor = shares[r, c] > 2.2 ? Colors.White : Colors.Black;
            }
        double[] ticks = Enumerable.Range(0, n).Select(i => (double)i).ToArray();
        string[] labels = classes.ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks, labels);
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks, labels);
        plot.Axes.SetLimits(-0.5, n - 0.5, n - 0.5, -0.5);
        plot.XLabel("predicted class");
        plot.YLabel("true class");
        plot.Font.Set(font.Value);
        return plot.GetImageBytes(620, 600, ImageFormat.Png);
    }

    static double[,] Negated(double[,] values)
    {
        var negated = new double[values.GetLength(0), values.GetLength(1)];
        for (int r = 0; r < values.GetLength(0); r++)
            for (int c = 0; c < values.GetLength(1); c++) negated[r, c] = -values[r, c];
        return negated;
    }

    static Plot LinePlot(string title, string xLabel, (string Name, double[] X, IReadOnlyList<double> Values)[] series, Alignment legend)
    {
        var plot = NewPlot(title);
        double[] x = [.. series.SelectMany(s => s.X).Distinct().Order()];
        foreach (var (name, xs, values) in series)
        {
            var line = plot.Add.Scatter(xs, values.ToArray());
            line.LegendText = name;
            line.MarkerSize = 6;
            line.LineWidth = 2;
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(x, x.Select(v => v.ToString("0")).ToArray());
        plot.XLabel(xLabel);
        plot.ShowLegend(legend);
        plot.Font.Set(font.Value);
        plot.Legend.FontName = font.Value;
        return plot;
    }

    static Plot NewPlot(string title)
    {
        var plot = new Plot();
        plot.Title(title);
        return plot;
    }

    static byte[] SideBySide(Plot left, Plot right, int width, int height)
    {
        using var surface = SKSurface.Create(new SKImageInfo(width * 2, height));
        surface.Canvas.Clear(SKColors.White);
        foreach (var (plot, x) in new[] { (left, 0), (right, width) })
        {
            using var image = SKImage.FromEncodedData(plot.GetImageBytes(width, height, ImageFormat.Png));
            surface.Canvas.DrawImage(image, x, 0);
        }
        using var snapshot = surface.Snapshot();
        using var png = snapshot.Encode(SKEncodedImageFormat.Png, 100);
        return png.ToArray();
    }
}
