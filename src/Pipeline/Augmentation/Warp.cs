using System.Runtime.CompilerServices;

namespace Pipeline.Augmentation;

/// <summary>
/// An affine map from output pixel to source position, in pixel-index coordinates (pixel centres at integers):
/// <c>source = (A·x + B·y + C, D·x + E·y + F)</c>.
/// </summary>
public readonly record struct Affine(double A, double B, double C, double D, double E, double F)
{
    /// <summary>The linear map <c>[[m00, m01], [m10, m11]]</c> about the image centre.</summary>
    public static Affine AboutCentre(int width, int height, double m00, double m01, double m10, double m11)
    {
        double cx = (width - 1) / 2.0, cy = (height - 1) / 2.0;
        return new(m00, m01, cx - m00 * cx - m01 * cy, m10, m11, cy - m10 * cx - m11 * cy);
    }

    /// <summary>Output rotated counter-clockwise by <paramref name="degrees"/> (as on screen, y pointing down).</summary>
    public static Affine Rotation(int width, int height, double degrees)
    {
        double r = degrees * Math.PI / 180, cos = Math.Cos(r), sin = Math.Sin(r);
        return AboutCentre(width, height, cos, -sin, sin, cos);
    }

    /// <summary>Shows the source rectangle (x, y, width, height; pixel edges) stretched over the whole output.</summary>
    public static Affine FromRectangle(int width, int height, double x, double y, double cropWidth, double cropHeight)
    {
        double sx = cropWidth / width, sy = cropHeight / height;
        return new(sx, 0, x + 0.5 * sx - 0.5, 0, sy, y + 0.5 * sy - 0.5);
    }
}

/// <summary>
/// Resampling kernels on 8-bit images of one or more channel planes (C×H×W): bilinear interpolation at the source
/// position of every output pixel, the same position in every channel, the background value outside the source; and
/// the exact quarter turns and flips, which move pixels without sampling.
/// </summary>
public static class Warp
{
    public static void Apply(byte[] source, byte[] target, int width, int height, int channels, in Affine map, byte background)
    {
        float a = (float)map.A, b = (float)map.B, c = (float)map.C, d = (float)map.D, e = (float)map.E, f = (float)map.F;
        for (int y = 0, i = 0; y < height; y++)
        {
            float rowX = b * y + c, rowY = e * y + f;
            for (int x = 0; x < width; x++, i++)
                SampleAll(source, target, i, width, height, channels, rowX + a * x, rowY + d * x, background);
        }
    }

    /// <summary>A perspective map (homography h, h[8] = 1) from output to source, in pixel-edge coordinates.</summary>
    public static void Perspective(byte[] source, byte[] target, int width, int height, int channels, ReadOnlySpan<double> h, byte background)
    {
        for (int y = 0, i = 0; y < height; y++)
        {
            double ey = y + 0.5;
            for (int x = 0; x < width; x++, i++)
            {
                double ex = x + 0.5, w = h[6] * ex + h[7] * ey + 1;
                SampleAll(source, target, i, width, height, channels, (float)((h[0] * ex + h[1] * ey + h[2]) / w - 0.5),
                    (float)((h[3] * ex + h[4] * ey + h[5]) / w - 0.5), background);
            }
        }
    }

    /// <summary>
    /// The homography taking each of four points <paramref name="from"/> to the matching point <paramref name="to"/>
    /// (x0, y0, x1, y1, …), by Gaussian elimination on the 8×8 system.
    /// </summary>
    public static void SolveHomography(ReadOnlySpan<double> from, ReadOnlySpan<double> to, Span<double> h)
    {
        Span<double> m = stackalloc double[8 * 9];
        for (int k = 0; k < 4; k++)
        {
            double x = from[2 * k], y = from[2 * k + 1], X = to[2 * k], Y = to[2 * k + 1];
            Span<double> r1 = m.Slice(2 * k * 9, 9), r2 = m.Slice((2 * k + 1) * 9, 9);
            r1[0] = x; r1[1] = y; r1[2] = 1; r1[3] = r1[4] = r1[5] = 0; r1[6] = -X * x; r1[7] = -X * y; r1[8] = X;
            r2[0] = r2[1] = r2[2] = 0; r2[3] = x; r2[4] = y; r2[5] = 1; r2[6] = -Y * x; r2[7] = -Y * y; r2[8] = Y;
        }
        for (int col = 0; col < 8; col++)
        {
            int pivot = col;
            for (int r = col + 1; r < 8; r++)
                if (Math.Abs(m[r * 9 + col]) > Math.Abs(m[pivot * 9 + col])) pivot = r;
            if (pivot != col)
                for (int k = 0; k < 9; k++) (m[col * 9 + k], m[pivot * 9 + k]) = (m[pivot * 9 + k], m[col * 9 + k]);
            for (int r = 0; r < 8; r++)
            {
                if (r == col) continue;
                double factor = m[r * 9 + col] / m[col * 9 + col];
                for (int k = col; k < 9; k++) m[r * 9 + k] -= factor * m[col * 9 + k];
            }
        }
        for (int r = 0; r < 8; r++) h[r] = m[r * 9 + 8] / m[r * 9 + r];
        h[8] = 1;
    }

    /// <summary>
    /// Augmentor's grid distortion: the image is cut into grid cells whose shared corners move by
    /// (<paramref name="dx"/>, <paramref name="dy"/>) ((gridWidth+1)·(gridHeight+1) vertices, row by row); inside a
    /// cell the displacement is interpolated bilinearly, as PIL's MESH transform does.
    /// </summary>
    public static void Mesh(Canvas canvas, int gridWidth, int gridHeight, ReadOnlySpan<float> dx, ReadOnlySpan<float> dy)
    {
        int width = canvas.Width, height = canvas.Height;
        Cells(width, gridWidth, canvas.ColumnCell, canvas.ColumnAt);
        Cells(height, gridHeight, canvas.RowCell, canvas.RowAt);
        byte[] source = canvas.Pixels, target = canvas.Spare;
        int stride = gridWidth + 1;
        for (int y = 0, i = 0; y < height; y++)
        {
            int row = canvas.RowCell[y] * stride;
            float v = canvas.RowAt[y];
            for (int x = 0; x < width; x++, i++)
            {
                int k = row + canvas.ColumnCell[x];
                float u = canvas.ColumnAt[x];
                float mx = Lerp(Lerp(dx[k], dx[k + 1], u), Lerp(dx[k + stride], dx[k + stride + 1], u), v);
                float my = Lerp(Lerp(dy[k], dy[k + 1], u), Lerp(dy[k + stride], dy[k + stride + 1], u), v);
                SampleAll(source, target, i, width, height, canvas.Channels, x + mx, y + my, canvas.Background);
            }
        }
        canvas.Swap();
    }

    /// <summary>Augmentor's cells: <c>floor(size / cells)</c> pixels each, the last one takes the rest.</summary>
    static void Cells(int size, int cells, int[] cell, float[] at)
    {
        int step = size / cells;
        for (int p = 0; p < size; p++)
        {
            int c = Math.Min(p / step, cells - 1), start = c * step, end = c == cells - 1 ? size : start + step;
            cell[p] = c;
            at[p] = (p + 0.5f - start) / (end - start);
        }
    }

    static float Lerp(float a, float b, float t) => a + (b - a) * t;

    /// <summary>Output pixel <paramref name="i"/> of every channel plane, sampled at (x, y) of the same plane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void SampleAll(byte[] source, byte[] target, int i, int width, int height, int channels, float x, float y, byte background)
    {
        int plane = width * height;
        for (int c = 0, offset = 0; c < channels; c++, offset += plane)
            target[offset + i] = Sample(source, offset, width, height, x, y, background);
    }

    /// <summary>
    /// Bilinear interpolation at (x, y) in the plane starting at <paramref name="offset"/>; neighbours outside the image
    /// count as the background.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static byte Sample(byte[] source, int offset, int width, int height, float x, float y, byte background)
    {
        if (!(x > -1 && y > -1 && x < width && y < height)) return background; // also NaN
        float fx0 = MathF.Floor(x), fy0 = MathF.Floor(y);
        int x0 = (int)fx0, y0 = (int)fy0;
        float fx = x - fx0, fy = y - fy0;
        int p00, p10, p01, p11;
        if ((uint)x0 < (uint)(width - 1) && (uint)y0 < (uint)(height - 1))
        {
            int i = offset + y0 * width + x0;
            (p00, p10, p01, p11) = (source[i], source[i + 1], source[i + width], source[i + width + 1]);
        }
        else
        {
            p00 = At(source, offset, width, height, x0, y0, background);
            p10 = At(source, offset, width, height, x0 + 1, y0, background);
            p01 = At(source, offset, width, height, x0, y0 + 1, background);
            p11 = At(source, offset, width, height, x0 + 1, y0 + 1, background);
        }
        float top = p00 + (p10 - p00) * fx, bottom = p01 + (p11 - p01) * fx;
        return (byte)(top + (bottom - top) * fy + 0.5f);
    }

    static int At(byte[] source, int offset, int width, int height, int x, int y, byte background) =>
        (uint)x < (uint)width && (uint)y < (uint)height ? source[offset + y * width + x] : background;

    // Exact moves, plane by plane: out(x, y) = in(…); quarter turns are counter-clockwise and need a square image.

    public static void Rotate90(byte[] source, byte[] target, int size, int channels)
    {
        for (int c = 0, o = 0; c < channels; c++, o += size * size)
            for (int y = 0, i = o; y < size; y++)
                for (int x = 0; x < size; x++, i++)
                    target[i] = source[o + x * size + (size - 1 - y)];
    }

    public static void Rotate270(byte[] source, byte[] target, int size, int channels)
    {
        for (int c = 0, o = 0; c < channels; c++, o += size * size)
            for (int y = 0, i = o; y < size; y++)
                for (int x = 0; x < size; x++, i++)
                    target[i] = source[o + (size - 1 - x) * size + y];
    }

    /// <summary>Every plane reversed in place of itself: the image read backwards, channel order kept.</summary>
    public static void Rotate180(byte[] source, byte[] target, int channels)
    {
        source.CopyTo(target, 0);
        int plane = source.Length / channels;
        for (int c = 0; c < channels; c++) Array.Reverse(target, c * plane, plane);
    }

    /// <summary>Each row of every plane reversed.</summary>
    public static void FlipLeftRight(byte[] source, byte[] target, int width, int height, int channels)
    {
        for (int row = 0; row < channels * height; row++)
        {
            source.AsSpan(row * width, width).CopyTo(target.AsSpan(row * width, width));
            Array.Reverse(target, row * width, width);
        }
    }

    public static void FlipTopBottom(byte[] source, byte[] target, int width, int height, int channels)
    {
        for (int c = 0, o = 0; c < channels; c++, o += width * height)
            for (int y = 0; y < height; y++)
                source.AsSpan(o + (height - 1 - y) * width, width).CopyTo(target.AsSpan(o + y * width, width));
    }
}
