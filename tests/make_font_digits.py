#!/usr/bin/python3
"""Writes digits rendered from fonts as people's own images are: one folder per digit (OUT/<digit>/<n>.png|jpg), three
in four dark ink on a light page and the rest light on dark, at a random page size, glyph size, position, slant,
rotation and blur, some as JPEG. Every font is used equally, so no one font decides a figure. Seeded: the same
arguments write the same images. Written with PIL, not with the pipeline's Skia code.

  make_font_digits.py OUT [--count N] [--seed S]
  make_font_digits.py --score PREDICTIONS_CSV   accuracy per model (and per font) of Predict's answers on such a folder

Needs Debian's python3-pil and the font packages named in FONTS (fonts-dejavu-core, fonts-comic-neue,
fonts-dancingscript, fonts-kaushanscript, fonts-humor-sans)."""
import argparse
import collections
import csv
import os
import random
import sys

from PIL import Image, ImageDraw, ImageFilter, ImageFont

# (name, file, Debian package): sans, serif, comic and handwriting styles.
FONTS = [
    ("dejavu-sans", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "fonts-dejavu-core"),
    ("dejavu-serif", "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", "fonts-dejavu-core"),
    ("comic-neue", "/usr/share/fonts/opentype/comic-neue/ComicNeue-Regular.otf", "fonts-comic-neue"),
    ("dancing-script", "/usr/share/fonts/opentype/dancingscript/DancingScript-Regular.otf", "fonts-dancingscript"),
    ("kaushan-script", "/usr/share/fonts/opentype/kaushanscript/KaushanScript-Regular.otf", "fonts-kaushanscript"),
    ("humor-sans", "/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf", "fonts-humor-sans"),
]


def render(digit, font_file, rng):
    """One digit on its own page: (image, dark_on_light)."""
    width, height = rng.randint(64, 320), rng.randint(64, 320)
    dark_on_light = rng.random() < 0.75
    paper, ink = (rng.randint(190, 255), rng.randint(0, 70)) if dark_on_light else (rng.randint(0, 60), rng.randint(190, 255))
    size = int(min(width, height) * rng.uniform(0.3, 0.8))
    font = ImageFont.truetype(font_file, size)
    # The glyph drawn on a layer of its own, slanted and rotated, then pasted at a random place on the page.
    left, top, right, bottom = font.getbbox(str(digit))
    glyph = Image.new("L", (right - left + size, bottom - top + size), 0)
    ImageDraw.Draw(glyph).text((size // 2 - left, size // 2 - top), str(digit), fill=255, font=font)
    slant = rng.uniform(-0.3, 0.3)
    glyph = glyph.transform(glyph.size, Image.Transform.AFFINE, (1, slant, -slant * glyph.size[1] / 2, 0, 1, 0), Image.Resampling.BILINEAR)
    glyph = glyph.rotate(rng.uniform(-12, 12), Image.Resampling.BILINEAR, expand=True)
    glyph = glyph.crop(glyph.getbbox())
    if glyph.size[0] > width or glyph.size[1] > height:
        glyph.thumbnail((width, height), Image.Resampling.BILINEAR)
    page = Image.new("L", (width, height), paper)
    x, y = rng.randint(0, width - glyph.size[0]), rng.randint(0, height - glyph.size[1])
    page.paste(Image.new("L", glyph.size, ink), (x, y), glyph)
    if rng.random() < 0.5:
        page = page.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 2.0)))
    return page, dark_on_light


def write(out, count, seed):
    missing = [f"{file} (Debian package {package})" for _, file, package in FONTS if not os.path.exists(file)]
    if missing:
        sys.exit("make_font_digits.py: missing fonts: " + ", ".join(missing))
    rng = random.Random(seed)
    for n in range(count):
        digit = n % 10
        name, file, _ = FONTS[(n // 10) % len(FONTS)]
        page, dark_on_light = render(digit, file, rng)
        folder = os.path.join(out, str(digit))
        os.makedirs(folder, exist_ok=True)
        stem = os.path.join(folder, f"{n:04d}-{name}-{'dark' if dark_on_light else 'light'}")
        if rng.random() < 0.3:
            page.convert("RGB").save(stem + ".jpg", quality=rng.randint(60, 95))
        else:
            page.save(stem + ".png")


def score(predictions):
    """Accuracy per model and per model and font: the folder above each file is its digit."""
    right, total = collections.Counter(), collections.Counter()
    for row in csv.DictReader(open(predictions)):
        truth = os.path.basename(os.path.dirname(row["path"]))
        font = os.path.basename(row["path"]).split("-", 1)[1].rsplit("-", 1)[0]
        for key in ((row.get("model", "model"), "all"), (row.get("model", "model"), font)):
            total[key] += 1
            right[key] += row["predicted"] == truth
    for key in sorted(total):
        print(f"{key[0]:>10} {key[1]:>15}: {right[key] / total[key]:7.2%} of {total[key]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?")
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument("--seed", type=int, default=28)
    parser.add_argument("--score")
    args = parser.parse_args()
    if args.score:
        score(args.score)
    elif args.out:
        write(args.out, args.count, args.seed)
    else:
        parser.error("give OUT or --score PREDICTIONS_CSV")


if __name__ == "__main__":
    main()
