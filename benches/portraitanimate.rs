// SPDX-License-Identifier: MIT

//! portraitanimate benchmark: one run, the same real frames.
//!
//! 1. The animator alone (mesh backend, `source=astronaut.png`, 512×512 RGBA out) with
//!    `threads=1` and `threads=2`: the driving frames are first run once, untimed,
//!    through `facedetect device=cpu interval=5 ! motionextract device=cpu` in a
//!    `gst_check::Harness`, and its output buffers (carrying MotionMeta) are kept; those
//!    same buffers are then pushed (shallow copies) through a `portraitanimate` Harness
//!    and push + pull is timed per buffer, after `WARMUP` untimed buffers.
//! 2. The live chain `facedetect device=cpu interval=5 ! motionextract device=cpu
//!    threads=1 ! portraitanimate threads=2` in one Harness (a bin), next to the same
//!    chain without portraitanimate: the latency of each frame (push → pull wall time),
//!    the two chains taking turns every `CHUNK` frames on the same buffers. The
//!    Harness answers latency queries as a live source, so facedetect's default
//!    `redetect-async=auto` runs the re-detections on a thread of their own there; the
//!    whole chain runs once more with `redetect-async=off` (in the streaming thread, as
//!    behind a file), once with `redetect-model=none` (RetinaFace for the
//!    re-detections too, as before BlazeFace took them over), and with BlazeFace 256
//!    as the re-detector, async off and on.
//!
//! Frames: the first `BENCH_FRAMES` (default 120) frames of `WolfgangLanger_Pexels.mp4`
//! in `$MEDIA`, decoded once by GStreamer into RGB 640×480 (letterboxed by videoscale,
//! as benches/facedetect.rs and benches/motionextract.rs). `BENCH_ROUNDS` (default 3)
//! sets the passes over the frames per configuration.
//!
//! Output: JSON on stdout and in `$CARGO_TARGET_DIR/bench-portraitanimate.json`, a table
//! on stderr. Run it with `BENCHES=portraitanimate scripts/bench.sh`.

// Not every shared helper is used here (the Python reference is not).
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use gst::prelude::*;
use gst_check::Harness;
use gst_portrait_meta::MotionMeta;

use common::{Json, Noise, env_usize, harness, make, percentile, push_pull};

const SIZE: (usize, usize) = (640, 480);
const VIDEO: &str = "WolfgangLanger_Pexels.mp4";
const SOURCE: &str = "astronaut.png";
const THREADS: [usize; 2] = [1, 2];
/// Untimed buffers per configuration before its first timed round.
const WARMUP: usize = 5;
/// Frames a configuration runs before the next one takes its turn.
const CHUNK: usize = 10;
/// facedetect's `interval` in the live chain.
const INTERVAL: usize = 5;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Elements linked in a bin with `sink` and `src` ghost pads.
fn chain(elements: &[gst::Element]) -> anyhow::Result<gst::Element> {
    let bin = gst::Bin::new();
    bin.add_many(elements)?;
    gst::Element::link_many(elements)?;
    let (first, last) = (
        elements.first().context("empty chain")?,
        elements.last().context("empty chain")?,
    );
    for (el, name) in [(first, "sink"), (last, "src")] {
        let target = el.static_pad(name).context("no static pad")?;
        let ghost = gst::GhostPad::builder_with_target(&target)?
            .name(name)
            .build();
        bin.add_pad(&ghost)?;
    }
    Ok(bin.upcast())
}

/// `facedetect device=cpu interval=INTERVAL` and `props`.
fn facedetect(props: &[(&str, &str)]) -> anyhow::Result<gst::Element> {
    let interval = INTERVAL.to_string();
    let mut all = vec![("device", "cpu"), ("interval", interval.as_str())];
    all.extend_from_slice(props);
    common::facedetect(&all)
}

fn motionextract(threads: Option<usize>) -> anyhow::Result<gst::Element> {
    let t = threads.map(|t| t.to_string());
    let mut props = vec![("device", "cpu")];
    if let Some(t) = &t {
        props.push(("threads", t.as_str()));
    }
    make("motionextract", "GstPortraitMotionExtract", &props)
}

fn animate(source: &str, threads: usize) -> anyhow::Result<gst::Element> {
    make(
        "portraitanimate",
        "GstPortraitAnimate",
        &[
            ("source", source),
            ("device", "cpu"),
            ("threads", &threads.to_string()),
        ],
    )
}

/// Per-frame times of one configuration.
struct Case {
    label: String,
    h: Harness,
    ms: Vec<f64>,
    out_caps: String,
}

impl Case {
    fn new(label: String, element: &gst::Element, caps: &gst::Caps) -> Case {
        Case {
            label,
            h: harness(element, caps),
            ms: Vec::new(),
            out_caps: String::new(),
        }
    }

    fn p50_p95(&self) -> (f64, f64) {
        (percentile(&self.ms, 50.0), percentile(&self.ms, 95.0))
    }

    /// p50 of the timed frames in each phase of facedetect's `INTERVAL` (phase 0: the
    /// frames it re-detects on; 1: the next ones, where an asynchronous re-detection
    /// lands). The element has seen `WARMUP` frames before the first timed one.
    fn p50_by_phase(&self) -> [f64; INTERVAL] {
        std::array::from_fn(|k| {
            let v: Vec<f64> = (self.ms.iter().enumerate())
                .filter(|(j, _)| (WARMUP + j) % INTERVAL == k)
                .map(|(_, &t)| t)
                .collect();
            percentile(&v, 50.0)
        })
    }

    /// Frames per second over the timed frames (frames / summed push + pull time).
    fn fps(&self) -> f64 {
        self.ms.len() as f64 * 1e3 / self.ms.iter().sum::<f64>()
    }

    fn json(&self, extra: Vec<(&'static str, Json)>) -> Json {
        let (p50, p95) = self.p50_p95();
        let mut v = vec![
            ("label", Json::s(&self.label)),
            ("n", Json::Int(self.ms.len())),
            ("p50_ms", Json::Num(p50)),
            ("p95_ms", Json::Num(p95)),
            ("fps", Json::Num(self.fps())),
            ("output_caps", Json::s(&self.out_caps)),
        ];
        v.extend(extra);
        Json::Obj(v)
    }
}

/// Warms each case up on the first `WARMUP` buffers, then times `rounds` passes over
/// all of `buffers`, the cases taking turns every `CHUNK` buffers.
fn run_cases(cases: &mut [Case], buffers: &[gst::Buffer], rounds: usize) -> anyhow::Result<()> {
    for c in cases.iter_mut() {
        for buf in buffers.iter().take(WARMUP) {
            let (_, out) = push_pull(&mut c.h, buf)?;
            if c.out_caps.is_empty() {
                c.out_caps =
                    c.h.sinkpad()
                        .and_then(|p| p.current_caps())
                        .and_then(|c| gst_video::VideoInfo::from_caps(&c).ok())
                        .map_or_else(
                            || format!("{} bytes", out.size()),
                            |i| format!("{:?} {}x{}", i.format(), i.width(), i.height()),
                        );
            }
        }
    }
    for round in 0..rounds {
        for chunk in buffers.chunks(CHUNK) {
            for c in cases.iter_mut() {
                for buf in chunk {
                    let (t, _) = push_pull(&mut c.h, buf)?;
                    c.ms.push(ms(t));
                }
            }
        }
        eprintln!("bench: round {}/{rounds} done", round + 1);
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let n_frames = env_usize("BENCH_FRAMES", 120)?;
    let rounds = env_usize("BENCH_ROUNDS", 3)?.max(1);
    ensure!(n_frames > WARMUP, "BENCH_FRAMES must be more than {WARMUP}");

    common::init()?;
    let media = common::media_dir();
    let source = media.join(SOURCE);
    ensure!(
        source.is_file(),
        "{} missing: run scripts/setup.sh",
        source.display()
    );
    let source = source.to_str().context("non-UTF-8 media path")?.to_string();

    // `load_frames` takes the first frames of each video, VIDEO first: keep VIDEO's.
    ensure!(common::VIDEOS[0] == VIDEO, "{VIDEO} is not the first video");
    let frames = common::load_frames(&media, SIZE.0, SIZE.1, n_frames)?;
    let n_video = frames.sources[0].1;
    let buffers = &frames.buffers[..n_video];
    ensure!(n_video > WARMUP, "{VIDEO}: only {n_video} frames decoded");

    let mut noise = Noise::start();

    // 1. Driving buffers with MotionMeta, made once, untimed.
    let mut driver = harness(
        &chain(&[facedetect(&[])?, motionextract(None)?])?,
        &frames.caps,
    );
    let mut driven = Vec::with_capacity(n_video);
    for buf in buffers {
        let (_, out) = push_pull(&mut driver, buf)?;
        driven.push(out);
    }
    drop(driver);
    let motion_frames = driven
        .iter()
        .filter(|b| b.meta::<MotionMeta>().is_some())
        .count();
    // push_pull pushes shallow copies: the meta must survive the copy.
    let copied_with_meta = driven
        .iter()
        .filter(|b| b.copy().meta::<MotionMeta>().is_some())
        .count();
    ensure!(
        motion_frames > 0 && copied_with_meta == motion_frames,
        "driving buffers: {motion_frames} with a MotionMeta, {copied_with_meta} after a copy"
    );
    eprintln!(
        "bench: {n_video} frames of {VIDEO} {}, {motion_frames} with a MotionMeta",
        frames.size()
    );
    noise.phase("prepare");

    let mut alone = THREADS
        .iter()
        .map(|&t| {
            Ok(Case::new(
                format!("portraitanimate threads={t}"),
                &animate(&source, t)?,
                &frames.caps,
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    run_cases(&mut alone, &driven, rounds)?;
    noise.phase("animator");

    // 2. The live chain, with and without the animator, then the whole chain with
    // facedetect `props` to compare.
    let full = |label: String, props: &[(&str, &str)]| -> anyhow::Result<Case> {
        Ok(Case::new(
            label,
            &chain(&[
                facedetect(props)?,
                motionextract(Some(1))?,
                animate(&source, 2)?,
            ])?,
            &frames.caps,
        ))
    };
    let mut live = vec![
        Case::new(
            "fd ! me threads=1".into(),
            &chain(&[facedetect(&[])?, motionextract(Some(1))?])?,
            &frames.caps,
        ),
        full("fd ! me threads=1 ! pa threads=2".into(), &[])?,
        full(
            "same, fd redetect-async=off".into(),
            &[("redetect-async", "off")],
        )?,
        full(
            "same, fd redetect-model=none".into(),
            &[("redetect-model", "none")],
        )?,
    ];
    // A costlier re-detector (BlazeFace 256, about 4.5 ms) with and without its own
    // thread: what redetect-async takes off the frame that re-detects.
    for asynchronous in ["off", "on"] {
        live.push(full(
            format!("fd redetect-model=blazeface-back redetect-async={asynchronous}"),
            &[
                ("redetect-model", "blazeface-back"),
                ("redetect-async", asynchronous),
            ],
        )?);
    }
    run_cases(&mut live, buffers, rounds)?;
    noise.phase("live_chain");
    let paired: Vec<f64> = live[1]
        .ms
        .iter()
        .zip(&live[0].ms)
        .map(|(a, b)| a - b)
        .collect();
    let (d50, d95) = (percentile(&paired, 50.0), percentile(&paired, 95.0));

    // JSON.
    let cpus = common::cpus();
    let alone_json = alone
        .iter()
        .zip(THREADS)
        .map(|(c, t)| c.json(vec![("threads", Json::Int(t))]))
        .collect();
    let live_json = live.iter().map(|c| c.json(Vec::new())).collect();
    let doc = Json::Obj(vec![
        ("bench", Json::s("portraitanimate")),
        ("cpus", Json::Int(cpus)),
        ("cpu_used_by_others_pct", noise.json()),
        (
            "frames",
            Json::Obj(vec![
                ("media", Json::s(media.display().to_string())),
                ("video", Json::s(VIDEO)),
                ("frames", Json::Int(n_video)),
                ("size", Json::s(frames.size())),
                ("letterboxed", Json::s("videoscale add-borders, RGB")),
                ("motion_frames", Json::Int(motion_frames)),
                ("rounds", Json::Int(rounds)),
                ("warmup", Json::Int(WARMUP)),
            ]),
        ),
        ("source", Json::s(&source)),
        (
            "animator",
            Json::Obj(vec![
                (
                    "driver",
                    Json::s(format!(
                        "facedetect device=cpu interval={INTERVAL} ! motionextract device=cpu"
                    )),
                ),
                ("cases", Json::Arr(alone_json)),
            ]),
        ),
        (
            "live_chain",
            Json::Obj(vec![
                ("cases", Json::Arr(live_json)),
                ("paired_difference_p50_ms", Json::Num(d50)),
                ("paired_difference_p95_ms", Json::Num(d95)),
            ]),
        ),
        ("wall_s", Json::Num(started.elapsed().as_secs_f64())),
    ]);
    let out = common::emit_json(&doc, "portraitanimate")?;

    // Table.
    let mut t = format!(
        "\nportraitanimate bench: mesh backend, source {SOURCE}, {n_video} real frames of {VIDEO} at {} (letterboxed RGB), {motion_frames} with a MotionMeta, {rounds} rounds, {cpus} CPUs\n\n",
        frames.size()
    );
    t.push_str(&format!(
        "{:<34} {:>5}  {:>8} {:>8} {:>8}  {}\n",
        "case", "n", "p50 ms", "p95 ms", "fps", "output"
    ));
    for (title, cases) in [
        (
            "animator alone (push+pull per buffer carrying MotionMeta)",
            &alone,
        ),
        ("live chain (push→pull latency per frame)", &live),
    ] {
        t.push_str(&format!("{title}\n"));
        for c in cases.iter() {
            let (p50, p95) = c.p50_p95();
            t.push_str(&format!(
                "  {:<32} {:>5}  {p50:>8.2} {p95:>8.2} {:>8.1}  {}\n",
                c.label,
                c.ms.len(),
                c.fps(),
                c.out_caps
            ));
        }
    }
    t.push_str(&format!(
        "live chain p50 by frame, from a re-detection frame on ({INTERVAL} frames)\n"
    ));
    for c in &live {
        let by = c.p50_by_phase().map(|v| format!("{v:.2}")).join(" ");
        t.push_str(&format!("  {:<52} {by}\n", c.label));
    }
    t.push_str(&format!(
        "  paired (with pa − without), per frame: p50 {d50:.2} ms, p95 {d95:.2} ms\n\
         \nfd = facedetect device=cpu interval={INTERVAL} (ONNX Runtime threads: default; redetect-async=auto, on behind the Harness, which is live), me = motionextract device=cpu, pa = portraitanimate source={SOURCE} device=cpu.\n\
         fps = frames / summed push+pull time. CPU used by other processes: {}. Wall {:.1} s; JSON in {}\n",
        noise.text(),
        started.elapsed().as_secs_f64(),
        out.display()
    ));
    eprint!("{t}");
    Ok(())
}
