#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reference timing for benches/motionextract.rs: the same FaceMesh 468 ONNX model
(face_landmark.onnx), run from Python onnxruntime on the exact 192x192 float crops the
Rust side sampled, plus a numpy crop + resize of our own timed apart.

Input: a directory written by the Rust bench:
  info.txt     "W H N CROP"
  crops.f32    N x 3 x CROP x CROP float32 (RGB in [0, 1], planar), the model inputs
  outputs.f32  N x 1405 float32: Rust's raw outputs on them (1404 landmark values, then
               the presence logit), to check that both runtimes agree
  affines.f32  N x 6 float32: each crop's tensor->frame affine map (pixel centres)
  frames.rgb   N x H x W x 3 uint8: the frame each crop comes from

Inference: one session per intra-op thread count, built as portrait-infer builds its
sessions (1 inter-op thread, no spinning). Preprocessing: bilinear affine sampling in
numpy with the same conventions as portrait-vision's frame_to_tensor_affine (pixel
centres, clamped taps, 0 outside), /255, planar.

Runs as a worker so that its turns interleave with the Rust side's (both then see the
same machine load): it prints "ready" once loaded and warmed up, then for each stdin
line "chunk START END ROUND" times crops START..END (each session in turn, then the
numpy crop) and prints "done"; on "finish" (or end of input) it prints its report,
tab-separated, parsed by the Rust bench, after "meta<TAB>key<TAB>value" lines:
  infer  threads  n  p50_ms  p95_ms  fps  max_landmark_diff  max_presence_logit_diff
  pre    n  p50_ms  p95_ms  max_diff_vs_rust_crop
(differences from round 0). Errors go to stderr.
"""

import argparse
import math
import os
import sys
import time

import numpy as np
import onnxruntime as ort

ORT_VERSION = "1.31.1"


def percentile(samples, p):
    """Nearest-rank percentile (the same definition as the Rust bench)."""
    s = sorted(samples)
    i = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))
    return s[i]


def session(model, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    # As the Rust side (portrait-infer) builds its sessions: one inter-op thread and
    # no spinning thread pools.
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def numpy_crop(rgb, m, n):
    """The n x n crop of `rgb` (H x W x 3 uint8) through the affine `m` (tensor pixel
    -> frame pixel), bilinear, as a 1 x 3 x n x n float32 tensor in [0, 1]."""
    h, w, _ = rgb.shape
    t = np.arange(n, dtype=np.float32) + np.float32(0.5)
    tx, ty = t[None, :], t[:, None]
    half = np.float32(0.5)
    sx = m[0] * tx + m[1] * ty + m[2] - half
    sy = m[3] * tx + m[4] * ty + m[5] - half
    inside = (sx > -1) & (sy > -1) & (sx < w) & (sy < h)
    xc = np.clip(sx, 0, w - 1)
    yc = np.clip(sy, 0, h - 1)
    x0 = xc.astype(np.int32)  # non-negative: truncation is floor
    y0 = yc.astype(np.int32)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    wx = (xc - x0)[..., None]
    wy = (yc - y0)[..., None]
    a = rgb[y0, x0].astype(np.float32)
    b = rgb[y0, x1].astype(np.float32)
    c = rgb[y1, x0].astype(np.float32)
    d = rgb[y1, x1].astype(np.float32)
    top = a + (b - a) * wx
    bot = c + (d - c) * wx
    v = (top + (bot - top) * wy) * np.float32(1.0 / 255.0)
    v[~inside] = 0.0
    return np.ascontiguousarray(v.transpose(2, 0, 1)[None])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--dir", required=True, help="directory written by the Rust bench")
    ap.add_argument("--threads", default="1,2", help="comma-separated intra-op thread counts")
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()

    if ort.__version__ != ORT_VERSION:
        sys.exit(f"bench_motion_reference: onnxruntime {ort.__version__}, expected {ORT_VERSION}")
    threads = [int(t) for t in args.threads.split(",") if t]
    path = lambda name: os.path.join(args.dir, name)  # noqa: E731
    with open(path("info.txt")) as f:
        w, h, n, crop = (int(v) for v in f.read().split())
    crops = np.fromfile(path("crops.f32"), dtype="<f4").reshape(n, 1, 3, crop, crop)
    rust_out = np.fromfile(path("outputs.f32"), dtype="<f4").reshape(n, 1405)
    affines = np.fromfile(path("affines.f32"), dtype="<f4").reshape(n, 6)
    frames = np.fromfile(path("frames.rgb"), dtype=np.uint8).reshape(n, h, w, 3)

    sessions = []
    for t in threads:
        sess = session(args.model, t)
        inp = sess.get_inputs()[0].name
        outs = {o.name: int(np.prod(o.shape)) for o in sess.get_outputs()}
        lm = next(k for k, v in outs.items() if v == 1404)
        pr = next(k for k, v in outs.items() if v == 1)
        for i in range(min(args.warmup, n)):
            sess.run([lm, pr], {inp: crops[i]})
        sessions.append(dict(threads=t, sess=sess, inp=inp, names=[lm, pr], ms=[], dlm=0.0, dpr=0.0))
    for i in range(min(args.warmup, n)):
        numpy_crop(frames[i], affines[i], crop)
    pre, pre_diff = [], 0.0

    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd[:1] == ["finish"]:
            break
        if len(cmd) != 4 or cmd[0] != "chunk":
            sys.exit(f"bench_motion_reference: bad command {line!r}")
        start, end, r = int(cmd[1]), min(int(cmd[2]), n), int(cmd[3])
        for s in sessions:
            for i in range(start, end):
                t0 = time.perf_counter()
                lm, pr = s["sess"].run(s["names"], {s["inp"]: crops[i]})
                t1 = time.perf_counter()
                s["ms"].append((t1 - t0) * 1e3)
                if r == 0:
                    s["dlm"] = max(s["dlm"], float(np.abs(lm.reshape(-1) - rust_out[i, :1404]).max()))
                    s["dpr"] = max(s["dpr"], abs(float(pr.reshape(-1)[0]) - float(rust_out[i, 1404])))
        for i in range(start, end):
            t0 = time.perf_counter()
            x = numpy_crop(frames[i], affines[i], crop)
            pre.append((time.perf_counter() - t0) * 1e3)
            if r == 0:
                pre_diff = max(pre_diff, float(np.abs(x - crops[i]).max()))
        print("done", flush=True)

    print(f"meta\tpython\t{sys.version.split()[0]}")
    print(f"meta\tnumpy\t{np.__version__}")
    print(f"meta\tonnxruntime\t{ort.__version__}")
    for s in sessions:
        ms = s["ms"]
        if not ms:
            continue
        row = ["infer", str(s["threads"]), str(len(ms)),
               f"{percentile(ms, 50):.4f}", f"{percentile(ms, 95):.4f}",
               f"{len(ms) / (sum(ms) / 1e3):.3f}", f"{s['dlm']:.6g}", f"{s['dpr']:.6g}"]
        print("\t".join(row))
    if pre:
        print("\t".join(["pre", str(len(pre)), f"{percentile(pre, 50):.4f}",
                         f"{percentile(pre, 95):.4f}", f"{pre_diff:.6g}"]))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
