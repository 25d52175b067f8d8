#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Face tracking next to MediaPipe (issue 12): the same real frames, one run, taking
turns, on 1 pinned core and on 2.

Frames: the first N frames (default 300) of WolfgangLanger_Pexels.mp4 (a real
talking head, 640×360) letterboxed to 640×480 RGB, decoded once by GStreamer into a
raw file that both sides read.

This project: `gst-launch-1.0` of `filesrc ! rawvideoparse ! <elements> ! fakesink`
pinned with taskset; its per-frame cost is the pipeline's time from PLAYING to EOS
(gst-launch's "Execution ended after") minus that of the same pipeline without the
elements, over the frames. MediaPipe 0.10.21 (Python, legacy FaceMesh solution): the
time of `process()` per frame, the process pinned the same way. The live chain
(`facedetect ! motionextract ! portraitanimate`, the portrait animated at 512²) is set
against MediaPipe's tracking plus a `cv2.remap` of the 512² portrait each frame, timed
together. Each configuration
runs REPS times (default 3), all configurations taking turns; medians are reported.
The speed ratio divides MediaPipe's per-frame median by the project's per-frame mean;
"ratio of means" divides MediaPipe's per-frame mean instead (both sides' figure then
includes their slow frames, the project's re-detections and MediaPipe's alike).

Usage: bench_mediapipe.py MEDIA_DIR [--frames N] [--reps R] [--json OUT] [--only TEXT]
[--cores "0;0,1"]
(the plugin must be on GST_PLUGIN_PATH / GST_PLUGIN_SYSTEM_PATH; bench_mediapipe.sh
sets everything up).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

W, H = 640, 480

# (name, elements between the source and the sink, MediaPipe peer options)
CONFIGS = [
    ("tracking, eyes refined (defaults)", "facedetect interval=30 ! motionextract",
     dict(static_image_mode=False, refine_landmarks=True)),
    ("tracking, no eye refinement", "facedetect interval=30 ! motionextract refine-eyes=false",
     dict(static_image_mode=False, refine_landmarks=False)),
    ("detect + mesh every frame, eyes refined", "facedetect interval=1 ! motionextract",
     dict(static_image_mode=True, refine_landmarks=True)),
    ("detect + mesh every frame, no eyes", "facedetect interval=1 ! motionextract refine-eyes=false",
     dict(static_image_mode=True, refine_landmarks=False)),
    # MediaPipe's peer keeps one face (max_num_faces=1, above); the same limit here
    # spares the whole-frame search for new faces every 30 frames.
    ("every frame, eyes refined, max-faces=1",
     "facedetect interval=1 max-faces=1 ! motionextract",
     dict(static_image_mode=True, refine_landmarks=True)),
    # The two rows above detect in the region around the last frame's faces
    # (region-detect, the default); this one searches the whole frame every frame.
    ("whole-frame RetinaFace every frame, eyes",
     "facedetect interval=1 region-detect=false ! motionextract",
     dict(static_image_mode=True, refine_landmarks=True)),
    ("blazeface every frame, no eyes",
     "facedetect model=blazeface interval=1 ! motionextract refine-eyes=false",
     dict(static_image_mode=True, refine_landmarks=False)),
    # MediaPipe's static_image_mode also detects with BlazeFace: the same models as it.
    ("blazeface every frame, eyes refined",
     "facedetect model=blazeface interval=1 ! motionextract",
     dict(static_image_mode=True, refine_landmarks=True)),
    # The live chain: our three elements (640x480 in, the portrait animated at 512²
    # out) against MediaPipe's tracking plus an OpenCV remap of the 512² portrait (the
    # warp an app would add; its maps shifted each frame by the nose's motion).
    ("live chain: fd interval=5 ! me ! pa 512²",
     "facedetect interval=5 ! motionextract ! portraitanimate source=$SOURCE width=512 height=512",
     dict(static_image_mode=False, refine_landmarks=True, remap=True)),
    # The same with the README's queue between analysis and rendering: on 2 cores the
    # next frame is analysed while this one renders (frames per second; each frame's
    # latency is still the sum).
    ("live chain, queue before pa",
     "facedetect interval=5 ! motionextract ! queue max-size-buffers=1 "
     "! portraitanimate source=$SOURCE width=512 height=512",
     dict(static_image_mode=False, refine_landmarks=True, remap=True)),
]


def decode_frames(media: str, n: int, out: str):
    line = (f'filesrc location="{media}/WolfgangLanger_Pexels.mp4" ! decodebin ! videoconvert '
            f'! videoscale ! video/x-raw,format=RGB,width={W},height={H},pixel-aspect-ratio=1/1 '
            f'! identity eos-after={n} ! filesink location="{out}"')
    subprocess.run(["gst-launch-1.0", "-q"] + split(line), check=True)
    size = os.path.getsize(out)
    if size < W * H * 3:
        sys.exit(f"bench_mediapipe: no frames decoded into {out}")
    return size // (W * H * 3)


def split(line: str):
    import shlex
    return shlex.split(line)


def gst_time(raw: str, elements: str, cores: str) -> float:
    """Seconds from PLAYING to EOS of the pipeline over the raw frames."""
    mid = f" ! {elements}" if elements else ""
    line = (f'filesrc location="{raw}" blocksize={W * H * 3} ! rawvideoparse width={W} '
            f'height={H} format=rgb framerate=25/1{mid} ! fakesink sync=false')
    r = subprocess.run(["taskset", "-c", cores, "gst-launch-1.0"] + split(line),
                       capture_output=True, text=True)
    m = re.search(r"Execution ended after (\d+):(\d+):(\d+\.\d+)", r.stdout)
    if r.returncode != 0 or not m:
        sys.exit(f"bench_mediapipe: {line} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    h, mi, s = m.groups()
    return int(h) * 3600 + int(mi) * 60 + float(s)


def mediapipe_ms(frames, opts: dict, cores: set, portrait=None) -> list:
    import cv2
    import mediapipe as mp
    os.sched_setaffinity(0, cores)
    opts = dict(opts)
    remap = opts.pop("remap", False)
    if remap:
        img = cv2.resize(cv2.imread(portrait), (512, 512), interpolation=cv2.INTER_AREA)
        gx, gy = np.meshgrid(np.arange(512, dtype=np.float32), np.arange(512, dtype=np.float32))
    times, found = [], 0
    with mp.solutions.face_mesh.FaceMesh(max_num_faces=1, **opts) as fm:
        fm.process(frames[0])  # warm up
        for f in frames:
            t = time.perf_counter()
            res = fm.process(f)
            if remap:
                dx = dy = 0.0
                if res.multi_face_landmarks:
                    nose = res.multi_face_landmarks[0].landmark[1]
                    dx, dy = (nose.x - 0.5) * 20.0, (nose.y - 0.5) * 20.0
                cv2.remap(img, gx + dx, gy + dy, cv2.INTER_LINEAR)
            times.append((time.perf_counter() - t) * 1e3)
            found += res.multi_face_landmarks is not None
    if found < len(frames) * 0.9:
        sys.exit(f"bench_mediapipe: MediaPipe found a face on only {found} of {len(frames)} frames")
    return times


def main():
    global CONFIGS
    ap = argparse.ArgumentParser()
    ap.add_argument("media")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("--only", help="run only the configurations whose name contains this")
    ap.add_argument("--cores", default="0;0,1", help="CPU sets to pin to, ';'-separated "
                    "(default: one core, then two)")
    ap.add_argument("--threads", type=int, help="threads=N on facedetect and motionextract "
                    "(e.g. to compare with an older build's default)")
    a = ap.parse_args()
    if a.threads is not None:
        t = f" threads={a.threads}"
        CONFIGS = [(n, e.replace("facedetect", "facedetect" + t).replace("motionextract", "motionextract" + t), o)
                   for n, e, o in CONFIGS]
    if a.only:
        CONFIGS = [c for c in CONFIGS if a.only in c[0]]
        if not CONFIGS:
            sys.exit(f"bench_mediapipe: no configuration's name contains {a.only!r}")
    all_cores = os.sched_getaffinity(0)
    tmp = tempfile.mkdtemp(prefix="gst-portrait-mp-")
    try:
        raw = os.path.join(tmp, "frames.rgb")
        n = decode_frames(a.media, a.frames, raw)
        frames = list(np.fromfile(raw, np.uint8)[: n * W * H * 3].reshape(n, H, W, 3))
        report = {"frames": n, "runs": []}
        for cores in a.cores.split(";"):
            cset = {int(c) for c in cores.split(",")}
            rust = {c[0]: [] for c in CONFIGS}
            peer = {c[0]: [] for c in CONFIGS}
            bare = []
            for rep in range(a.reps):
                bare.append(gst_time(raw, "", cores))
                for name, elements, opts in CONFIGS:
                    elements = elements.replace("$SOURCE", f'"{a.media}/astronaut.png"')
                    rust[name].append((gst_time(raw, elements, cores) - bare[-1]) * 1e3 / n)
                    t = mediapipe_ms(frames, opts, cset, f"{a.media}/astronaut.png")
                    os.sched_setaffinity(0, all_cores)
                    peer[name].append((statistics.median(t), sorted(t)[int(0.95 * len(t))],
                                       statistics.fmean(t)))
            print(f"\n{len(cset)} core(s) pinned ({cores}), {n} frames 640x480, {a.reps} interleaved runs; "
                  f"bare pipeline {statistics.median(bare) * 1e3 / n:.2f} ms/frame", file=sys.stderr)
            print(f"{'configuration':42s} {'project ms':>10s} {'MediaPipe ms (p50/p95)':>22s} {'speed ratio':>11s}"
                  f" {'MP mean ms':>10s} {'ratio of means':>14s}", file=sys.stderr)
            for name, _, opts in CONFIGS:
                ours = statistics.median(rust[name])
                mp50 = statistics.median(p[0] for p in peer[name])
                mp95 = statistics.median(p[1] for p in peer[name])
                # The project's figure is a mean (total time over the frames); the
                # peer's mean is the like-for-like figure, its median the issue's.
                mpmean = statistics.median(p[2] for p in peer[name])
                ratio = mp50 / ours if ours > 0 else float("inf")
                mratio = mpmean / ours if ours > 0 else float("inf")
                print(f"{name:42s} {ours:10.2f} {mp50:14.2f} / {mp95:5.2f} {ratio:11.2f}"
                      f" {mpmean:10.2f} {mratio:14.2f}", file=sys.stderr)
                report["runs"].append({"cores": len(cset), "config": name,
                                       "mediapipe": {k: v for k, v in opts.items()},
                                       "project_ms": ours, "project_runs_ms": rust[name],
                                       "mediapipe_p50_ms": mp50, "mediapipe_p95_ms": mp95,
                                       "mediapipe_mean_ms": mpmean, "speed_ratio": ratio,
                                       "speed_ratio_of_means": mratio})
    finally:
        # The raw frames take ~90 MB per 100 frames.
        shutil.rmtree(tmp, ignore_errors=True)
    out = json.dumps(report, indent=1)
    print(out)
    if a.json:
        open(a.json, "w").write(out + "\n")


if __name__ == "__main__":
    main()
