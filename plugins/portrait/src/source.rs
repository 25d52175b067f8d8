//! The source portrait of `portraitanimate`: decoded once, its face found with the
//! project's own detector, mesh and eye-contour models, its pose fitted, and its
//! landmark layout triangulated, ready to be warped frame after frame.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use gst::prelude::*;
use gst_video::prelude::*;
use portrait_infer::Device;
use portrait_vision::mesh::CanonicalMesh;
use portrait_vision::transfer::SourceFace;
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
    /// Packed RGBA pixels.
    pub rgba: Vec<u8>,
    /// The 468 face landmarks (image px) followed by the border points.
    pub points: Vec<[f32; 2]>,
    pub triangles: Vec<[u32; 3]>,
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
    pub fn frame(&self) -> Result<FrameRef<'_>, String> {
        FrameRef::packed(PixelFormat::Rgba, self.width, self.height, &self.rgba).map_err(|e| e.0)
    }
}

/// A decoded image: width, height, packed RGBA.
pub type Rgba = (usize, usize, Vec<u8>);

/// Decodes an image file (any format GStreamer can decode) to packed RGBA, scaled to
/// `size` (keeping the aspect ratio, with borders) when given.
pub fn decode_image(path: &Path, size: Option<(usize, usize)>) -> Result<Rgba, String> {
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
    let g = got.clone();
    let pad = sink.static_pad("sink").ok_or("no sink pad")?;
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let mut g = g.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none()
            && let Some(buf) = info.buffer()
            && let Some(vi) = pad
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
            *g = Some((w, h, rgba));
        }
        gst::PadProbeReturn::Ok
    });
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    let bus = pipeline.bus().ok_or("no bus")?;
    let mut err = None;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
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
    let (width, height, rgba) = decode_image(path, size)?;
    let frame = FrameRef::packed(PixelFormat::Rgba, width, height, &rgba).map_err(|e| e.0)?;
    let cache = cache_file(path, width, height);
    let landmarks = match cache.as_deref().and_then(read_landmarks) {
        Some(l) => l,
        None => {
            let l = find_landmarks(path, &frame, device, threads)?;
            if let Some(c) = &cache {
                write_landmarks(c, &l);
            }
            l
        }
    };
    let mesh_path = portrait_infer::models_dir().join(crate::CANONICAL_MESH);
    let canonical = std::fs::read(&mesh_path)
        .map_err(|e| format!("{}: {e}", mesh_path.display()))
        .and_then(|b| {
            CanonicalMesh::parse(&b).map_err(|e| format!("{}: {e}", mesh_path.display()))
        })?;
    let face = SourceFace::new(&landmarks, &canonical.vertices, &canonical.weights()).ok_or_else(
        || {
            format!(
                "could not fit a head pose to the face in {}",
                path.display()
            )
        },
    )?;
    let mut points: Vec<[f32; 2]> = landmarks.iter().map(|p| [p[0], p[1]]).collect();
    points.extend(warp::border_points(width, height, BORDER_POINTS_PER_SIDE));
    let triangles = warp::delaunay(&points);
    Ok(Source {
        path: path.to_path_buf(),
        width,
        height,
        rgba,
        points,
        triangles,
        face,
    })
}

/// The source face's 468 landmarks (eyes refined), found with the project's models.
fn find_landmarks(
    path: &Path,
    frame: &FrameRef,
    device: Device,
    threads: usize,
) -> Result<Vec<[f32; 3]>, String> {
    let mut det = Detector::load(&detector::resolve_model("retinaface"), device, threads)
        .map_err(|e| e.to_string())?
        .detector;
    let dets = det
        .detect(frame, &Params::default())
        .map_err(|e| e.to_string())?;
    let face = dets
        .iter()
        .max_by(|a, b| (a.width() * a.height()).total_cmp(&(b.width() * b.height())))
        .ok_or_else(|| {
            format!(
                "no face found in source {}: use a portrait with a visible, roughly frontal face",
                path.display()
            )
        })?;
    let mut mesh = FaceMesh::load(&landmarker::resolve_model("facemesh"), device, threads)
        .map_err(|e| e.to_string())?
        .mesh;
    let crop = landmarker::crop_from_detection(
        [face.bbox[0], face.bbox[1], face.width(), face.height()],
        face.landmarks[0],
        face.landmarks[1],
    );
    mesh.run(frame, &crop).map_err(|e| e.to_string())?;
    let mut landmarks = mesh.landmarks.clone();
    let iris = portrait_infer::models_dir().join(landmarker::IRIS_MODEL);
    EyeRefiner::load(&iris, device, threads)
        .and_then(|mut e| e.refine(frame, &mut landmarks))
        .map_err(|e| e.to_string())?;
    Ok(landmarks)
}

/// Where the landmarks of `path` (decoded at `w`×`h`) are cached: keyed by a 64-bit
/// FNV-1a hash of the file's bytes and the size, so an edited file is analysed again.
pub fn cache_file(path: &Path, w: usize, h: usize) -> Option<PathBuf> {
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
            .join(format!("{hash:016x}-v1.landmarks")),
    )
}

fn read_landmarks(file: &Path) -> Option<Vec<[f32; 3]>> {
    let b = std::fs::read(file).ok()?;
    if b.len() != 468 * 12 {
        return None;
    }
    let f: Vec<f32> = b
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let l: Vec<[f32; 3]> = f.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
    l.iter().flatten().all(|v| v.is_finite()).then_some(l)
}

/// Best effort: a cache that cannot be written only costs the next start some time.
fn write_landmarks(file: &Path, l: &[[f32; 3]]) {
    let bytes: Vec<u8> = l.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
    if let Some(dir) = file.parent()
        && std::fs::create_dir_all(dir).is_ok()
    {
        let part = file.with_extension("part");
        if std::fs::write(&part, bytes).is_ok() {
            let _ = std::fs::rename(&part, file);
        }
    }
}
