// SPDX-License-Identifier: MIT

//! faceoverlay: draws what the metas say (boxes, landmarks, scores, track ids) in place.

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_portrait_meta::{FaceMeta, MotionMeta};
use portrait_vision::draw;
use portrait_vision::landmarks::NOSE_TIP;
use portrait_vision::pose::rotation_from_euler;

use crate::video;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "faceoverlay",
        gst::DebugColorFlags::empty(),
        Some("gst-portrait face meta overlay"),
    )
});

/// Landmark colours: eyes red/yellow, nose magenta, mouth corners green/blue.
const LANDMARK_RGB: [[u8; 3]; 5] = [
    [255, 0, 0],
    [255, 255, 0],
    [255, 0, 255],
    [0, 255, 0],
    [0, 128, 255],
];
const BOX_DETECTED: [u8; 3] = [0, 255, 0];
const BOX_CARRIED: [u8; 3] = [255, 160, 0];

#[derive(Debug, Clone)]
struct Settings {
    draw_boxes: bool,
    draw_landmarks: bool,
    draw_labels: bool,
    draw_mesh: bool,
    draw_pose: bool,
    line_width: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            draw_boxes: true,
            draw_landmarks: true,
            draw_labels: true,
            draw_mesh: true,
            draw_pose: true,
            line_width: 2,
        }
    }
}

/// Per-stream state, reused frame to frame.
#[derive(Default)]
struct State {
    info: Option<gst_video::VideoInfo>,
    /// Copies of the faces to draw (the frame map borrows the buffer mutably).
    faces: Vec<gst_portrait_meta::Face>,
    motions: Vec<gst_portrait_meta::Motion>,
    label: String,
}

#[derive(Default)]
pub struct FaceOverlay {
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for FaceOverlay {
    const NAME: &'static str = "GstPortraitFaceOverlay";
    type Type = super::FaceOverlay;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for FaceOverlay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            vec![
                glib::ParamSpecBoolean::builder("draw-boxes")
                    .nick("Draw boxes")
                    .blurb("Draw face boxes: green where the detector ran on this frame, orange where the face was carried over")
                    .default_value(d.draw_boxes)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("draw-landmarks")
                    .nick("Draw landmarks")
                    .blurb("Draw the five landmarks: eyes red (image-left) and yellow, nose magenta, mouth corners green and blue")
                    .default_value(d.draw_landmarks)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("draw-labels")
                    .nick("Draw labels")
                    .blurb("Write the track id and score (e.g. \"3 0.98\") above each box")
                    .default_value(d.draw_labels)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("draw-mesh")
                    .nick("Draw mesh")
                    .blurb("Draw the dense landmarks of the motion meta (from motionextract) as white points")
                    .default_value(d.draw_mesh)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("draw-pose")
                    .nick("Draw pose")
                    .blurb("Draw the head-pose axes of the motion meta from the nose tip: x red (the face's left-to-right), y green (up), z blue (out of the face)")
                    .default_value(d.draw_pose)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("line-width")
                    .nick("Line width")
                    .blurb("Width of box lines in pixels; landmarks and labels scale with it")
                    .minimum(1)
                    .maximum(32)
                    .default_value(d.line_width)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        match pspec.name() {
            "draw-boxes" => s.draw_boxes = value.get().unwrap_or(s.draw_boxes),
            "draw-landmarks" => s.draw_landmarks = value.get().unwrap_or(s.draw_landmarks),
            "draw-labels" => s.draw_labels = value.get().unwrap_or(s.draw_labels),
            "draw-mesh" => s.draw_mesh = value.get().unwrap_or(s.draw_mesh),
            "draw-pose" => s.draw_pose = value.get().unwrap_or(s.draw_pose),
            "line-width" => s.line_width = value.get().unwrap_or(s.line_width),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        match pspec.name() {
            "draw-boxes" => s.draw_boxes.to_value(),
            "draw-landmarks" => s.draw_landmarks.to_value(),
            "draw-labels" => s.draw_labels.to_value(),
            "draw-mesh" => s.draw_mesh.to_value(),
            "draw-pose" => s.draw_pose.to_value(),
            "line-width" => s.line_width.to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for FaceOverlay {}

impl ElementImpl for FaceOverlay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Face overlay (gst-portrait)",
                "Filter/Effect/Video",
                "Draws the faces found by facedetect (boxes, landmarks, track ids and scores) onto the video",
                "gst-portrait developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(video::filter_pad_templates);
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for FaceOverlay {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = gst_video::VideoInfo::from_caps(incaps)
            .map_err(|_| gst::loggable_error!(CAT, "invalid caps {incaps}"))?;
        self.state.lock().unwrap_or_else(|e| e.into_inner()).info = Some(info);
        Ok(())
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        // Nothing to draw: leave the buffer (and its memory) alone.
        if buf.meta::<FaceMeta>().is_none() && buf.meta::<MotionMeta>().is_none() {
            return Ok(gst::FlowSuccess::Ok);
        }
        let s = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let st = &mut *guard;
        let info = st.info.as_ref().ok_or(gst::FlowError::NotNegotiated)?;
        crate::metas::copy_metas::<FaceMeta, _>(buf, &mut st.faces, |m| m.face());
        crate::metas::copy_metas::<MotionMeta, _>(buf, &mut st.motions, |m| m.motion());
        let mut frame =
            gst_video::VideoFrameRef::from_buffer_ref_writable(buf, info).map_err(|_| {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ["could not map the video frame writable"]
                );
                gst::FlowError::Error
            })?;
        let mut f = video::frame_mut(&mut frame).map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Format, ["bad video frame: {}", e]);
            gst::FlowError::Error
        })?;
        let lw = s.line_width as i64;
        for face in &st.faces {
            let color = if face.detected {
                BOX_DETECTED
            } else {
                BOX_CARRIED
            };
            if s.draw_boxes {
                draw::rect(&mut f, face.x, face.y, face.width, face.height, lw, color);
            }
            if s.draw_landmarks {
                for (p, c) in face.landmarks.iter().zip(LANDMARK_RGB) {
                    draw::dot(&mut f, p[0], p[1], lw + 1, c);
                }
            }
            if s.draw_labels {
                use std::fmt::Write;
                st.label.clear();
                let _ = write!(st.label, "{} {:.2}", face.track_id, face.score);
                let scale = lw.max(1);
                draw::text(
                    &mut f,
                    face.x,
                    face.y - 7.0 * scale as f32,
                    &st.label,
                    scale,
                    color,
                );
            }
        }
        for m in &st.motions {
            if s.draw_mesh {
                for p in &m.landmarks {
                    f.put(p[0].round() as i64, p[1].round() as i64, [255, 255, 255]);
                }
            }
            if s.draw_pose && m.landmarks.len() > NOSE_TIP {
                let r = rotation_from_euler(m.pose.pitch, m.pose.yaw, m.pose.roll);
                let o = m.landmarks[NOSE_TIP];
                // 5 cm of the canonical face, in pixels.
                let len = 5.0 * m.pose.scale;
                for (k, c) in [[255, 0, 0], [0, 255, 0], [0, 0, 255]]
                    .into_iter()
                    .enumerate()
                {
                    // Model axes (y up) → image axes (y down).
                    let (dx, dy) = (r[0][k] * len, -r[1][k] * len);
                    draw::line(&mut f, o[0], o[1], o[0] + dx, o[1] + dy, lw, c);
                }
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
