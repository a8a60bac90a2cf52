#!/usr/bin/env python3
"""The pictures of docs/likelihood.md: an MNIST test digit, the same digit with a stroke added
and with a block of noise, and their per-pixel likelihood maps from `spcnn likelihood`, side by
side. Standard library only; runs the spcnn program of a build.

    scripts/likelihood-pictures.py [--spcnn build/examples/spcnn] [--model models/mnist.spcnn]
        [--data data/mnist] [--index 0] [--max-bits 16] [--work out/likelihood]
        [--out docs/images]

The three 28 x 28 inputs, their maps and CSV files go to WORK ({clean,stroke,noise}.png,
-map.png, .csv); OUT/likelihood-{clean,stroke,noise}.png get the input and its map side by
side, each pixel drawn 8 x 8. Prints each command with what it printed, then the bits of the
changed pixels in each image.
"""

import argparse
import os
import random
import struct
import subprocess
import sys
import zlib

ZOOM = 8
GAP = 8  # mid-gray columns between the input and its map


def read_idx_image(path, index):
    with open(path, "rb") as f:
        magic, count, h, w = struct.unpack(">IIII", f.read(16))
        if magic != 0x803 or not 0 <= index < count:
            sys.exit("%s: not an IDX image file with image %d" % (path, index))
        f.seek(16 + index * h * w)
        return h, w, bytearray(f.read(h * w))


def png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def write_png(path, h, w, channels, data):
    """8-bit gray (channels 1) or RGB (3), no filter."""
    stride = w * channels
    raw = b"".join(b"\0" + bytes(data[r * stride:(r + 1) * stride]) for r in range(h))
    kind = 0 if channels == 1 else 2
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n"
                + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, kind, 0, 0, 0))
                + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def read_png_rgb(path):
    """An 8-bit gray or RGB PNG without interlacing (what spcnn writes) as (h, w, RGB bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit("%s: not a PNG file" % path)
    pos, idat, h = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            w, h, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or color not in (0, 2) or interlace:
                sys.exit("%s: not an 8-bit gray or RGB PNG" % path)
            channels = 1 if color == 0 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), w * channels
    out, prev = bytearray(), bytearray(stride)
    for r in range(h):
        start = r * (stride + 1)
        ftype, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line
        prev = line
    if channels == 1:
        out = bytearray(v for v in out for _ in range(3))
    return h, w, out


def add_stroke(img, w, y0, x0, y1, x1, width=1.0):
    """A soft line from (y0, x0) to (y1, x1), as a pen stroke of MNIST looks."""
    for r in range(len(img) // w):
        for c in range(w):
            dy, dx = y1 - y0, x1 - x0
            t = max(0.0, min(1.0, ((r - y0) * dy + (c - x0) * dx) / float(dy * dy + dx * dx)))
            d = ((r - y0 - t * dy) ** 2 + (c - x0 - t * dx) ** 2) ** 0.5
            v = int(round(255 * max(0.0, min(1.0, width + 0.5 - d))))
            img[r * w + c] = max(img[r * w + c], v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spcnn", default="build/examples/spcnn")
    ap.add_argument("--model", default="models/mnist.spcnn")
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--index", type=int, default=0, help="test digit (in file order)")
    ap.add_argument("--max-bits", default="16", help="the common top of the maps' scale")
    ap.add_argument("--work", default="out/likelihood")
    ap.add_argument("--out", default="docs/images")
    args = ap.parse_args()

    h, w, clean = read_idx_image(os.path.join(args.data, "t10k-images-idx3-ubyte"), args.index)
    stroke = bytearray(clean)
    add_stroke(stroke, w, 16, 2, 22, 7)
    noise = bytearray(clean)
    rng = random.Random(1)
    block = [(r, c) for r in range(19, 25) for c in range(3, 9)]
    for r, c in block:
        noise[r * w + c] = rng.randrange(256)
    images = (("clean", clean), ("stroke", stroke), ("noise", noise))
    changed = {name: [i for i in range(h * w) if img[i] != clean[i]] for name, img in images}

    maps = {}
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    for name, img in images:
        src = os.path.join(args.work, name + ".png")
        heat = os.path.join(args.work, name + "-map.png")
        csv = os.path.join(args.work, name + ".csv")
        write_png(src, h, w, 1, img)
        cmd = [args.spcnn, "likelihood", "--model", args.model, "--in", src, "--out", heat,
               "--csv", csv, "--zoom", str(ZOOM), "--max-bits", args.max_bits]
        print("$ " + " ".join(cmd))
        done = subprocess.run(cmd, capture_output=True, text=True)
        sys.stdout.write(done.stdout)
        if done.returncode != 0:
            sys.exit(done.stderr)
        with open(csv) as f:
            maps[name] = [float(v) for line in f for v in line.split(",")]
        mh, mw, rgb = read_png_rgb(heat)
        # input (nearest neighbour, ZOOM x ZOOM per pixel) | gap | map
        width = 2 * w * ZOOM + GAP
        panel = bytearray()
        for r in range(mh):
            row = bytearray()
            for c in range(w):
                row += bytes([img[(r // ZOOM) * w + c]] * 3) * ZOOM
            row += bytes([128, 128, 128]) * GAP
            row += rgb[r * mw * 3:(r + 1) * mw * 3]
            panel += row
        out = os.path.join(args.out, "likelihood-%s.png" % name)
        write_png(out, mh, width, 3, panel)
        print("wrote %s" % out)

    print("\nbits of the changed pixels (and of the same pixels of the clean digit):")
    for name, _ in images[1:]:
        idx = changed[name]
        print("  %-6s %3d pixels: %8.2f bits (clean: %.2f); rest of the image: %.2f bits "
              "(clean: %.2f)" % (
                  name, len(idx), sum(maps[name][i] for i in idx),
                  sum(maps["clean"][i] for i in idx),
                  sum(maps[name]) - sum(maps[name][i] for i in idx),
                  sum(maps["clean"]) - sum(maps["clean"][i] for i in idx)))


if __name__ == "__main__":
    main()
