#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Converts MediaPipe's FaceMesh .tflite to ONNX and checks the result numerically.

Run by scripts/fetch_assets.py with the Python of <cache>/tools-venv (tflite2onnx,
onnx, numpy, onnxruntime, all pinned in models/manifest.toml). PRelu and channel padding
are rewritten as equivalents that ONNX Runtime runs in its fast convolution layout (see
`nchwc_friendly`). Converted ONNX files are not byte-stable across runs, so instead of
a sha256 the output is checked by running it in onnxruntime on a real face crop and
comparing output statistics with the values recorded in the manifest.

  convert_facemesh.py --tflite IN --out OUT --check JSON   convert, then check OUT
  convert_facemesh.py --onnx MODEL --check JSON [--print]  only check (or print stats)

JSON is the manifest entry's `check` table: image (PNG path; a relative one is taken
from the cache dir), crop [x0,y0,x1,y1] (end exclusive), size, range ([0,1] or [-1,1]),
rtol, atol and the expected values; fetch_assets.py adds the manifest's signature,
which the model's input/output names and shapes must match. Exits non-zero with a
message on any failure (OUT may then be left for the caller to delete).
"""
import argparse
import json
import os
import re
import struct
import sys
import zlib

import numpy as np


def fail(msg: str):
    sys.exit(f"convert_facemesh: {msg}")


def read_png_rgb(path: str) -> np.ndarray:
    """Minimal PNG decoder (8-bit RGB/RGBA, non-interlaced) using zlib and numpy."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path} is not a PNG")
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace != 0:
        fail(f"{path}: unsupported PNG (depth {depth}, color type {ctype}, interlace {interlace})")
    bpp = 3 if ctype == 2 else 4
    stride = w * bpp
    raw = zlib.decompress(b"".join(idat))
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        if f == 0:
            cur = line
        elif f == 2:
            cur = (line + prev) & 0xFF
        elif f in (1, 3, 4):
            # Sub, Average and Paeth depend on the byte to the left: one at a time.
            ln, b, cl = line.tolist(), prev.tolist(), [0] * stride
            for i in range(stride):
                a = cl[i - bpp] if i >= bpp else 0
                if f == 1:
                    pred = a
                elif f == 3:
                    pred = (a + b[i]) >> 1
                else:
                    c = b[i - bpp] if i >= bpp else 0
                    pa, pb, pc = abs(b[i] - c), abs(a - c), abs(a + b[i] - 2 * c)
                    pred = a if (pa <= pb and pa <= pc) else (b[i] if pb <= pc else c)
                cl[i] = (ln[i] + pred) & 0xFF
            cur = np.array(cl, np.int32)
        else:
            fail(f"{path}: bad PNG filter {f}")
        out[y] = cur
        prev = cur
    return out.reshape(h, w, bpp)[:, :, :3]


def make_input(check: dict, value_range: str = None) -> np.ndarray:
    """The face crop as the model's NCHW float input."""
    image = check["image"]
    if not os.path.isabs(image):
        cache = os.environ.get("GST_PORTRAIT_CACHE_DIR") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gst-portrait")
        image = os.path.join(cache, image)
    img = read_png_rgb(image)
    x0, y0, x1, y1 = check["crop"]
    size = check["size"]
    crop = img[y0:y1, x0:x1]
    # Nearest-neighbour resize, sampling at pixel centres.
    ys = ((np.arange(size) + 0.5) * (y1 - y0) / size).astype(np.int64)
    xs = ((np.arange(size) + 0.5) * (x1 - x0) / size).astype(np.int64)
    crop = crop[ys][:, xs].astype(np.float32)
    rng = value_range or check["range"]
    if rng == "[0,1]":
        x = crop / 255.0
    elif rng == "[-1,1]":
        x = crop / 127.5 - 1.0
    else:
        fail(f"unknown range {rng}")
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def run_model(path: str, x: np.ndarray) -> dict:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(None, {s.get_inputs()[0].name: x})))


def model_io(path: str):
    """[(name, shape)] of the inputs and of the outputs, as onnxruntime sees them
    (a symbolic dimension as -1)."""
    import onnxruntime as ort
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    dims = lambda shape: [d if isinstance(d, int) else -1 for d in shape]  # noqa: E731
    return ([(i.name, dims(i.shape)) for i in s.get_inputs()],
            [(o.name, dims(o.shape)) for o in s.get_outputs()])


def parse_signature(sig: str):
    """'in [1,3,4,4] words -> out1 [1,2] words, out2 [3]' -> ([(name, shape)], [...]):
    each name starts the signature or follows a comma."""
    def io(part):
        return [(n, [int(d) for d in dims.split(",")])
                for n, dims in re.findall(r"(?:^|,)\s*([A-Za-z_][\w.:/-]*) \[([\d, ]+)\]", part)]
    left, _, right = sig.partition("->")
    return io(left), io(right)


def fmt_io(ios) -> str:
    return ", ".join(f"{n} [{','.join(map(str, s))}]" for n, s in ios)


def stats(out: dict, check: dict) -> dict:
    lm = out[check["landmarks_output"]].reshape(-1)
    if lm.size != 1404:
        fail(f"landmark output has {lm.size} values, want 1404")
    pts = lm.reshape(468, 3)
    st = {
        "presence": float(out[check["presence_output"]].reshape(-1)[0]),
        "mean": float(lm.mean()),
        "std": float(lm.std()),
    }
    for k in check["points"]:
        st[f"p{k}"] = [float(v) for v in pts[int(k)]]
    return st


def compare(got: dict, check: dict):
    rtol, atol = check["rtol"], check["atol"]
    bad = []
    want = dict(check.get("expected", {}))
    if not want:
        fail("the check has no expected values")
    for key, w in want.items():
        g = got.get(key)
        gl = g if isinstance(g, list) else [g]
        wl = w if isinstance(w, list) else [w]
        if g is None or len(gl) != len(wl) or any(
                abs(a - b) > atol + rtol * abs(b) for a, b in zip(gl, wl)):
            bad.append(f"{key}: got {g}, want {w}")
    if bad:
        fail("numerical check failed (rtol %g, atol %g):\n  %s" % (rtol, atol, "\n  ".join(bad)))


def channel_counts(model) -> dict:
    """Tensor name -> channel count of every 4-D tensor ONNX shape inference can size."""
    from onnx import shape_inference

    g = shape_inference.infer_shapes(model).graph
    counts = {}
    for v in list(g.value_info) + list(g.input):
        dims = v.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[1].dim_value > 0:
            counts[v.name] = dims[1].dim_value
    return counts


def drop_unused_initializers(graph):
    """Removes the initializers no node of `graph` reads any more."""
    used = {i for n in graph.node for i in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def nchwc_friendly(path: str):
    """Rewrites the model at `path` so that ONNX Runtime's CPU backend keeps it in its
    blocked (NCHWc) convolution layout from end to end; the values stay the same to
    within float rounding (< 1e-4 px on the landmarks).

    ONNX Runtime's NCHWc kernels cover Conv (with a fused Relu and a fused Add), Relu,
    MaxPool and Add of two blocked tensors, but neither PRelu nor a Mul by a per-channel
    constant nor Pad: each of those reorders its input back to NCHW and its output to
    NCHWc again. So:
    - PRelu(x, a) = x + (1 − a)·Relu(−x) = x + DW(Relu(DW(x, −1)), 1 − a), where DW is
      a 1x1 depthwise convolution (a per-channel scale): ONNX Runtime fuses the Relu
      into the first DW and the Add into the second, so a PRelu costs two small
      convolutions and nothing else;
    - the channel padding before a residual Add (zeros appended to the channels) is a
      1x1 convolution by an identity with zero rows.
    Measured with onnxruntime 1.31.1, one thread: FaceMesh 1.55 → 1.11 ms, Iris (both
    eyes) 3.12 → 2.20 ms per run with the first form of this rewrite, Relu(x) +
    DW(Relu(DW(x, −1)), −a), whose separate Relu and Add the form above saves: FaceMesh
    0.94 → 0.83 ms, Iris 1.91 → 1.72, attention mesh 2.43 → 2.04 (p50, taking turns).
    (The very first, Relu(x) + a·(x − Relu(x)), was 3× faster than PRelu itself but
    still left every block in NCHW.)"""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(path)
    channels = channel_counts(m)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    nodes, extra = [], []

    def const(name, value):
        extra.append(numpy_helper.from_array(value.astype(np.float32), name))
        return name

    for n in m.graph.node:
        if n.op_type == "PRelu" and n.input[1] in inits and n.input[0] in channels:
            x, y = n.input[0], n.output[0]
            c = channels[x]
            slope = inits[n.input[1]]
            if slope.size not in (1, c):
                fail(f"PRelu {n.name}: slope shape {slope.shape} for {c} channels")
            a = np.broadcast_to(slope.reshape(-1), (c,))
            nodes += [
                helper.make_node("Conv", [x, const(y + "_negw", -np.ones((c, 1, 1, 1)))],
                                 [y + "_negx"], name=n.name + "_negx", group=c,
                                 kernel_shape=[1, 1]),
                helper.make_node("Relu", [y + "_negx"], [y + "_negr"], name=n.name + "_negr"),
                helper.make_node("Conv", [y + "_negr", const(y + "_slope", (1 - a).reshape(c, 1, 1, 1))],
                                 [y + "_neg"], name=n.name + "_neg", group=c,
                                 kernel_shape=[1, 1]),
                helper.make_node("Add", [x, y + "_neg"], [y], name=n.name + "_add"),
            ]
            continue
        if n.op_type == "Pad" and len(n.input) > 1 and n.input[1] in inits \
                and n.input[0] in channels:
            pads = inits[n.input[1]].astype(np.int64)
            mode = next((a.s for a in n.attribute if a.name == "mode"), b"constant")
            value = inits.get(n.input[2]) if len(n.input) > 2 and n.input[2] else None
            if (len(pads) == 8 and mode == b"constant" and (value is None or not value.any())
                    and pads[1] == 0 and not pads[[0, 2, 3, 4, 6, 7]].any()):
                c = channels[n.input[0]]
                w = np.zeros((c + int(pads[5]), c, 1, 1))
                w[np.arange(c), np.arange(c)] = 1.0
                nodes.append(helper.make_node(
                    "Conv", [n.input[0], const(n.output[0] + "_padw", w)], list(n.output),
                    name=n.name + "_as_conv", kernel_shape=[1, 1]))
                continue
        nodes.append(n)
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    m.graph.initializer.extend(extra)
    drop_unused_initializers(m.graph)
    onnx.checker.check_model(m)
    onnx.save(m, path)


def tflite2onnx_convert(tflite: str, out: str):
    """tflite2onnx, then the NCHWc rewrite: FaceMesh's and Iris's conversion."""
    try:
        import tflite2onnx
        tflite2onnx.convert(tflite, out)
    except SystemExit:
        raise
    except Exception as e:  # tflite2onnx raises plain exceptions and asserts
        fail(f"tflite2onnx failed on {tflite}: {type(e).__name__}: {e}")
    nchwc_friendly(out)


def arguments():
    """The converters' command line (see the module docs)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--tflite")
    ap.add_argument("--out")
    ap.add_argument("--onnx")
    ap.add_argument("--check", required=True, help="the manifest's check table as JSON")
    ap.add_argument("--print", action="store_true", help="print the check's values instead")
    return ap.parse_args()


def prepare(args, need, convert=tflite2onnx_convert):
    """Shared by the converters: reads the check table (failing if it lacks a key of
    `need`, plus rtol/atol/expected unless printing), converts --tflite to --out (or
    takes --onnx), and checks the model's signature against the table's. Returns
    (check, model path, inputs, outputs). `convert(tflite, out)` makes the ONNX file."""
    check = json.loads(args.check)
    need = list(need)
    if not args.print:
        need += ["rtol", "atol", "expected"]
    missing = [k for k in need if k not in check]
    if missing:
        fail(f"the check table lacks {', '.join(missing)}")

    model = args.onnx
    if args.tflite:
        if not args.out:
            fail("--tflite needs --out")
        convert(args.tflite, args.out)
        model = args.out
    if not model:
        fail("need --tflite/--out or --onnx")

    ins, outs = model_io(model)
    if check.get("signature"):
        want_ins, want_outs = parse_signature(check["signature"])
        if (ins, outs) != (want_ins, want_outs):
            fail(f"signature mismatch: model has {fmt_io(ins)} -> {fmt_io(outs)}, "
                 f"manifest says {fmt_io(want_ins)} -> {fmt_io(want_outs)}")
    return check, model, ins, outs


def main():
    args = arguments()
    check, model, ins, outs = prepare(
        args, ["image", "crop", "size", "range", "landmarks_output", "presence_output", "points"])
    if args.print:
        print(f"signature: {fmt_io(ins)} -> {fmt_io(outs)}")
        for rng in ("[0,1]", "[-1,1]"):
            print(rng, json.dumps(stats(run_model(model, make_input(check, rng)), check)))
        return
    got = stats(run_model(model, make_input(check)), check)
    compare(got, check)
    print(f"convert_facemesh: check passed: presence logit {got['presence']:.4f}, "
          f"mean {got['mean']:.4f}, std {got['std']:.4f}")


if __name__ == "__main__":
    main()
