#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Converts MediaPipe's iris landmark .tflite to ONNX and checks the result numerically.

Run by scripts/fetch_assets.py with the Python of <cache>/tools-venv, like
convert_facemesh.py, whose PNG decoder, model runner, signature and comparison helpers
it uses (the manifest lists that file in the asset's `convert_uses`, so that a change
to it also redoes this conversion).

  convert_iris.py --tflite IN --out OUT --check JSON   convert, then check OUT
  convert_iris.py --onnx MODEL --check JSON [--print]  only check (or print stats)

JSON is the manifest entry's `check` table: image (PNG path; a relative one is taken
from the cache dir), crops (one [x0,y0,x1,y1] per eye, end exclusive, each
nearest-neighbour resized to size x size), flip (per crop: mirror the resized crop
left-right before inference, as done for the image-right eye), range, contour_output,
iris_output, points (contour indices to compare), rtol, atol and the expected values,
keyed by eye ("l_", "r_" for the first and second crop); fetch_assets.py adds the
manifest's signature, which the model's input/output names and shapes must match.
Values are compared as the model returns them: in the (flipped) crop's 64-px units.
"""
import json
import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_facemesh as cf  # noqa: E402


# Eyelid points of the 71-point eye contour (first 16 points: 0..8 lower lid from the
# crop-left corner to the crop-right corner, 9..15 upper lid between them). Pairs
# upper/lower: 11/3, 12/4, 13/5 (mesh 160/144, 159/145, 158/153 for the image-left eye).
UPPER = [11, 12, 13]
LOWER = [3, 4, 5]


def fail(msg: str):
    sys.exit(f"convert_iris: {msg}")


cf.fail = fail  # the shared helpers' errors then name this converter


def eye_input(img: np.ndarray, crop, size: int, flip: bool, rng: str) -> np.ndarray:
    x0, y0, x1, y1 = crop
    ys = ((np.arange(size) + 0.5) * (y1 - y0) / size).astype(np.int64) + y0
    xs = ((np.arange(size) + 0.5) * (x1 - x0) / size).astype(np.int64) + x0
    if ys.min() < 0 or xs.min() < 0 or ys.max() >= img.shape[0] or xs.max() >= img.shape[1]:
        fail(f"crop {crop} is outside the {img.shape[1]}x{img.shape[0]} image")
    x = img[ys][:, xs].astype(np.float32)
    if flip:
        x = x[:, ::-1]
    if rng == "[0,1]":
        x = x / 255.0
    elif rng == "[-1,1]":
        x = x / 127.5 - 1.0
    else:
        fail(f"unknown range {rng}")
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def stats(model: str, check: dict, rng: str) -> dict:
    image = check["image"]
    if not os.path.isabs(image):
        cache = os.environ.get("GST_PORTRAIT_CACHE_DIR") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gst-portrait")
        image = os.path.join(cache, image)
    img = cf.read_png_rgb(image)
    if len(check["crops"]) != 2 or len(check["flip"]) != 2:
        fail("the check needs two crops (l, r) and two flip flags")
    st = {}
    for eye, crop, flip in zip("lr", check["crops"], check["flip"]):
        out = cf.run_model(model, eye_input(img, crop, check["size"], bool(flip), rng))
        contour = out[check["contour_output"]].reshape(-1)
        iris = out[check["iris_output"]].reshape(-1)
        if contour.size != 213 or iris.size != 15:
            fail(f"outputs have {contour.size} and {iris.size} values, want 213 and 15")
        c, i = contour.reshape(71, 3), iris.reshape(5, 3)
        st[f"{eye}_mean"] = float(contour.mean())
        st[f"{eye}_std"] = float(contour.std())
        for k in check["points"]:
            st[f"{eye}_c{k}"] = [float(v) for v in c[int(k)]]
        st[f"{eye}_iris"] = [float(v) for v in i[0]]
        # Eyelid opening over the corner distance (open eyes ~0.3, shut ~0.05).
        gap = np.linalg.norm(c[UPPER, :2] - c[LOWER, :2], axis=1).mean()
        st[f"{eye}_open"] = float(gap / np.linalg.norm(c[0, :2] - c[8, :2]))
    return st


def batch_eyes(path: str):
    """Makes the model take any number of eye crops in one run: the batch dimension of
    the input and of both outputs becomes symbolic ("eyes"), and the two output
    reshapes keep it ([-1, 213] and [-1, 15] instead of [1, -1]). Both eyes in one run
    cost 2.79 ms instead of 3.81 for two runs of one (onnxruntime 1.31.1, one thread),
    with the same values bit for bit; one crop runs as before."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(path)
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "eyes"
    per_eye = {}
    for o in m.graph.output:
        dims = o.type.tensor_type.shape.dim
        per_eye[o.name] = dims[1].dim_value
        dims[0].dim_param = "eyes"
    for n in m.graph.node:
        if n.op_type == "Reshape" and n.output[0] in per_eye:
            name = n.output[0] + "_per_eye_shape"
            shape = np.array([-1, per_eye[n.output[0]]], dtype=np.int64)
            m.graph.initializer.append(numpy_helper.from_array(shape, name))
            n.input[1] = name
    if any(v == 0 for v in per_eye.values()) or len(per_eye) != 2:
        fail(f"unexpected outputs {per_eye}")
    # The converter's shapes of intermediate tensors say batch 1: let ONNX Runtime infer
    # them, and drop the [1, -1] shape no reshape uses any more.
    del m.graph.value_info[:]
    cf.drop_unused_initializers(m.graph)
    onnx.checker.check_model(m)
    onnx.save(m, path)


def main():
    args = cf.arguments()
    check, model, ins, outs = cf.prepare(
        args, ["image", "crops", "flip", "size", "range", "contour_output", "iris_output", "points"])
    if args.tflite:
        batch_eyes(model)
    if args.print:
        print(f"signature: {cf.fmt_io(ins)} -> {cf.fmt_io(outs)}")
        for rng in ("[0,1]", "[-1,1]"):
            print(rng, json.dumps(stats(model, check, rng)))
        return
    got = stats(model, check, check["range"])
    cf.compare(got, check)
    print(f"convert_iris: check passed: eye open ratio l {got['l_open']:.3f} "
          f"r {got['r_open']:.3f}, contour mean {got['l_mean']:.4f} / {got['r_mean']:.4f}")


if __name__ == "__main__":
    main()
