#!/usr/bin/python3
"""Writes a folder dataset of real images for the tests and CI: Fashion-MNIST images as colour JPEG, PNG, BMP, GIF and
WebP files of mixed sizes (28, 40, 56 px and 56x40), tinted so that they are really colour, one folder per class
(ImageFolder's layout), optionally with train/ and test/ split folders and a few broken files. Written with PIL, not
with the pipeline's own Skia code, so reading them back checks the pipeline against another library.

  make_folder_dataset.py OUT [--per-class N] [--first K] [--layout hash|folders] [--broken] [--all] [--formats png,jpg]
                          [--bombs 20000,20000,30000]

--all writes every image of both IDX splits (70,000) instead, as the formats given (for measuring Verify's memory).
--bombs adds decompression bombs: valid black gray PNG files of SIZE x SIZE pixels each (about 390 KB for 20000), written
without ever holding the decoded image.
Needs Debian's python3-pil (apt-get install -y python3-pil)."""
import argparse
import gzip
import os
import struct
import sys
import zlib

from PIL import Image

CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
SIZES = [(28, 28), (40, 40), (56, 56), (56, 40)]
# (object, background) colours: the garment is drawn in the first over the second.
TINTS = [((255, 200, 40), (10, 20, 90)), ((40, 220, 255), (80, 10, 10)), ((255, 90, 200), (0, 60, 20)), ((200, 255, 120), (40, 0, 60))]


def read_idx(path, dimensions):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">i", data[:4])[0]
    if magic != 0x800 | dimensions:
        sys.exit(f"{path}: magic {magic:#x} is not an IDX file of {dimensions} dimensions")
    dims = struct.unpack(f">{dimensions}i", data[4:4 + 4 * dimensions])
    return dims, data[4 + 4 * dimensions:]


def colour(pixels, index):
    """A 28x28 gray image as RGB: each pixel mixes the tint's two colours by its gray value."""
    gray = Image.frombytes("L", (28, 28), bytes(pixels))
    tint = TINTS[index % len(TINTS)]
    return Image.merge("RGB", [gray.point([(f * v + b * (255 - v)) // 255 for v in range(256)]) for f, b in zip(*tint)])


def save(image, path, form):
    if form == "jpg":
        image.save(path, "JPEG", quality=90)
    elif form == "gif":
        image.convert("P", palette=Image.ADAPTIVE).save(path, "GIF")
    elif form == "webp":
        image.save(path, "WEBP", lossless=True)
    else:
        image.save(path, {"png": "PNG", "bmp": "BMP"}[form])


def bomb(size):
    """A valid PNG of size x size black gray pixels, compressed a row at a time (never the whole image in memory)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    compressor, row, idat = zlib.compressobj(9), bytes(size + 1), []  # each row: filter type 0, then the pixels
    for _ in range(size):
        idat.append(compressor.compress(row))
    idat.append(compressor.flush())
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(idat)) + chunk(b"IEND", b"")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--source", help="the Fashion-MNIST IDX files (default: ../shared/datasets/fashion-mnist beside the repository)")
    parser.add_argument("--per-class", type=int, default=20, help="images of each class (from the IDX test split)")
    parser.add_argument("--first", type=int, default=0, help="skip this many images of each class first")
    parser.add_argument("--layout", choices=["hash", "folders"], default="hash", help="folders: the first 80%% of each class in train/, the rest in test/")
    parser.add_argument("--broken", action="store_true", help="add a truncated JPEG (Bag/) and a text file named .png (Coat/)")
    parser.add_argument("--all", action="store_true", help="every image of both IDX splits, for measuring memory")
    parser.add_argument("--bombs", default="", help="comma-separated sizes: one decompression-bomb PNG of SIZE x SIZE pixels each")
    parser.add_argument("--formats", default="png,jpg,png,jpg,bmp,gif,webp", help="file formats, cycled over the images")
    args = parser.parse_args()
    formats = args.formats.split(",")
    if args.source is None:
        args.source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "datasets", "fashion-mnist")

    splits = [("train", "train"), ("t10k", "test")] if args.all else [("t10k", "test")]
    written = 0
    for prefix, split in splits:
        (count, rows, columns), images = read_idx(os.path.join(args.source, f"{prefix}-images-idx3-ubyte.gz"), 3)
        _, labels = read_idx(os.path.join(args.source, f"{prefix}-labels-idx1-ubyte.gz"), 1)
        seen = [0] * len(CLASSES)
        for i in range(count):
            label = labels[i]
            n = seen[label]
            seen[label] += 1
            if not args.all and not args.first <= n < args.first + args.per_class:
                continue
            folder = args.out
            if args.all and args.layout == "folders":
                folder = os.path.join(folder, split)
            elif args.layout == "folders":
                folder = os.path.join(folder, "train" if n - args.first < args.per_class * 0.8 else "test")
            folder = os.path.join(folder, CLASSES[label])
            os.makedirs(folder, exist_ok=True)
            image = colour(images[i * 784:(i + 1) * 784], i)
            size = SIZES[i % len(SIZES)]
            if size != (28, 28):
                image = image.resize(size, Image.BICUBIC)
            form = formats[i % len(formats)]
            save(image, os.path.join(folder, f"{split}-{i:05d}.{form}"), form)
            written += 1

    if args.broken:
        bag = os.path.join(args.out, "train" if args.layout == "folders" else "", "Bag")
        coat = os.path.join(args.out, "train" if args.layout == "folders" else "", "Coat")
        os.makedirs(bag, exist_ok=True)
        os.makedirs(coat, exist_ok=True)
        image = colour(bytes(range(0, 252, 9)) * 28, 1).resize((56, 56))
        path = os.path.join(bag, "broken-truncated.jpg")
        image.save(path, "JPEG", quality=95)
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[:len(data) // 2])
        with open(os.path.join(coat, "notes.png"), "w") as f:
            f.write("not an image, only named like one\n")
        written += 2
    bombs = {}
    for i, size in enumerate(int(s) for s in args.bombs.split(",") if s):
        if size not in bombs:
            bombs[size] = bomb(size)
        folder = os.path.join(args.out, "train" if args.layout == "folders" else "", CLASSES[i % len(CLASSES)])
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"bomb-{i}-{size}x{size}.png"), "wb") as f:
            f.write(bombs[size])
        written += 1
    print(f"{written} files in {args.out}")


if __name__ == "__main__":
    main()
