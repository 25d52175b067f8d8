// SPDX-License-Identifier: MIT

//! The source portrait of `portraitanimate`: decoded once, its face found with the
//! project's own detector, mesh and eye-contour models, its pose fitted, and its
//! landmark layout triangulated, ready to be warped frame after frame.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use gst::prelude::*;
use gst_video::prelude::*;
use portrait_infer::Device;
use portrait_vision::landmarks::FACE_OVAL;
use portrait_vision::transfer::{DrivingMotion, SourceFace};
use portrait_vision::{FrameRef, PixelFormat, warp};

use crate::detector::{self, Detector, Params};
use crate::landmarker::{self, EyeRefiner, FaceMesh};

/// Border points per frame side: the background is pinned there.
const BORDER_POINTS_PER_SIDE: usize = 8;

/// A prepared source portrait.
pub struct Source {
    pub path: PathBuf,
    pub width: usize,
    pub height: usize,
    /// One frame for an image; every frame (up to [`MAX_SOURCE_FRAMES`]) of a video,
    /// played in a loop.
    pub frames: Vec<SourceFrame>,
    /// Triangulation of frame 0's points, used for every frame (same landmarks).
    pub triangles: Vec<[u32; 3]>,
}

/// Video sources are decoded into memory up to this many frames (10 s at 30 fps).
pub const MAX_SOURCE_FRAMES: usize = 300;

/// Margin (px) around each source frame's pixels repeating their edges: the warp's
/// border triangles then need no clamping ([`warp::MeshWarp::warp_with_margin`]).
pub const MARGIN: usize = 2;

/// One prepared frame of the source.
pub struct SourceFrame {
    /// Packed RGBA pixels, framed by [`MARGIN`] px repeating the edges.
    framed: Vec<u8>,
    /// The 468 face landmarks (image px) followed by the border points.
    pub points: Vec<[f32; 2]>,
    pub face: SourceFace,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("path", &self.path)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

impl Source {
    /// Frame `i` (modulo the frame count) as a frame view, and the same framed by its
    /// [`MARGIN`].
    pub fn frame(&self, i: usize) -> Result<(&SourceFrame, FrameRef<'_>, FrameRef<'_>), String> {
        let f = &self.frames[i % self.frames.len().max(1)];
        let (w, h) = (self.width + 2 * MARGIN, self.height + 2 * MARGIN);
        let framed = FrameRef::packed(PixelFormat::Rgba, w, h, &f.framed).map_err(|e| e.0)?;
        let view = framed.inset(MARGIN).ok_or("empty source frame")?;
        Ok((f, view, framed))
    }
}

/// Decoded frames: width, height, packed RGBA of each frame.
pub type Rgba = (usize, usize, Vec<Vec<u8>>);

/// Decodes an image or video file (anything GStreamer decodes) to packed RGBA frames,
/// at most `max_frames`, scaled to `size` (keeping the aspect ratio, with borders)
/// when given. A still image gives one frame, its first picture; frames the decoder
/// marks corrupted are left out.
pub fn decode_frames(
    path: &Path,
    size: Option<(usize, usize)>,
    max_frames: usize,
) -> Result<Rgba, String> {
    if !path.is_file() {
        return Err(format!("source {} does not exist", path.display()));
    }
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc")
        .property("location", path.to_string_lossy().as_ref())
        .build()
        .map_err(|e| e.to_string())?;
    let decode = gst::ElementFactory::make("decodebin")
        .build()
        .map_err(|e| e.to_string())?;
    let convert = gst::ElementFactory::make("videoconvert")
        .build()
        .map_err(|e| e.to_string())?;
    let mut caps = gst_video::VideoCapsBuilder::new().format(gst_video::VideoFormat::Rgba);
    if let Some((w, h)) = size {
        caps = caps
            .width(w as i32)
            .height(h as i32)
            .pixel_aspect_ratio(gst::Fraction::new(1, 1));
    }
    let filter = gst::ElementFactory::make("capsfilter")
        .property("caps", caps.build())
        .build()
        .map_err(|e| e.to_string())?;
    let scale = gst::ElementFactory::make("videoscale")
        .property("add-borders", true)
        .build()
        .map_err(|e| e.to_string())?;
    let sink = gst::ElementFactory::make("fakesink")
        .build()
        .map_err(|e| e.to_string())?;
    pipeline
        .add_many([&src, &decode, &convert, &scale, &filter, &sink])
        .map_err(|e| e.to_string())?;
    src.link(&decode).map_err(|e| e.to_string())?;
    gst::Element::link_many([&convert, &scale, &filter, &sink]).map_err(|e| e.to_string())?;
    let convert_weak = convert.downgrade();
    decode.connect_pad_added(move |_, pad| {
        if let Some(c) = convert_weak.upgrade()
            && let Some(sinkpad) = c.static_pad("sink")
            && !sinkpad.is_linked()
        {
            let _ = pad.link(&sinkpad);
        }
    });
    let got: Arc<Mutex<Option<Rgba>>> = Default::default();
    let done = Arc::new(AtomicBool::new(false));
    let (g, d) = (got.clone(), done.clone());
    let pad = sink.static_pad("sink").ok_or("no sink pad")?;
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let mut g = g.lock().unwrap_or_else(|e| e.into_inner());
        if d.load(Ordering::SeqCst) {
            return gst::PadProbeReturn::Ok;
        }
        let Some(buf) = info.buffer() else {
            return gst::PadProbeReturn::Ok;
        };
        // A frame the decoder could not decode cleanly is never used.
        if buf
            .flags()
            .intersects(gst::BufferFlags::CORRUPTED | gst::BufferFlags::GAP)
        {
            return gst::PadProbeReturn::Ok;
        }
        if let Some(vi) = pad
            .current_caps()
            .and_then(|c| gst_video::VideoInfo::from_caps(&c).ok())
            && let Ok(frame) = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &vi)
            && let Ok(data) = frame.plane_data(0)
        {
            let (w, h) = (vi.width() as usize, vi.height() as usize);
            let stride = frame.plane_stride()[0] as usize;
            let mut rgba = Vec::with_capacity(w * h * 4);
            for y in 0..h {
                rgba.extend_from_slice(&data[y * stride..y * stride + w * 4]);
            }
            match g.as_mut() {
                Some(f) if (f.0, f.1) == (w, h) => f.2.push(rgba),
                Some(_) => {}
                None => *g = Some((w, h, vec![rgba])),
            }
            // A still image (frame rate 0) is its first picture: a file holding more
            // (pngenc snapshot=true can write two PNG streams back to back) is not a
            // video.
            let limit = if vi.fps().numer() == 0 { 1 } else { max_frames };
            if g.as_ref().is_some_and(|f| f.2.len() >= limit) {
                d.store(true, Ordering::SeqCst);
            }
        }
        gst::PadProbeReturn::Ok
    });
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    let bus = pipeline.bus().ok_or("no bus")?;
    let mut err = None;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    // Poll, so that we stop as soon as enough frames are in (a long video).
    while !done.load(Ordering::SeqCst) && std::time::Instant::now() <= deadline {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(20)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(..) => break,
            gst::MessageView::Error(e) => {
                err = Some(e.error().to_string());
                break;
            }
            _ => {}
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    let decoded = got.lock().unwrap_or_else(|e| e.into_inner()).take();
    match (decoded, err) {
        (Some(d), _) => Ok(d),
        (None, Some(e)) => Err(format!("could not decode {}: {e}", path.display())),
        (None, None) => Err(format!("{} holds no image", path.display())),
    }
}

/// Prepares `path` as a source: decode (scaled to `size` if given), find the largest
/// face, mesh + eyes, pose fit, triangulation. Errors say what to do (missing file,
/// no face...).
pub fn prepare(
    path: &Path,
    device: Device,
    threads: usize,
    size: Option<(usize, usize)>,
) -> Result<Source, String> {
    let (width, height, images) = decode_frames(path, size, MAX_SOURCE_FRAMES)?;
    let attention = landmarker::attention_model();
    let cache = cache_file(path, width, height, attention.is_some());
    let landmarks = match cache
        .as_deref()
        .and_then(|c| read_landmarks(c, images.len()))
    {
        Some(l) => l,
        None => {
            let l = find_landmarks(
                path,
                attention.as_deref(),
                width,
                height,
                &images,
                device,
                threads,
            )?;
            if let Some(c) = &cache {
                write_landmarks(c, &l);
            }
            l
        }
    };
    let canonical = crate::landmarker::canonical_mesh()?;
    let weights = canonical.weights();
    let border = warp::border_points(width, height, BORDER_POINTS_PER_SIDE);
    let mut frames = Vec::with_capacity(images.len());
    // Depth of the landmarks, then of the collar (its oval points').
    let first_depth: Vec<f32> = landmarks
        .first()
        .map(|lm| {
            // SourceFace has a collar for a whole mesh only.
            let whole = lm.len() >= 468;
            let collar = FACE_OVAL
                .iter()
                .filter_map(|&i| lm.get(i).filter(|_| whole));
            lm.iter().chain(collar).map(|p| p[2]).collect()
        })
        .unwrap_or_default();
    for (rgba, lm) in images.into_iter().zip(landmarks) {
        let face = SourceFace::new(&lm, &canonical.vertices, &weights).ok_or_else(|| {
            format!(
                "could not fit a head pose to the face in {}",
                path.display()
            )
        })?;
        // The landmarks, the collar where the neutral drive puts it (the landmarks
        // come back unchanged), then the frame border.
        let mut points = Vec::new();
        face.drive(&DrivingMotion::neutral(), &mut points);
        for (p, l) in points.iter_mut().zip(&lm) {
            *p = [l[0], l[1]];
        }
        points.extend_from_slice(&border);
        let framed = warp::pad_edges(&rgba, width, height, 4, MARGIN);
        frames.push(SourceFrame {
            framed,
            points,
            face,
        });
    }
    let mut triangles = portrait_vision::delaunay::delaunay(&frames[0].points);
    // Back to front by the first frame's landmark depth (the mesh's z: smaller is
    // nearer), the border farthest.
    warp::order_back_to_front(&mut triangles, &first_depth);
    Ok(Source {
        path: path.to_path_buf(),
        width,
        height,
        frames,
        triangles,
    })
}

/// The source face's 468 landmarks (eyes refined) on each frame, found with the
/// project's models: detected on the first frame, then followed with the mesh (and
/// detected again when the mesh loses it; a frame without any face keeps the
/// previous frame's landmarks). The mesh is MediaPipe's attention mesh (lips and eyes
/// refined, as motionextract's default, so driver and portrait are measured alike) when
/// `attention` is given, else FaceMesh with the Iris eyelids.
fn find_landmarks(
    path: &Path,
    attention: Option<&Path>,
    width: usize,
    height: usize,
    images: &[Vec<u8>],
    device: Device,
    threads: usize,
) -> Result<Vec<Vec<[f32; 3]>>, String> {
    let mut det = Detector::load(&detector::resolve_model("retinaface"), device, threads)
        .map_err(|e| e.to_string())?
        .model;
    let mesh_path =
        attention.map_or_else(|| landmarker::resolve_model("facemesh"), Path::to_path_buf);
    let mut mesh = FaceMesh::load(&mesh_path, device, threads)
        .map_err(|e| e.to_string())?
        .model;
    let mut eyes = match attention {
        Some(_) => None,
        None => {
            let iris = portrait_infer::models_dir().join(landmarker::IRIS_MODEL);
            Some(
                EyeRefiner::load(&iris, device, threads)
                    .map_err(|e| e.to_string())?
                    .model,
            )
        }
    };
    let mut out: Vec<Vec<[f32; 3]>> = Vec::with_capacity(images.len());
    for rgba in images {
        let frame = FrameRef::packed(PixelFormat::Rgba, width, height, rgba).map_err(|e| e.0)?;
        let tracked = match out
            .last()
            .and_then(|prev| landmarker::crop_from_landmarks(prev))
        {
            Some(crop) => {
                (mesh.run(&frame, &crop).map_err(|e| e.to_string())? >= 0.5).then_some(())
            }
            None => None,
        };
        if tracked.is_none() {
            let dets = det
                .detect(&frame, &Params::default())
                .map_err(|e| e.to_string())?;
            let largest = dets
                .iter()
                .max_by(|a, b| (a.width() * a.height()).total_cmp(&(b.width() * b.height())));
            match (largest, out.last()) {
                (Some(face), _) => {
                    let crop = landmarker::crop_from_detection(
                        [face.bbox[0], face.bbox[1], face.width(), face.height()],
                        face.landmarks[0],
                        face.landmarks[1],
                    );
                    mesh.run(&frame, &crop).map_err(|e| e.to_string())?;
                }
                (None, Some(prev)) => {
                    let prev = prev.clone();
                    out.push(prev);
                    continue;
                }
                (None, None) => {
                    return Err(format!(
                        "no face found in source {}: use a portrait with a visible, roughly frontal face",
                        path.display()
                    ));
                }
            }
        }
        let mut landmarks = mesh.landmarks.clone();
        if let Some(eyes) = eyes.as_mut() {
            eyes.refine(&frame, &mut landmarks)
                .map_err(|e| e.to_string())?;
        }
        out.push(landmarks);
    }
    Ok(out)
}

/// Where the landmarks of `path` (decoded at `w`×`h`) are cached: keyed by a 64-bit
/// FNV-1a hash of the file's bytes and the size, so an edited file is analysed again,
/// and named after the models that find them (`attention_mesh`: MediaPipe's attention
/// mesh, else FaceMesh with Iris).
pub fn cache_file(path: &Path, w: usize, h: usize, attention_mesh: bool) -> Option<PathBuf> {
    let models = if attention_mesh { "v3a" } else { "v2" };
    let bytes = std::fs::read(path).ok()?;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes
        .iter()
        .chain(&(w as u64).to_le_bytes())
        .chain(&(h as u64).to_le_bytes())
    {
        hash ^= *b as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    Some(
        portrait_infer::cache_dir()
            .join("sources")
            .join(format!("{hash:016x}-{models}.landmarks")),
    )
}

fn read_landmarks(file: &Path, frames: usize) -> Option<Vec<Vec<[f32; 3]>>> {
    let b = std::fs::read(file).ok()?;
    if frames == 0 || b.len() != frames * 468 * 12 {
        return None;
    }
    let f: Vec<f32> = b
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if !f.iter().all(|v| v.is_finite()) {
        return None;
    }
    Some(
        f.chunks_exact(468 * 3)
            .map(|fr| fr.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect())
            .collect(),
    )
}

/// Best effort: a cache that cannot be written only costs the next start some time.
fn write_landmarks(file: &Path, l: &[Vec<[f32; 3]>]) {
    let bytes: Vec<u8> = l
        .iter()
        .flatten()
        .flatten()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    if let Some(dir) = file.parent()
        && std::fs::create_dir_all(dir).is_ok()
    {
        let part = file.with_extension("part");
        if std::fs::write(&part, bytes).is_ok() {
            let _ = std::fs::rename(&part, file);
        }
    }
}

/// Where the portrait is drawn: the size it is scaled to, and the frame size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputSize {
    /// The portrait scaled to this size (its own size unless `width`/`height` say
    /// otherwise; one of them alone keeps the aspect ratio).
    pub render: (usize, usize),
    /// The output frame: `render` with each side that was not set explicitly made even
    /// (its last row or column left out), since H.264 and I420 need even sizes.
    pub frame: (usize, usize),
}

/// The output geometry of a `w`×`h` source for the `width`/`height` properties (0:
/// not set).
pub fn output_size(w: usize, h: usize, width: u32, height: u32) -> OutputSize {
    let (ow, oh) = (width as usize, height as usize);
    let render = match (ow, oh) {
        (0, 0) => (w, h),
        (0, oh) => (
            ((w * oh) as f64 / h.max(1) as f64).round().max(1.0) as usize,
            oh,
        ),
        (ow, 0) => (
            ow,
            ((h * ow) as f64 / w.max(1) as f64).round().max(1.0) as usize,
        ),
        (ow, oh) => (ow, oh),
    };
    let even = |side: usize, explicit: usize| {
        if explicit == 0 && side >= 2 {
            side & !1
        } else {
            side
        }
    };
    OutputSize {
        render,
        frame: (even(render.0, ow), even(render.1, oh)),
    }
}

#[cfg(test)]
mod tests {
    use super::{OutputSize, output_size};

    #[test]
    fn output_size_keeps_the_aspect_when_one_side_is_given() {
        let same = |w, h| OutputSize {
            render: (w, h),
            frame: (w, h),
        };
        assert_eq!(output_size(600, 400, 0, 0), same(600, 400));
        assert_eq!(output_size(600, 400, 300, 0), same(300, 200));
        assert_eq!(output_size(600, 400, 0, 100), same(150, 100));
        assert_eq!(output_size(600, 400, 64, 64), same(64, 64));
    }

    #[test]
    fn derived_sides_are_even_explicit_ones_as_given() {
        // An odd portrait: the frame loses its last row, the portrait is not rescaled.
        let s = output_size(910, 1137, 0, 0);
        assert_eq!((s.render, s.frame), ((910, 1137), (910, 1136)));
        // width=480 of 970×2204: the derived height 1091 becomes 1090.
        let s = output_size(970, 2204, 480, 0);
        assert_eq!((s.render, s.frame), ((480, 1091), (480, 1090)));
        // What the user sets is kept, odd or not.
        let s = output_size(970, 2204, 481, 0);
        assert_eq!((s.render, s.frame), ((481, 1093), (481, 1092)));
        let s = output_size(600, 400, 301, 201);
        assert_eq!(s.frame, (301, 201));
        assert_eq!(output_size(1, 1, 0, 0).frame, (1, 1));
    }
}
