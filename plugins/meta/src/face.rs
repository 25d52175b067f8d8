// SPDX-License-Identifier: MIT

use gst::glib;

/// Names of the five detector landmarks, in order. "left"/"right" are as seen in the
/// image (the subject's right eye is the image-left one).
pub const LANDMARK_NAMES: [&str; 5] =
    ["eye-left", "eye-right", "nose", "mouth-left", "mouth-right"];

/// One face, in pixels of the buffer it is attached to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Face {
    /// Bounding box, top-left corner and size.
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    /// Detector confidence in [0, 1].
    pub score: f32,
    /// Five landmarks, see [`LANDMARK_NAMES`].
    pub landmarks: [[f32; 2]; 5],
    /// Stable id of this face across frames (1, 2, ...; never reused in a stream).
    pub track_id: u64,
    /// True when the detector ran on this frame; false when the face was carried over
    /// from an earlier detection (`facedetect interval=N`) or tracked by another element.
    pub detected: bool,
    /// Id of the `GstVideoRegionOfInterestMeta` kept in step with this face (-1: none).
    pub roi_id: i32,
    /// Dense landmarks (x, y, z in pixels) when an element such as `motionextract`
    /// has computed them; empty otherwise.
    pub dense: Vec<[f32; 3]>,
}

impl crate::MetaData for Face {
    fn scale(&mut self, sx: f32, sy: f32) {
        Face::scale(self, sx, sy)
    }
}

impl Face {
    /// Scales every coordinate, as when the frame is resized by (sx, sy).
    pub fn scale(&mut self, sx: f32, sy: f32) {
        self.x *= sx;
        self.y *= sy;
        self.width *= sx;
        self.height *= sy;
        for p in &mut self.landmarks {
            p[0] *= sx;
            p[1] *= sy;
        }
        // z follows the x scale, as depth is in the same units as width.
        for p in &mut self.dense {
            p[0] *= sx;
            p[1] *= sy;
            p[2] *= sx;
        }
    }

    /// A `GstStructure` named "face" with every field, for messages and for apps that
    /// don't link Rust: x, y, width, height, score (f64), track-id (u64), detected
    /// (bool), and one (x, y) pair per landmark: `eye-left-x`, `eye-left-y`, ...
    pub fn to_structure(&self) -> gst::Structure {
        let mut s = gst::Structure::builder("face")
            .field("x", self.x as f64)
            .field("y", self.y as f64)
            .field("width", self.width as f64)
            .field("height", self.height as f64)
            .field("score", self.score as f64)
            .field("track-id", self.track_id)
            .field("detected", self.detected)
            .build();
        for (name, p) in LANDMARK_NAMES.iter().zip(&self.landmarks) {
            s.set(format!("{name}-x"), p[0] as f64);
            s.set(format!("{name}-y"), p[1] as f64);
        }
        if !self.dense.is_empty() {
            s.set("dense-count", self.dense.len() as u32);
        }
        s
    }

    /// Reads back what [`Face::to_structure`] wrote (dense landmarks are not carried).
    pub fn from_structure(s: &gst::StructureRef) -> Result<Self, glib::BoolError> {
        let f = |name: &str| -> Result<f32, glib::BoolError> {
            s.get::<f64>(name)
                .map(|v| v as f32)
                .map_err(|e| glib::bool_error!("face structure field {name}: {e}"))
        };
        let mut face = Face {
            x: f("x")?,
            y: f("y")?,
            width: f("width")?,
            height: f("height")?,
            score: f("score")?,
            track_id: s.get("track-id").unwrap_or(0),
            detected: s.get("detected").unwrap_or(true),
            roi_id: -1,
            ..Default::default()
        };
        for (name, p) in LANDMARK_NAMES.iter().zip(&mut face.landmarks) {
            *p = [f(&format!("{name}-x"))?, f(&format!("{name}-y"))?];
        }
        Ok(face)
    }

    /// Center of the box.
    pub fn center(&self) -> [f32; 2] {
        [self.x + self.width / 2.0, self.y + self.height / 2.0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Face {
        Face {
            x: 10.0,
            y: 20.0,
            width: 30.0,
            height: 40.0,
            score: 0.9,
            landmarks: [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0], [9.0, 10.0]],
            track_id: 7,
            detected: true,
            roi_id: 3,
            dense: vec![],
        }
    }

    #[test]
    fn structure_round_trip() {
        gst::init().unwrap();
        let face = sample();
        let s = face.to_structure();
        assert_eq!(s.name(), "face");
        let back = Face::from_structure(&s).unwrap();
        assert_eq!(back.landmarks, face.landmarks);
        assert_eq!(back.track_id, 7);
        assert!((back.score - 0.9).abs() < 1e-6);
    }

    #[test]
    fn scale_moves_everything() {
        let mut f = sample();
        f.scale(2.0, 0.5);
        assert_eq!((f.x, f.y, f.width, f.height), (20.0, 10.0, 60.0, 20.0));
        assert_eq!(f.landmarks[4], [18.0, 5.0]);
    }
}
