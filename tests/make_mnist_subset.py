#!/usr/bin/python3
"""Writes the first images of MNIST as a dataset of their own: its IDX files (gzip) and a definition pinning them, for a
study or a check that must train in seconds.

  make_mnist_subset.py SOURCE OUT --train N --test N     (SOURCE: a folder with MNIST's four .gz files)

Writes OUT/*.gz and OUT/mnist-subset.json (give it as --set download.dataset=OUT/mnist-subset.json --mirror=OUT)."""
import argparse
import gzip
import hashlib
import json
import os
import struct

parser = argparse.ArgumentParser()
parser.add_argument("source")
parser.add_argument("out")
parser.add_argument("--train", type=int, required=True)
parser.add_argument("--test", type=int, required=True)
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
files = {}
for prefix, count in (("train", args.train), ("t10k", args.test)):
    for kind, header, size in (("images", 16, 28 * 28), ("labels", 8, 1)):
        name = f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz"
        with gzip.open(os.path.join(args.source, name)) as f:
            raw = bytearray(f.read(header + count * size))
        if struct.unpack(">i", raw[4:8])[0] < count:
            raise SystemExit(f"make_mnist_subset.py: {name} holds fewer than {count} items")
        raw[4:8] = struct.pack(">i", count)
        packed = gzip.compress(bytes(raw), mtime=0)
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(packed)
        files[name] = {"size": len(packed), "sha256": hashlib.sha256(packed).hexdigest()}
definition = {
    "name": "mnist-subset", "title": f"the first {args.train} training and {args.test} test images of MNIST", "mirrors": [],
    "classes": [str(i) for i in range(10)],
    "splits": {"train": {"images": "train-images-idx3-ubyte.gz", "labels": "train-labels-idx1-ubyte.gz"},
               "test": {"images": "t10k-images-idx3-ubyte.gz", "labels": "t10k-labels-idx1-ubyte.gz"}},
    "files": files,
}
with open(os.path.join(args.out, "mnist-subset.json"), "w") as f:
    json.dump(definition, f, indent=2)
