// SPDX-License-Identifier: MIT

//! Shared helpers of the integration tests: plugin registration, real media paths,
//! running launch lines and collecting the face metas, decoding images to raw RGB,
//! running gst-launch-1.0 as a user would, and generating fixture ONNX models.
#![allow(dead_code)]

pub mod frames;
pub mod onnx;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, Once};

use gst::prelude::*;
use gst_portrait_meta::{Face, FaceMeta, Motion, MotionMeta};
use gst_video::prelude::*;

static INIT: Once = Once::new();

/// Initialises GStreamer and registers this build's elements in-process (registered
/// after the registry scan, so `facedetect`/`faceoverlay` mean ours even when
/// gstreamer1.0-opencv or -plugins-bad are installed).
pub fn init() {
    INIT.call_once(|| {
        // Pin the asset cache first: it may derive from XDG_CACHE_HOME, which is
        // redirected next because ONNX Runtime writes a cache there.
        let cache = gstportrait::infer::cache_dir();
        let xdg = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/xdg");
        let _ = std::fs::create_dir_all(&xdg);
        // SAFETY: set once, before this test process starts any other thread.
        unsafe {
            std::env::set_var("GST_PORTRAIT_CACHE_DIR", cache);
            if std::env::var_os("XDG_CACHE_HOME").is_none() {
                std::env::set_var("XDG_CACHE_HOME", xdg);
            }
        }
        gst::init().expect("gst::init");
        gstportrait::plugin_register_static().expect("register the portrait plugin");
    });
}

pub fn cache_dir() -> PathBuf {
    init();
    gstportrait::infer::cache_dir()
}

/// A real media file fetched by scripts/setup.sh.
pub fn media(name: &str) -> PathBuf {
    let p = cache_dir().join("media").join(name);
    assert!(p.is_file(), "{} missing: run scripts/setup.sh", p.display());
    p
}

pub fn testdata(name: &str) -> PathBuf {
    let p = cache_dir().join("testdata").join(name);
    assert!(p.is_file(), "{} missing: run scripts/setup.sh", p.display());
    p
}

/// A ROI meta: type and x, y, width, height.
pub type Roi = (String, u32, u32, u32, u32);
/// A decoded image: width, height, packed RGB.
pub type Rgb = (usize, usize, Vec<u8>);

/// Faces of each buffer that reached the sink, plus warnings and the error, if any.
#[derive(Debug, Default)]
pub struct Run {
    pub frames: Vec<Vec<Face>>,
    pub rois: Vec<Vec<Roi>>,
    pub sizes: Vec<(u32, u32)>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
    pub messages: Vec<gst::Structure>,
}

/// Runs `launch` (which must end in an element named `sink`) to EOS, collecting the
/// face metas and ROI metas of every buffer that reaches `sink`, and element messages.
pub fn run(launch: &str) -> Run {
    init();
    let pipeline = gst::parse::launch(launch)
        .unwrap_or_else(|e| panic!("bad launch line {launch}: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let sink = pipeline.by_name("sink").expect("an element named sink");
    let out = Arc::new(Mutex::new(Run::default()));
    let pad = sink.static_pad("sink").expect("sink pad");
    let o = out.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        if let Some(buf) = info.buffer() {
            let mut o = o.lock().unwrap();
            o.frames.push(FaceMeta::faces(buf));
            o.rois.push(
                buf.iter_meta::<gst_video::VideoRegionOfInterestMeta>()
                    .map(|m| {
                        let (x, y, w, h) = m.rect();
                        (m.roi_type().to_string(), x, y, w, h)
                    })
                    .collect(),
            );
            let size = pad
                .current_caps()
                .and_then(|c| gst_video::VideoInfo::from_caps(&c).ok())
                .map(|i| (i.width(), i.height()))
                .unwrap_or((0, 0));
            o.sizes.push(size);
        }
        gst::PadProbeReturn::Ok
    });
    let bus = pipeline.bus().expect("bus");
    if let Err(e) = pipeline.set_state(gst::State::Playing) {
        out.lock().unwrap().error = Some(format!("state change failed: {e}"));
    }
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match msg.view() {
            gst::MessageView::Eos(..) => break,
            gst::MessageView::Error(e) => {
                out.lock().unwrap().error = Some(format!("{} | {:?}", e.error(), e.debug()));
                break;
            }
            gst::MessageView::Warning(w) => {
                out.lock()
                    .unwrap()
                    .warnings
                    .push(format!("{} | {:?}", w.error(), w.debug()))
            }
            gst::MessageView::Element(m) => {
                if let Some(s) = m.structure() {
                    out.lock().unwrap().messages.push(s.to_owned());
                }
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).expect("to NULL");
    drop(pad);
    Arc::try_unwrap(out)
        .map(|m| m.into_inner().unwrap())
        .unwrap_or_else(|a| std::mem::take(&mut *a.lock().unwrap()))
}

/// Decodes an image file to tightly packed RGB.
pub fn decode_rgb(path: &Path) -> Rgb {
    init();
    let line = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=RGB ! fakesink name=sink",
        path.display()
    );
    let pipeline = gst::parse::launch(&line)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline.by_name("sink").unwrap();
    let got: Arc<Mutex<Option<Rgb>>> = Default::default();
    let g = got.clone();
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if let Some(buf) = info.buffer() {
                let info_v = gst_video::VideoInfo::from_caps(&pad.current_caps().unwrap()).unwrap();
                let frame =
                    gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &info_v).unwrap();
                let (w, h) = (info_v.width() as usize, info_v.height() as usize);
                let stride = frame.plane_stride()[0] as usize;
                let data = frame.plane_data(0).unwrap();
                let mut rgb = Vec::with_capacity(w * h * 3);
                for y in 0..h {
                    rgb.extend_from_slice(&data[y * stride..y * stride + w * 3]);
                }
                *g.lock().unwrap() = Some((w, h, rgb));
            }
            gst::PadProbeReturn::Ok
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(30)) {
        match msg.view() {
            gst::MessageView::Eos(..) => break,
            gst::MessageView::Error(e) => panic!("decoding {}: {}", path.display(), e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let v = got.lock().unwrap().take();
    v.expect("a decoded frame")
}

/// IoU of a face's box with a hand-annotated (x, y, w, h) box.
pub fn iou(face: &Face, b: [f32; 4]) -> f32 {
    portrait_vision::detect::iou(
        &[face.x, face.y, face.x + face.width, face.y + face.height],
        &[b[0], b[1], b[0] + b[2], b[1] + b[3]],
    )
}

/// The build's plugin directory (target/<profile>), found from this test binary.
pub fn plugin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    assert!(
        dir.join("libgstportrait.so").is_file(),
        "{}/libgstportrait.so missing: run `cargo build --workspace` first (scripts/test.sh does)",
        dir.display()
    );
    dir.to_path_buf()
}

/// gst-launch-1.0 with this build's plugin last in the system plugin path (so it owns
/// the element names), a private registry, and extra environment.
pub fn gst_launch(args: &str, env: &[(&str, &str)]) -> (i32, String) {
    init();
    let sys = Command::new("pkg-config")
        .args(["--variable=pluginsdir", "gstreamer-1.0"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/usr/lib/x86_64-linux-gnu/gstreamer-1.0".into());
    let tmp = std::env::temp_dir().join(format!("gst-portrait-test-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&tmp);
    let mut cmd = Command::new("gst-launch-1.0");
    cmd.arg("-q")
        .args(shell_words(args))
        .env(
            "GST_PLUGIN_SYSTEM_PATH",
            format!("{sys}:{}", plugin_dir().display()),
        )
        .env("GST_REGISTRY", tmp.join("registry.bin"))
        .env("XDG_CACHE_HOME", tmp.join("xdg"))
        .env_remove("GST_PLUGIN_PATH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("gst-launch-1.0 runs");
    let code = out.status.code().unwrap_or(-1000);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (code, text)
}

/// Splits a launch line on whitespace, keeping double-quoted parts together.
pub fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Sets `pipeline` (parsed from `line`) playing and waits for EOS; panics on an error
/// or after `secs` seconds. The pipeline is set to NULL after.
pub fn play_to_eos(pipeline: &gst::Element, line: &str, secs: u64) {
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline.bus().unwrap().timed_pop_filtered(
        gst::ClockTime::from_seconds(secs),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline.set_state(gst::State::Null).unwrap();
    match msg.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Eos(..)) => {}
        other => panic!("{line}: {other:?}"),
    }
}

/// What reached a sink: each buffer's pixels (plane 0, rows tightly packed) with its
/// first motion meta, and the frame size.
pub type SinkFrames = (Vec<(Vec<u8>, Option<Motion>)>, (usize, usize));

/// Runs `line` (which must end in an element named `sink`) to EOS and returns every
/// buffer that reached `sink`.
pub fn sink_frames(line: &str) -> SinkFrames {
    init();
    let pipeline = gst::parse::launch(line)
        .unwrap_or_else(|e| panic!("bad launch line {line}: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let out: Arc<Mutex<SinkFrames>> = Default::default();
    let o = out.clone();
    pipeline
        .by_name("sink")
        .expect("an element named sink")
        .static_pad("sink")
        .expect("sink pad")
        .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let vi = pad
                .current_caps()
                .and_then(|c| gst_video::VideoInfo::from_caps(&c).ok());
            if let (Some(buf), Some(vi)) = (info.buffer(), vi) {
                let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &vi).unwrap();
                let (w, h) = (vi.width() as usize, vi.height() as usize);
                let row = w * vi.format_info().pixel_stride()[0] as usize;
                let stride = frame.plane_stride()[0] as usize;
                let data = frame.plane_data(0).unwrap();
                let px: Vec<u8> = (0..h)
                    .flat_map(|y| &data[y * stride..y * stride + row])
                    .copied()
                    .collect();
                let mut o = o.lock().unwrap();
                o.0.push((px, buf.meta::<MotionMeta>().map(|m| m.motion().clone())));
                o.1 = (w, h);
            }
            gst::PadProbeReturn::Ok
        });
    play_to_eos(pipeline.upcast_ref(), line, 300);
    std::mem::take(&mut *out.lock().unwrap())
}
