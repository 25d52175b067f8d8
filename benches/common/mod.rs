// SPDX-License-Identifier: MIT

//! What benches/facedetect.rs and benches/motionextract.rs share: the real frames they
//! decode, the element plumbing (`gst_check::Harness`, push + pull timing), the Python
//! reference's invocation, CPU-load sampling, statistics and a minimal JSON writer.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, ensure};
use gst::prelude::*;
use gst_check::Harness;
use gst_video::prelude::*;
use gstportrait::infer;
use portrait_vision::{FrameRef, PixelFormat};

/// The real face videos the frames come from, in `$MEDIA`.
pub const VIDEOS: [&str; 2] = ["WolfgangLanger_Pexels.mp4", "single_face.mp4"];

/// Initialises GStreamer and registers gst-portrait's elements in-process.
pub fn init() -> anyhow::Result<()> {
    gst::init()?;
    gstportrait::plugin_register_static()?;
    Ok(())
}

pub fn env_usize(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v} is not a number")),
        Err(_) => Ok(default),
    }
}

pub fn ensure_model(model: &Path) -> anyhow::Result<()> {
    ensure!(
        model.is_file(),
        "{} missing: run scripts/setup.sh",
        model.display()
    );
    Ok(())
}

/// `$MEDIA`, else `<cache>/media` with the cache directory as portrait-infer finds it.
pub fn media_dir() -> PathBuf {
    std::env::var_os("MEDIA")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| infer::cache_dir().join("media"))
}

pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

/// Nearest-rank percentile (the same definition as the Python references).
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let i = ((p / 100.0 * s.len() as f64).ceil() as usize).clamp(1, s.len().max(1)) - 1;
    s.get(i).copied().unwrap_or(f64::NAN)
}

/// `line` parsed, its filesrc `src` set to `video`.
pub fn launch(line: &str, video: &Path) -> anyhow::Result<gst::Pipeline> {
    let pipeline = gst::parse::launch(line)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("not a pipeline: {line}"))?;
    pipeline
        .by_name("src")
        .context("no filesrc named src")?
        .set_property("location", video.to_str().context("non-UTF-8 media path")?);
    Ok(pipeline)
}

/// Sets `pipeline` playing and waits for EOS, an error or `done()`; returns the wall
/// time from PLAYING to then (the pipeline is set to NULL after).
pub fn run_to_end(
    pipeline: &gst::Pipeline,
    what: &str,
    timeout: Duration,
    done: impl Fn() -> bool,
) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().context("no bus")?;
    let outcome = loop {
        if done() {
            break Ok(());
        }
        if t0.elapsed() > timeout {
            break Err(anyhow!("{what}: timed out"));
        }
        let msg = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(2),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        match msg.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => break Ok(()),
            Some(gst::MessageView::Error(e)) => {
                break Err(anyhow!("{what}: {} ({:?})", e.error(), e.debug()));
            }
            _ => {}
        }
    };
    let took = t0.elapsed();
    pipeline.set_state(gst::State::Null)?;
    outcome.map(|_| took)
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
    let pipeline = launch(&line, video)?;
    let pad = pipeline
        .by_name("sink")
        .context("no fakesink")?
        .static_pad("sink")
        .context("fakesink has no sink pad")?;
    let collected = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let caps = Arc::new(Mutex::new(None::<gst::Caps>));
    let (sink_side, caps_side) = (Arc::clone(&collected), Arc::clone(&caps));
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let mut v = sink_side.lock().unwrap_or_else(|e| e.into_inner());
        if v.len() < n
            && let Some(copy) = info.buffer().and_then(|b| b.copy_deep().ok())
        {
            v.push(copy);
            *caps_side.lock().unwrap_or_else(|e| e.into_inner()) = pad.current_caps();
        }
        gst::PadProbeReturn::Ok
    });
    let name = video.display().to_string();
    let full = Arc::clone(&collected);
    run_to_end(&pipeline, &name, Duration::from_secs(60), move || {
        full.lock().unwrap_or_else(|e| e.into_inner()).len() >= n
    })?;
    let caps = caps
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .with_context(|| format!("{name}: no frames decoded"))?;
    let info = gst_video::VideoInfo::from_caps(&caps)?;
    ensure!(
        info.format() == gst_video::VideoFormat::Rgb
            && (info.width() as usize, info.height() as usize) == (w, h),
        "{name}: decoded {caps}, wanted RGB {w}x{h}"
    );
    let buffers = std::mem::take(&mut *collected.lock().unwrap_or_else(|e| e.into_inner()));
    Ok((info, buffers))
}

/// Decoded frames of one size: GStreamer buffers (for the elements) and the same pixels
/// tightly packed (for the library calls and Python).
pub struct Frames {
    pub width: usize,
    pub height: usize,
    pub caps: gst::Caps,
    pub buffers: Vec<gst::Buffer>,
    pub packed: Vec<Vec<u8>>,
    /// (video file, frames taken from it)
    pub sources: Vec<(String, usize)>,
}

impl Frames {
    pub fn size(&self) -> String {
        format!("{}x{}", self.width, self.height)
    }

    pub fn frame(&self, i: usize) -> anyhow::Result<FrameRef<'_>> {
        FrameRef::packed(PixelFormat::Rgb, self.width, self.height, &self.packed[i])
            .map_err(|e| anyhow!("frame {i}: {}", e.0))
    }

    /// The videos and the frames taken from each, for the JSON.
    pub fn sources_json(&self) -> Json {
        Json::Arr(
            self.sources
                .iter()
                .map(|(v, n)| Json::Obj(vec![("file", Json::s(v)), ("frames", Json::Int(*n))]))
                .collect(),
        )
    }

    /// The videos and the frames taken from each, for the table.
    pub fn sources_text(&self) -> String {
        let sources: Vec<String> = self
            .sources
            .iter()
            .map(|(v, n)| format!("{n}× {v}"))
            .collect();
        sources.join(" + ")
    }
}

/// The first `per_video` frames of each of [`VIDEOS`] in `media`, as RGB `w`×`h`.
pub fn load_frames(media: &Path, w: usize, h: usize, per_video: usize) -> anyhow::Result<Frames> {
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

/// Element `factory` with `props`, checked to be of type `type_name`.
pub fn make(
    factory: &str,
    type_name: &str,
    props: &[(&str, &str)],
) -> anyhow::Result<gst::Element> {
    let mut b = gst::ElementFactory::make(factory);
    for (k, v) in props {
        b = b.property_from_str(k, v);
    }
    let e = b.build().with_context(|| format!("creating {factory}"))?;
    // gstreamer1.0-opencv has a facedetect too: make sure this is ours.
    ensure!(
        e.type_().name() == type_name,
        "{factory} is {}, not gst-portrait's",
        e.type_().name()
    );
    Ok(e)
}

/// gst-portrait's `facedetect` with `props`.
pub fn facedetect(props: &[(&str, &str)]) -> anyhow::Result<gst::Element> {
    make("facedetect", "GstPortraitFaceDetect", props)
}

pub fn harness(element: &gst::Element, caps: &gst::Caps) -> Harness {
    let mut h = Harness::with_element(element, Some("sink"), Some("src"));
    h.set_src_caps(caps.clone());
    h
}

/// Pushes a writable (shallow) copy of `buf`, as a decoder would hand it over, and
/// pulls the result; only push + pull are timed.
pub fn push_pull(h: &mut Harness, buf: &gst::Buffer) -> anyhow::Result<(Duration, gst::Buffer)> {
    let input = buf.copy();
    let t0 = Instant::now();
    h.push(input).map_err(|e| anyhow!("push: {e:?}"))?;
    let out = h.pull()?;
    Ok((t0.elapsed(), out))
}

/// `gst-portrait-<name>-<pid>` in the temporary directory, created.
pub fn scratch_dir(name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("gst-portrait-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

pub fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// A Python reference script and the python that runs it: `BENCH_PYTHON`, else the venv
/// scripts/bench.sh sets up, else `python3`.
pub struct PyReference {
    pub python: PathBuf,
    pub script: PathBuf,
}

impl PyReference {
    /// `script`, a file in scripts/.
    pub fn new(script: &str) -> PyReference {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = std::env::var_os("BENCH_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let venv = repo.join(".cache/bench-venv/bin/python");
                if venv.exists() {
                    venv
                } else {
                    "python3".into()
                }
            });
        PyReference {
            python,
            script: repo.join("scripts").join(script),
        }
    }

    /// `python script --model <model> <dir_flag> <dir> --threads <threads> --warmup
    /// <warmup>`, with its stderr inherited.
    pub fn command(
        &self,
        model: &Path,
        dir_flag: &str,
        dir: &Path,
        threads: &[usize],
        warmup: usize,
    ) -> Command {
        let threads: Vec<String> = threads.iter().map(|t| t.to_string()).collect();
        let mut cmd = Command::new(&self.python);
        cmd.arg(&self.script)
            .arg("--model")
            .arg(model)
            .arg(dir_flag)
            .arg(dir)
            .args(["--threads", &threads.join(",")])
            .args(["--warmup", &warmup.to_string()])
            .stderr(Stdio::inherit());
        cmd
    }

    /// Context for a python that could not be started.
    pub fn running(&self) -> String {
        format!(
            "running {} (set BENCH_PYTHON, or use scripts/bench.sh)",
            self.python.display()
        )
    }

    /// The error for a reference that `what` (did not start, failed …).
    pub fn failed(&self, what: impl std::fmt::Display) -> String {
        format!(
            "{} {} {what}; scripts/bench.sh sets up a python with numpy and onnxruntime==1.31.1",
            self.python.display(),
            self.script.display()
        )
    }
}

/// The versions among a reference's `meta` lines, as a JSON object.
pub fn python_versions(meta: &[(String, String)]) -> Json {
    Json::Obj(
        meta.iter()
            .filter_map(|(k, v)| {
                ["python", "numpy", "onnxruntime"]
                    .into_iter()
                    .find(|n| n == k)
                    .map(|n| (n, Json::s(v)))
            })
            .collect(),
    )
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

/// The machine is shared: how much CPU other processes took during each phase of a
/// bench (None where /proc cannot tell).
pub struct Noise {
    last: Option<CpuTicks>,
    phases: Vec<(&'static str, Option<f64>)>,
}

impl Noise {
    /// Starts the first phase.
    pub fn start() -> Noise {
        Noise {
            last: CpuTicks::now(),
            phases: Vec::new(),
        }
    }

    /// Ends the current phase as `name` and starts the next.
    pub fn phase(&mut self, name: &'static str) {
        let now = CpuTicks::now();
        self.phases.push((name, others_pct(self.last, now)));
        self.last = now;
    }

    /// `{phase: percent or null, …}`
    pub fn json(&self) -> Json {
        Json::Obj(
            self.phases
                .iter()
                .map(|(k, v)| (*k, v.map_or(Json::Null, Json::Num)))
                .collect(),
        )
    }

    /// `phase N%, …` (`phase ?` where unknown)
    pub fn text(&self) -> String {
        let noise: Vec<String> = self
            .phases
            .iter()
            .map(|(k, v)| v.map_or(format!("{k} ?"), |v| format!("{k} {v:.0}%")))
            .collect();
        noise.join(", ")
    }
}

/// A minimal JSON value (no serde in this workspace's dev-dependencies).
pub enum Json {
    Null,
    Num(f64),
    Int(usize),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    pub fn s(v: impl Into<String>) -> Json {
        Json::Str(v.into())
    }

    pub fn write(&self, out: &mut String, indent: usize) {
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

/// Prints `doc` on stdout and writes it to `$CARGO_TARGET_DIR/bench-<bench>.json`;
/// returns that file's path.
pub fn emit_json(doc: &Json, bench: &str) -> anyhow::Result<PathBuf> {
    let mut text = String::new();
    doc.write(&mut text, 0);
    text.push('\n');
    print!("{text}");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let out = target.join(format!("bench-{bench}.json"));
    std::fs::create_dir_all(&target)?;
    write_file(&out, text.as_bytes())?;
    Ok(out)
}
