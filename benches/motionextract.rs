// SPDX-License-Identifier: MIT

//! motionextract benchmark: one run, the same real frames, side by side.
//!
//! 1. Per-face cost of the motion stage at 640×480, with 1 and 2 ONNX Runtime threads:
//!    - rust-direct: the library the element calls, on the face of a RetinaFace
//!      detection of the frame (the detector runs once per frame, untimed):
//!      `MotionEstimator::face` without eye refinement (crop sampling + inference +
//!      landmarks back to the frame, One-Euro smoothing, the pose fit of the canonical
//!      mesh, relative pose, expression controls and offsets). Apart from it, on the
//!      same crop: `FaceMesh::run` alone (its "fit" part is the estimator's time minus
//!      that), the crop sampling alone (`frame_to_tensor_affine`) and the inference
//!      alone (the same cached ONNX Runtime session, run on that tensor).
//!    - rust-element: `facedetect ! motionextract` (a bin) against `facedetect` alone,
//!      each in a `gst_check::Harness` (wall time around push + pull) on the same
//!      buffers; the difference is motionextract's cost per frame (one face a frame).
//!    - python: the same face_landmark.onnx from Python onnxruntime
//!      (`scripts/bench_motion_reference.py`, a worker process) on the exact 192×192×3
//!      float crops the Rust side sampled, plus a numpy crop + resize of its own,
//!      timed apart. It checks that its outputs match ours.
//!
//!    The configurations take turns every 10 faces (Python's turn comes after
//!    rust-direct's) so that the noise of a busy machine falls on all of them alike;
//!    the CPU time other processes took during each phase is reported.
//! 2. Frames/s of whole pipelines over `WolfgangLanger_Pexels.mp4` (filesrc ! decodebin
//!    ! videoconvert ! … ! fakesink sync=false): bare decode, `facedetect interval=5`,
//!    `facedetect interval=5 ! motionextract` and `facedetect interval=1 !
//!    motionextract`, taking turns, with the frames that got a motion meta counted.
//!
//! Frames: the first `BENCH_FRAMES` (default 30) frames of each real face video in
//! `$MEDIA`, decoded once by GStreamer into RGB 640×480 (as benches/facedetect.rs).
//!
//! Output: JSON on stdout and in `$CARGO_TARGET_DIR/bench-motionextract.json`, a table
//! on stderr. Run it with `scripts/bench.sh`, which provides `BENCH_PYTHON` (a python
//! with numpy and onnxruntime 1.31.1). `BENCH_ROUNDS` (default 3) sets the passes over
//! the frames per configuration, `BENCH_PIPELINE_REPS` (default 2) the runs of each
//! pipeline.
//!
//! Sessions are built as portrait-infer builds them (and Python mirrors it): one
//! inter-op thread, no spinning; `FaceMesh::load`, the raw inference and an element
//! with the same thread count share one cached session.

mod common;

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use gst::prelude::*;
use gst_check::Harness;
use gst_portrait_meta::{Face, FaceMeta, MotionMeta};
use gstportrait::Device;
use gstportrait::detector::{self, Detector, Params};
use gstportrait::face_motion::{MotionEstimator, MotionParams};
use gstportrait::infer::ort::value::TensorRef;
use gstportrait::infer::{self, SharedSession, Signature};
use gstportrait::landmarker::{self, CROP, FaceMesh};
use portrait_vision::resample::{Affine, Normalize, frame_to_tensor_affine};

use common::{
    Frames, Json, Noise, PyReference, env_usize, harness, launch, make, percentile, push_pull,
    run_to_end,
};

const SIZE: (usize, usize) = (640, 480);
const THREADS: [usize; 2] = [1, 2];
/// The video the whole pipelines run over.
const PIPELINE_VIDEO: &str = "WolfgangLanger_Pexels.mp4";
/// Untimed frames per configuration before its first timed round.
const WARMUP: usize = 3;
/// Frames a configuration runs before the next one takes its turn.
const CHUNK: usize = 10;
/// FaceMesh's input: RGB in [0, 1], planar (as `FaceMesh::run` samples it).
const MESH_NORM: Normalize = Normalize {
    mean: [0.0; 3],
    mul: [1.0 / 255.0; 3],
    bgr: false,
    nchw: true,
};
const TENSOR_LEN: usize = 3 * CROP * CROP;
/// Raw model outputs kept per face: 1404 landmark values + 1 presence logit.
const RAW_LEN: usize = 1405;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn p50_p95(s: &[f64]) -> (f64, f64) {
    (percentile(s, 50.0), percentile(s, 95.0))
}

/// The face of each frame, from the best RetinaFace detection (None: no face).
fn faces_from_detections(frames: &Frames) -> anyhow::Result<Vec<Option<Face>>> {
    let model = detector::resolve_model("retinaface");
    let mut det = Detector::load(&model, Device::Cpu, 1)
        .with_context(|| format!("loading {}", model.display()))?
        .model;
    let params = Params::default();
    (0..frames.packed.len())
        .map(|i| {
            let dets = det.detect(&frames.frame(i)?, &params)?;
            Ok(dets
                .first()
                .map(|d| gstportrait::metas::detected_face(d, 1)))
        })
        .collect()
}

/// The FaceMesh crop of a detected face, as the estimator places it.
fn crop_of(f: &Face) -> Affine {
    landmarker::crop_from_detection(
        [f.x, f.y, f.width, f.height],
        f.landmarks[0],
        f.landmarks[1],
    )
}

/// The FaceMesh session run on a tensor of our own (inference only).
struct RawMesh {
    session: Arc<SharedSession>,
    input: String,
    landmarks: String,
    presence: String,
}

impl RawMesh {
    fn load(path: &Path, threads: usize) -> anyhow::Result<RawMesh> {
        let session = infer::load(path, Device::Cpu, threads)?.model;
        let sig = Signature::of(&session.session.lock().unwrap_or_else(|e| e.into_inner()));
        let (input, landmarks, presence, _) =
            landmarker::recognise(&sig).map_err(|e| anyhow!(e))?;
        Ok(RawMesh {
            session,
            input,
            landmarks,
            presence,
        })
    }

    /// Runs on `tensor`; the 1404 landmark values and the presence logit into `out`.
    fn run(&self, tensor: &[f32], out: &mut Vec<f32>) -> anyhow::Result<()> {
        let err = |e: infer::ort::Error| anyhow!("inference: {e}");
        let mut s = self
            .session
            .session
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let t = TensorRef::from_array_view(([1usize, 3, CROP, CROP], tensor)).map_err(err)?;
        let res = s
            .run(infer::ort::inputs![self.input.as_str() => t])
            .map_err(err)?;
        let (_, lm) = res[self.landmarks.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(err)?;
        let (_, pr) = res[self.presence.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(err)?;
        out.clear();
        out.extend_from_slice(lm);
        out.extend_from_slice(pr);
        ensure!(out.len() == RAW_LEN, "{} output values", out.len());
        Ok(())
    }
}

/// Per-face samples of one thread count on the library path, ms.
#[derive(Default)]
struct DirectTiming {
    /// MotionEstimator::face: FaceMesh::run + smoothing + pose + expression.
    total: Vec<f64>,
    mesh_run: Vec<f64>,
    fit: Vec<f64>,
    crop: Vec<f64>,
    infer: Vec<f64>,
    /// First round: presence and yaw per face.
    presence: Vec<f32>,
    yaw: Vec<f32>,
    /// Largest distance (px) between FaceMesh::run's landmarks and the raw outputs
    /// mapped through the crop: 0 unless the tensors differ.
    raw_vs_run_px: f32,
}

struct DirectCase {
    threads: usize,
    estimator: MotionEstimator,
    mesh: FaceMesh,
    raw: RawMesh,
    t: DirectTiming,
}

/// What Python gets: the crops the Rust side sampled and its raw outputs on them.
#[derive(Default)]
struct Export {
    frames: Vec<usize>,
    affines: Vec<[f32; 6]>,
    crops: Vec<f32>,
    outputs: Vec<f32>,
}

struct Scratch {
    tensor: Vec<f32>,
    out: Vec<f32>,
}

/// The library path, with the Python reference taking its turn after each chunk of
/// faces (both then see the same machine load).
fn bench_direct(
    frames: &Frames,
    detections: &[Option<Face>],
    model: &Path,
    rounds: usize,
) -> anyhow::Result<(Vec<DirectCase>, PyRun)> {
    let mut s = Scratch {
        tensor: vec![0.0; TENSOR_LEN],
        out: Vec::with_capacity(RAW_LEN),
    };
    let faces: Vec<(usize, Affine, &Face)> = detections
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.as_ref().map(|f| (i, crop_of(f), f)))
        .collect();
    let params = MotionParams::default();
    ensure!(!faces.is_empty(), "no face detected in any frame");
    let mut cases = Vec::new();
    for &threads in &THREADS {
        let load = || {
            FaceMesh::load(model, Device::Cpu, threads)
                .with_context(|| format!("loading {}", model.display()))
                .map(|l| l.model)
        };
        let canonical =
            landmarker::canonical_mesh().map_err(|e| anyhow!("{e}: run scripts/setup.sh"))?;
        let estimator = MotionEstimator::new(load()?, None, None, canonical);
        let mesh = load()?;
        let raw = RawMesh::load(model, threads)?;
        let mut c = DirectCase {
            threads,
            estimator,
            mesh,
            raw,
            t: DirectTiming::default(),
        };
        for &(i, m, f) in faces.iter().take(WARMUP) {
            let frame = frames.frame(i)?;
            c.estimator.begin_frame(false);
            c.estimator.face(&frame, f, None, &params)?;
            c.mesh.run(&frame, &m)?;
            frame_to_tensor_affine(&frame, &m, CROP, CROP, &MESH_NORM, &mut s.tensor);
            c.raw.run(&s.tensor, &mut s.out)?;
        }
        cases.push(c);
    }
    // Python's input: the crops as sampled here, and our raw outputs on them.
    let mut export = Export::default();
    for &(i, m, _) in &faces {
        frame_to_tensor_affine(&frames.frame(i)?, &m, CROP, CROP, &MESH_NORM, &mut s.tensor);
        cases[0].raw.run(&s.tensor, &mut s.out)?;
        export.frames.push(i);
        export.affines.push(m.0);
        export.crops.extend_from_slice(&s.tensor);
        export.outputs.extend_from_slice(&s.out);
    }
    let mut py = PyWorker::start(frames, &export, model)?;
    for round in 0..rounds {
        for (k, chunk) in faces.chunks(CHUNK).enumerate() {
            for c in &mut cases {
                for &(i, m, f) in chunk {
                    let frame = frames.frame(i)?;
                    // The motion stage as the element runs it (frames 40 ms apart).
                    let pts = Some(i as u64 * 40_000_000);
                    c.estimator.begin_frame(false);
                    let t0 = Instant::now();
                    let motion = black_box(c.estimator.face(&frame, f, pts, &params)?);
                    let t1 = Instant::now();
                    c.estimator.end_frame();
                    let yaw = motion.as_ref().map(|m| m.pose.yaw);
                    // FaceMesh alone on the same crop.
                    let t1b = Instant::now();
                    let presence = c.mesh.run(&frame, &m)?;
                    let t2 = Instant::now();
                    // The same crop, sampled alone, then inference alone.
                    frame_to_tensor_affine(&frame, &m, CROP, CROP, &MESH_NORM, &mut s.tensor);
                    let t3 = Instant::now();
                    c.raw.run(&s.tensor, &mut s.out)?;
                    let t4 = Instant::now();
                    c.t.mesh_run.push(ms(t2 - t1b));
                    c.t.fit.push((ms(t1 - t0) - ms(t2 - t1b)).max(0.0));
                    c.t.total.push(ms(t1 - t0));
                    c.t.crop.push(ms(t3 - t2));
                    c.t.infer.push(ms(t4 - t3));
                    if round == 0 {
                        c.t.presence.push(presence);
                        c.t.yaw.push(yaw.unwrap_or(f32::NAN));
                        let d = c.mesh.landmarks.iter().zip(s.out.chunks_exact(3)).fold(
                            0.0f32,
                            |acc, (l, r)| {
                                let p = m.apply(r[0], r[1]);
                                acc.max((l[0] - p[0]).hypot(l[1] - p[1]))
                            },
                        );
                        c.t.raw_vs_run_px = c.t.raw_vs_run_px.max(d);
                    }
                }
            }
            let start = k * CHUNK;
            py.chunk(start, start + chunk.len(), round)?;
        }
        eprintln!(
            "bench: rust direct + python round {}/{rounds} done",
            round + 1
        );
    }
    Ok((cases, py.finish()?))
}

fn facedetect(threads: usize) -> anyhow::Result<gst::Element> {
    common::facedetect(&[("device", "cpu"), ("threads", &threads.to_string())])
}

/// `facedetect ! motionextract` in a bin with ghost pads; `extra` are more
/// motionextract properties.
fn facedetect_motion(threads: usize, extra: &[(&str, &str)]) -> anyhow::Result<gst::Element> {
    let fd = facedetect(threads)?;
    let threads = threads.to_string();
    let mut props = vec![("device", "cpu"), ("threads", threads.as_str())];
    props.extend_from_slice(extra);
    let me = make("motionextract", "GstPortraitMotionExtract", &props)?;
    let bin = gst::Bin::new();
    bin.add_many([&fd, &me])?;
    fd.link(&me)?;
    for (el, name) in [(&fd, "sink"), (&me, "src")] {
        let target = el.static_pad(name).context("no static pad")?;
        let ghost = gst::GhostPad::builder_with_target(&target)?
            .name(name)
            .build();
        bin.add_pad(&ghost)?;
    }
    Ok(bin.upcast())
}

/// Element properties as (name, value) strings.
type Props = Vec<(&'static str, &'static str)>;

/// motionextract configurations measured: its defaults, and, where the element has
/// eyelid refinement (`refine-eyes`, on by default: two more small inferences per
/// face), also without it, which is what rust-direct measures.
fn motion_variants() -> anyhow::Result<Vec<(&'static str, Props)>> {
    let probe = make("motionextract", "GstPortraitMotionExtract", &[])?;
    let mut v = Vec::new();
    match probe.find_property("refine-eyes") {
        Some(_) => {
            let on: bool = probe.property("refine-eyes");
            v.push((
                if on {
                    "default (refine-eyes=true)"
                } else {
                    "default (refine-eyes=false)"
                },
                Vec::new(),
            ));
            if on {
                v.push(("refine-eyes=false", vec![("refine-eyes", "false")]));
            }
        }
        None => v.push(("default (no refine-eyes)", Vec::new())),
    }
    Ok(v)
}

struct MotionVariant {
    label: &'static str,
    h: Harness,
    ms: Vec<f64>,
    /// This variant − facedetect alone, for the same buffer in the same pass.
    paired: Vec<f64>,
    /// First round: frames with a face meta, with a motion meta, and motion metas.
    face_frames: usize,
    motion_frames: usize,
    motion_metas: usize,
    presence: Vec<f32>,
}

struct ElementCase {
    threads: usize,
    alone: Harness,
    alone_ms: Vec<f64>,
    variants: Vec<MotionVariant>,
}

fn bench_element(frames: &Frames, rounds: usize) -> anyhow::Result<Vec<ElementCase>> {
    let specs = motion_variants()?;
    let mut cases = Vec::new();
    for &threads in &THREADS {
        let mut alone = harness(&facedetect(threads)?, &frames.caps);
        let mut variants = Vec::new();
        for (label, props) in &specs {
            variants.push(MotionVariant {
                label,
                h: harness(&facedetect_motion(threads, props)?, &frames.caps),
                ms: Vec::new(),
                paired: Vec::new(),
                face_frames: 0,
                motion_frames: 0,
                motion_metas: 0,
                presence: Vec::new(),
            });
        }
        for buf in frames.buffers.iter().take(WARMUP) {
            push_pull(&mut alone, buf)?;
            for v in &mut variants {
                push_pull(&mut v.h, buf)?;
            }
        }
        cases.push(ElementCase {
            threads,
            alone,
            alone_ms: Vec::new(),
            variants,
        });
    }
    for round in 0..rounds {
        for chunk in frames.buffers.chunks(CHUNK) {
            for c in &mut cases {
                for buf in chunk {
                    let (ta, _) = push_pull(&mut c.alone, buf)?;
                    c.alone_ms.push(ms(ta));
                    for v in &mut c.variants {
                        let (tm, out) = push_pull(&mut v.h, buf)?;
                        v.ms.push(ms(tm));
                        v.paired.push(ms(tm) - ms(ta));
                        if round == 0 {
                            let motions = MotionMeta::all(&out);
                            v.face_frames +=
                                usize::from(out.iter_meta::<FaceMeta>().next().is_some());
                            v.motion_frames += usize::from(!motions.is_empty());
                            v.motion_metas += motions.len();
                            v.presence.extend(motions.iter().map(|m| m.presence));
                        }
                    }
                }
            }
        }
        eprintln!("bench: rust element round {}/{rounds} done", round + 1);
    }
    Ok(cases)
}

/// One whole pipeline over the video.
struct PipelineCase {
    label: &'static str,
    line: String,
    runs_s: Vec<f64>,
    frames: usize,
    face_frames: usize,
    motion_frames: usize,
    tracked_frames: usize,
    format: String,
}

fn bench_pipelines(media: &Path, reps: usize) -> anyhow::Result<Vec<PipelineCase>> {
    let video = media.join(PIPELINE_VIDEO);
    let head = "filesrc name=src ! decodebin ! videoconvert";
    let tail = "fakesink name=sink sync=false";
    let me = "motionextract device=cpu";
    let specs: [(&'static str, String); 6] = [
        ("decode", format!("{head} ! {tail}")),
        (
            "facedetect interval=5",
            format!("{head} ! facedetect interval=5 device=cpu ! {tail}"),
        ),
        (
            "fd interval=5 ! motionextract",
            format!("{head} ! facedetect interval=5 device=cpu ! {me} ! {tail}"),
        ),
        (
            "fd interval=1 ! motionextract",
            format!("{head} ! facedetect interval=1 device=cpu ! {me} ! {tail}"),
        ),
        (
            "fd interval=5 ! me, threads=1",
            format!(
                "{head} ! facedetect interval=5 device=cpu threads=1 ! {me} threads=1 ! {tail}"
            ),
        ),
        (
            "fd interval=1 ! me, threads=1",
            format!(
                "{head} ! facedetect interval=1 device=cpu threads=1 ! {me} threads=1 ! {tail}"
            ),
        ),
    ];
    let mut cases: Vec<PipelineCase> = specs
        .into_iter()
        .map(|(label, line)| PipelineCase {
            label,
            line,
            runs_s: Vec::new(),
            frames: 0,
            face_frames: 0,
            motion_frames: 0,
            tracked_frames: 0,
            format: String::new(),
        })
        .collect();
    // The pipelines take turns; each run loads its own sessions (the earlier phases
    // have the runtime initialised and the files cached), counted in its wall time.
    for rep in 1..=reps {
        for c in &mut cases {
            let pipeline = launch(&c.line, &video)?;
            // Only gst-portrait's elements (not gstreamer1.0-opencv's facedetect).
            for e in pipeline.iterate_elements().into_iter().flatten() {
                let f = e
                    .factory()
                    .map(|f| f.name().to_string())
                    .unwrap_or_default();
                if matches!(f.as_str(), "facedetect" | "motionextract") {
                    ensure!(
                        e.type_().name().starts_with("GstPortrait"),
                        "{f} in {:?} is {}",
                        c.line,
                        e.type_().name()
                    );
                }
            }
            let sink = pipeline.by_name("sink").context("no fakesink")?;
            let pad = sink.static_pad("sink").context("fakesink has no pad")?;
            let counts = Arc::new([
                AtomicUsize::new(0),
                AtomicUsize::new(0),
                AtomicUsize::new(0),
                AtomicUsize::new(0),
            ]);
            let probe_counts = Arc::clone(&counts);
            let format = Arc::new(Mutex::new(String::new()));
            let probe_format = Arc::clone(&format);
            pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                if let Some(b) = info.buffer() {
                    let [n, faces, motions, tracked] = &*probe_counts;
                    if n.fetch_add(1, Ordering::Relaxed) == 0 {
                        let f = pad
                            .current_caps()
                            .and_then(|c| {
                                c.structure(0).and_then(|s| s.get::<String>("format").ok())
                            })
                            .unwrap_or_default();
                        *probe_format.lock().unwrap_or_else(|e| e.into_inner()) = f;
                    }
                    if b.iter_meta::<FaceMeta>().next().is_some() {
                        faces.fetch_add(1, Ordering::Relaxed);
                    }
                    let mut any = false;
                    let mut track = false;
                    for m in b.iter_meta::<MotionMeta>() {
                        any = true;
                        track |= m.motion().tracked;
                    }
                    motions.fetch_add(usize::from(any), Ordering::Relaxed);
                    tracked.fetch_add(usize::from(track), Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            });
            let took = run_to_end(&pipeline, c.label, Duration::from_secs(120), || false)?;
            drop(pipeline);
            let [n, faces, motions, tracked] = &*counts;
            c.runs_s.push(took.as_secs_f64());
            c.frames = n.load(Ordering::Relaxed);
            c.face_frames = faces.load(Ordering::Relaxed);
            c.motion_frames = motions.load(Ordering::Relaxed);
            c.tracked_frames = tracked.load(Ordering::Relaxed);
            c.format = std::mem::take(&mut *format.lock().unwrap_or_else(|e| e.into_inner()));
        }
        eprintln!("bench: pipelines pass {rep}/{reps} done");
    }
    Ok(cases)
}

impl PipelineCase {
    fn fps(&self) -> (f64, f64) {
        let best = self.runs_s.iter().copied().fold(f64::INFINITY, f64::min);
        let mean = self.runs_s.iter().sum::<f64>() / self.runs_s.len().max(1) as f64;
        (self.frames as f64 / best, self.frames as f64 / mean)
    }
}

/// bench_motion_reference.py's output.
#[derive(Default)]
struct PyRun {
    meta: Vec<(String, String)>,
    /// (threads, n, p50, p95, fps, max |Δ landmark| in crop px, max |Δ presence|)
    infer: Vec<(usize, usize, f64, f64, f64, f64, f64)>,
    /// numpy crop: (n, p50, p95, max |Δ| against the Rust crop)
    pre: Option<(usize, f64, f64, f64)>,
}

fn parse_py(stdout: &str) -> anyhow::Result<PyRun> {
    let mut run = PyRun::default();
    let num = |s: &str| {
        s.parse::<f64>()
            .with_context(|| format!("bad number {s:?} in bench_motion_reference.py output"))
    };
    for line in stdout.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["meta", k, v] => run.meta.push((k.to_string(), v.to_string())),
            ["infer", threads, n, p50, p95, fps, dlm, dpr] => run.infer.push((
                threads.parse()?,
                n.parse()?,
                num(p50)?,
                num(p95)?,
                num(fps)?,
                num(dlm)?,
                num(dpr)?,
            )),
            ["pre", n, p50, p95, diff] => {
                run.pre = Some((n.parse()?, num(p50)?, num(p95)?, num(diff)?));
            }
            [""] => {}
            _ => bail!("bench_motion_reference.py: unexpected output line {line:?}"),
        }
    }
    ensure!(
        !run.infer.is_empty(),
        "bench_motion_reference.py reported nothing"
    );
    Ok(run)
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `scripts/bench_motion_reference.py` as a worker: it loads the crops and its
/// sessions, then times one chunk of faces whenever asked, so that its turns
/// interleave with the Rust side's; at the end it reports.
struct PyWorker {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
    dir: PathBuf,
}

impl PyWorker {
    /// Writes the crops, affines, frames and raw outputs for Python and starts it.
    fn start(frames: &Frames, export: &Export, model: &Path) -> anyhow::Result<PyWorker> {
        let dir = common::scratch_dir("motion")?;
        let write = |name: &str, bytes: &[u8]| common::write_file(&dir.join(name), bytes);
        let n = export.frames.len();
        write(
            "info.txt",
            format!("{} {} {n} {CROP}\n", frames.width, frames.height).as_bytes(),
        )?;
        write("crops.f32", &f32_bytes(&export.crops))?;
        write("outputs.f32", &f32_bytes(&export.outputs))?;
        let affines: Vec<f32> = export.affines.iter().flatten().copied().collect();
        write("affines.f32", &f32_bytes(&affines))?;
        let px: Vec<u8> = export
            .frames
            .iter()
            .flat_map(|&i| frames.packed[i].iter().copied())
            .collect();
        write("frames.rgb", &px)?;

        let py = PyReference::new("bench_motion_reference.py");
        let mut child = py
            .command(model, "--dir", &dir, &THREADS, WARMUP)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| py.running())?;
        let mut w = PyWorker {
            stdin: child.stdin.take(),
            stdout: child.stdout.take().map(BufReader::new),
            child,
            dir,
        };
        w.expect("ready")
            .with_context(|| py.failed("did not start"))?;
        Ok(w)
    }

    fn expect(&mut self, what: &str) -> anyhow::Result<()> {
        let mut line = String::new();
        self.stdout
            .as_mut()
            .context("worker closed")?
            .read_line(&mut line)?;
        ensure!(
            line.trim_end() == what,
            "bench_motion_reference.py: expected {what:?}, got {line:?}"
        );
        Ok(())
    }

    /// Times faces `start..end` (round `round`) in Python, and waits for it.
    fn chunk(&mut self, start: usize, end: usize, round: usize) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("worker closed")?;
        writeln!(stdin, "chunk {start} {end} {round}")?;
        stdin.flush()?;
        self.expect("done")
    }

    fn finish(mut self) -> anyhow::Result<PyRun> {
        if let Some(mut stdin) = self.stdin.take() {
            writeln!(stdin, "finish")?;
        }
        let mut out = String::new();
        self.stdout
            .take()
            .context("worker closed")?
            .read_to_string(&mut out)?;
        let status = self.child.wait()?;
        ensure!(
            status.success(),
            "bench_motion_reference.py failed ({status})"
        );
        parse_py(&out)
    }
}

impl Drop for PyWorker {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// p50 and p95 of `samples` as two JSON fields.
fn pct_json(keys: [&'static str; 2], samples: &[f64]) -> [(&'static str, Json); 2] {
    let (a, b) = p50_p95(samples);
    [(keys[0], Json::Num(a)), (keys[1], Json::Num(b))]
}

fn mean(v: &[f32]) -> f64 {
    let ok: Vec<f64> = v
        .iter()
        .filter(|x| x.is_finite())
        .map(|&x| x as f64)
        .collect();
    ok.iter().sum::<f64>() / ok.len().max(1) as f64
}

fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let per_video = env_usize("BENCH_FRAMES", 30)?;
    let rounds = env_usize("BENCH_ROUNDS", 3)?.max(1);
    let reps = env_usize("BENCH_PIPELINE_REPS", 2)?.max(1);
    ensure!(
        per_video > WARMUP,
        "BENCH_FRAMES must be more than {WARMUP}"
    );

    common::init()?;

    let model = landmarker::resolve_model(landmarker::BUILTIN.0);
    common::ensure_model(&model)?;
    let media = common::media_dir();
    let frames = common::load_frames(&media, SIZE.0, SIZE.1, per_video)?;
    let detections = faces_from_detections(&frames)?;
    let n_faces = detections.iter().flatten().count();
    eprintln!(
        "bench: {} frames decoded from {}, a face detected on {n_faces}",
        frames.buffers.len(),
        media.display()
    );

    // The machine is shared: note how much CPU others took during each phase.
    let mut noise = Noise::start();
    let (direct, py) = bench_direct(&frames, &detections, &model, rounds)?;
    noise.phase("rust_direct_and_python");
    let element = bench_element(&frames, rounds)?;
    noise.phase("rust_element");
    let pipelines = bench_pipelines(&media, reps)?;
    noise.phase("pipelines");

    // JSON.
    let direct_json = direct
        .iter()
        .map(|c| {
            let t = &c.t;
            let mut v = vec![
                ("threads", Json::Int(c.threads)),
                ("n", Json::Int(t.total.len())),
            ];
            v.extend(pct_json(["total_p50_ms", "total_p95_ms"], &t.total));
            v.extend(pct_json(
                ["facemesh_run_p50_ms", "facemesh_run_p95_ms"],
                &t.mesh_run,
            ));
            v.extend(pct_json(
                ["pose_expression_p50_ms", "pose_expression_p95_ms"],
                &t.fit,
            ));
            v.extend(pct_json(["crop_p50_ms", "crop_p95_ms"], &t.crop));
            v.extend(pct_json(["inference_p50_ms", "inference_p95_ms"], &t.infer));
            v.extend([
                ("mean_presence", Json::Num(mean(&t.presence))),
                ("mean_yaw_deg", Json::Num(mean(&t.yaw))),
                ("raw_vs_run_max_px", Json::Num(t.raw_vs_run_px as f64)),
            ]);
            Json::Obj(v)
        })
        .collect();
    let element_json = element
        .iter()
        .flat_map(|c| {
            c.variants.iter().map(|m| {
                let mut v = vec![
                    ("threads", Json::Int(c.threads)),
                    ("motionextract", Json::s(m.label)),
                    ("n", Json::Int(c.alone_ms.len())),
                ];
                v.extend(pct_json(
                    ["facedetect_p50_ms", "facedetect_p95_ms"],
                    &c.alone_ms,
                ));
                v.extend(pct_json(
                    [
                        "facedetect_motionextract_p50_ms",
                        "facedetect_motionextract_p95_ms",
                    ],
                    &m.ms,
                ));
                v.extend(pct_json(
                    ["paired_difference_p50_ms", "paired_difference_p95_ms"],
                    &m.paired,
                ));
                v.extend([
                    (
                        "difference_of_p50_ms",
                        Json::Num(percentile(&m.ms, 50.0) - percentile(&c.alone_ms, 50.0)),
                    ),
                    ("frames_first_round", Json::Int(frames.buffers.len())),
                    ("face_frames", Json::Int(m.face_frames)),
                    ("motion_frames", Json::Int(m.motion_frames)),
                    ("motion_metas", Json::Int(m.motion_metas)),
                    ("mean_presence", Json::Num(mean(&m.presence))),
                ]);
                Json::Obj(v)
            })
        })
        .collect();
    let py_json = py
        .infer
        .iter()
        .map(|&(threads, n, p50, p95, fps, dlm, dpr)| {
            Json::Obj(vec![
                ("threads", Json::Int(threads)),
                ("n", Json::Int(n)),
                ("inference_p50_ms", Json::Num(p50)),
                ("inference_p95_ms", Json::Num(p95)),
                ("fps", Json::Num(fps)),
                ("max_landmark_diff_crop_px", Json::Num(dlm)),
                ("max_presence_logit_diff", Json::Num(dpr)),
            ])
        })
        .collect();
    let pre_json = py.pre.map_or(Json::Null, |(n, p50, p95, d)| {
        Json::Obj(vec![
            ("n", Json::Int(n)),
            ("p50_ms", Json::Num(p50)),
            ("p95_ms", Json::Num(p95)),
            ("max_diff_vs_rust_crop", Json::Num(d)),
        ])
    });
    let pipe_json = pipelines
        .iter()
        .map(|c| {
            let (best, mean) = c.fps();
            Json::Obj(vec![
                ("label", Json::s(c.label)),
                ("pipeline", Json::s(&c.line)),
                ("format", Json::s(&c.format)),
                (
                    "runs_s",
                    Json::Arr(c.runs_s.iter().map(|&s| Json::Num(s)).collect()),
                ),
                ("frames", Json::Int(c.frames)),
                ("fps_best", Json::Num(best)),
                ("fps_mean", Json::Num(mean)),
                ("face_frames", Json::Int(c.face_frames)),
                ("motion_frames", Json::Int(c.motion_frames)),
                ("tracked_frames", Json::Int(c.tracked_frames)),
            ])
        })
        .collect();
    let cpus = common::cpus();
    let doc = Json::Obj(vec![
        ("bench", Json::s("motionextract")),
        ("model", Json::s(model.display().to_string())),
        ("cpus", Json::Int(cpus)),
        ("cpu_used_by_others_pct", noise.json()),
        ("python_versions", common::python_versions(&py.meta)),
        (
            "frames",
            Json::Obj(vec![
                ("media", Json::s(media.display().to_string())),
                ("videos", frames.sources_json()),
                ("size", Json::s(frames.size())),
                ("faces", Json::Int(n_faces)),
                ("rounds", Json::Int(rounds)),
                ("warmup", Json::Int(WARMUP)),
            ]),
        ),
        ("rust_direct", Json::Arr(direct_json)),
        ("rust_element", Json::Arr(element_json)),
        ("python_inference", Json::Arr(py_json)),
        ("python_numpy_crop", pre_json),
        (
            "pipelines",
            Json::Obj(vec![
                ("video", Json::s(PIPELINE_VIDEO)),
                ("reps", Json::Int(reps)),
                ("cases", Json::Arr(pipe_json)),
            ]),
        ),
        ("wall_s", Json::Num(started.elapsed().as_secs_f64())),
    ]);
    let out = common::emit_json(&doc, "motionextract")?;

    // Table.
    let pp = |s: &[f64]| {
        let (a, b) = p50_p95(s);
        format!("{a:>6.2} /{b:>6.2}")
    };
    let mut t = format!(
        "\nmotionextract bench: FaceMesh 468 on 192×192 crops, {} real frames {} ({}), {n_faces} with a face, {rounds} rounds, {cpus} CPUs\n\n",
        frames.buffers.len(),
        frames.size(),
        frames.sources_text()
    );
    t.push_str("per face, ms p50 / p95\n");
    t.push_str(&format!(
        "{:<13} {:>3} {:>4}  {:>14}  {}\n",
        "path", "thr", "n", "total", "parts"
    ));
    for &threads in &THREADS {
        if let Some(c) = direct.iter().find(|c| c.threads == threads) {
            t.push_str(&format!(
                "{:<13} {:>3} {:>4}  {}  FaceMesh::run {} + pose+expr {}   [apart: crop {} | inference {}]\n",
                "rust-direct",
                threads,
                c.t.total.len(),
                pp(&c.t.total),
                pp(&c.t.mesh_run),
                pp(&c.t.fit),
                pp(&c.t.crop),
                pp(&c.t.infer)
            ));
        }
        if let Some(c) = element.iter().find(|c| c.threads == threads) {
            for m in &c.variants {
                let d50 = percentile(&m.ms, 50.0) - percentile(&c.alone_ms, 50.0);
                t.push_str(&format!(
                    "{:<13} {:>3} {:>4}  {}  paired (fd!me − fd), me {}: fd!me {} − fd {} → Δp50 {d50:.2}\n",
                    "rust-element",
                    threads,
                    m.paired.len(),
                    pp(&m.paired),
                    m.label,
                    pp(&m.ms),
                    pp(&c.alone_ms),
                ));
            }
        }
        for &(th, n, p50, p95, _, dlm, dpr) in py.infer.iter().filter(|r| r.0 == threads) {
            t.push_str(&format!(
                "{:<13} {:>3} {:>4}  {p50:>6.2} /{p95:>6.2}  inference only, on the Rust crops (max Δ vs Rust: landmarks {dlm:.2e} crop px, presence logit {dpr:.2e})\n",
                "python", th, n
            ));
        }
        t.push('\n');
    }
    if let Some((n, p50, p95, d)) = py.pre {
        t.push_str(&format!(
            "python numpy crop+resize (bilinear affine, /255, NCHW), n={n}: {p50:.2} / {p95:.2} ms (max Δ vs the Rust crop {d:.2e})\n"
        ));
    }
    for c in &element {
        for m in &c.variants {
            t.push_str(&format!(
                "element threads={} me {}: first pass {} frames, {} with a face meta, {} with a motion meta ({} metas), mean presence {:.3}\n",
                c.threads,
                m.label,
                frames.buffers.len(),
                m.face_frames,
                m.motion_frames,
                m.motion_metas,
                mean(&m.presence)
            ));
        }
    }
    for c in &direct {
        t.push_str(&format!(
            "direct threads={}: mean presence {:.3}, mean yaw {:.1}°, FaceMesh::run vs raw inference max {:.2e} px\n",
            c.threads,
            mean(&c.t.presence),
            mean(&c.t.yaw),
            c.t.raw_vs_run_px
        ));
    }
    t.push_str(&format!(
        "\nwhole pipelines over {PIPELINE_VIDEO} (filesrc ! decodebin ! videoconvert ! … ! fakesink sync=false), best / mean of {reps}\n"
    ));
    t.push_str(&format!(
        "{:<31} {:>6} {:>7} {:>7}  {:>6} {:>6} {:>7}\n",
        "pipeline", "format", "fps", "mean", "frames", "motion", "tracked"
    ));
    for c in &pipelines {
        let (best, mean) = c.fps();
        t.push_str(&format!(
            "{:<31} {:>6} {:>7.1} {:>7.1}  {:>6} {:>6} {:>7}\n",
            c.label, c.format, best, mean, c.frames, c.motion_frames, c.tracked_frames
        ));
    }
    t.push_str(&format!(
        "\nrust-direct total = MotionEstimator::face without eye refinement (FaceMesh::run: crop sampling + inference + landmarks to the frame; smoothing, pose fit, relative pose, expression controls and offsets); FaceMesh::run, crop and inference re-run apart on the same crop (fit = total − FaceMesh::run).\n\
         rust-element = push+pull through a Harness; paired = per buffer, (facedetect ! motionextract) − (facedetect), same threads for both.\n\
         python = onnxruntime {} session.run on the exact float crops Rust sampled (1 inter-op thread, no spinning), taking turns with rust-direct every {CHUNK} faces.\n\
         pipelines: threads = ONNX Runtime's default (one per core) unless noted; motion = frames with a motion meta, tracked = of them followed by motionextract's own tracking.\n\
         CPU used by other processes: {}. Wall {:.1} s; JSON in {}\n",
        py.meta
            .iter()
            .find(|(k, _)| k == "onnxruntime")
            .map_or("?", |(_, v)| v.as_str()),
        noise.text(),
        started.elapsed().as_secs_f64(),
        out.display()
    ));
    eprint!("{t}");
    Ok(())
}
