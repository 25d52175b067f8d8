// SPDX-License-Identifier: MIT

use crate::MetaData;

/// Head pose. Angles in degrees (R = Rz(roll)·Ry(yaw)·Rx(pitch) of the canonical face,
/// x right, y up, z towards the viewer): pitch > 0 turns the face down, yaw > 0 turns
/// it towards the image's right, roll > 0 tilts it counter-clockwise in the image.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pose {
    pub pitch: f32,
    pub yaw: f32,
    pub roll: f32,
    /// Position of the face: the weighted centroid of the landmarks the pose is fitted
    /// to (MediaPipe's Procrustes basis: around the eyes, nose and mouth), x, y in frame
    /// pixels, z in pixels (depth of the landmark model, > 0 towards the viewer).
    pub translation: [f32; 3],
    /// Frame pixels per canonical-face centimetre: grows as the face comes closer.
    pub scale: f32,
}

/// Expression controls, each documented with its range. Blink and open values are
/// normalised so 0 is the neutral resting face of most people and 1 the extreme.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Expression {
    /// 0 closed … 1 wide open (inner-lip gap over 0.6 × mouth width).
    pub mouth_open: f32,
    /// Mouth-corner distance over the distance between the outer eye corners
    /// (about 0.75–0.85 at rest, up to ~1.1 in a broad smile).
    pub mouth_width: f32,
    /// 0 open … 1 closed, per eye (image-left = subject's right).
    pub eye_blink_left: f32,
    pub eye_blink_right: f32,
    /// Mean eyebrow-to-eye distance over the eye-corner distance, minus its typical
    /// resting value 0.28: > 0 raised, < 0 frowning.
    pub brow_raise: f32,
    /// LivePortrait-style lip-open ratio: inner-lip gap / mouth-corner distance.
    pub lip_open_ratio: f32,
    /// LivePortrait-style eye-open ratios: lid gap / eye width, per eye.
    pub eye_open_ratio_left: f32,
    pub eye_open_ratio_right: f32,
}

/// LivePortrait implicit-keypoint parameters of a face (`motionextract
/// model=liveportrait`): pose in degrees from the bin logits, translation, expression
/// deformation (21×3), scale and canonical keypoints (21×3).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImplicitKeypoints {
    pub pitch: f32,
    pub yaw: f32,
    pub roll: f32,
    pub t: [f32; 3],
    pub exp: Vec<[f32; 3]>,
    pub scale: f32,
    pub kp: Vec<[f32; 3]>,
}

/// The motion of one face on one frame.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Motion {
    /// The face's track id (same as its [`crate::Face::track_id`]).
    pub track_id: u64,
    /// FaceMesh presence probability of this frame's landmarks.
    pub presence: f32,
    /// True when the crop came from this element's own tracking (previous landmarks)
    /// rather than from a detection on this frame.
    pub tracked: bool,
    /// Dense landmarks (FaceMesh 468): x, y in frame pixels, z in pixels (MediaPipe's
    /// convention: more negative is closer to the camera). Empty in liveportrait mode.
    pub landmarks: Vec<[f32; 3]>,
    /// Absolute head pose on this frame.
    pub pose: Pose,
    /// Pose relative to the reference frame: angles of R·R_ref⁻¹, translation minus the
    /// reference's (pixels), scale over the reference's.
    pub relative: Pose,
    pub expression: Expression,
    /// The expression on the reference frame, the face's own neutral: with
    /// `expression`, how far each control moved within this face's range (a
    /// wide-eyed and a narrow-eyed face blink across different ratios).
    pub reference_expression: Expression,
    /// The landmarks in the canonical, pose-free frame (centimetres) minus the same on
    /// the reference frame: the expression as 468 offsets.
    pub expression_offsets: Vec<[f32; 3]>,
    /// LivePortrait keypoint parameters, in liveportrait mode.
    pub keypoints: Option<ImplicitKeypoints>,
}

impl MetaData for Motion {
    fn scale(&mut self, sx: f32, sy: f32) {
        for p in &mut self.landmarks {
            p[0] *= sx;
            p[1] *= sy;
            p[2] *= sx;
        }
        let pose = &mut self.pose;
        pose.translation[0] *= sx;
        pose.translation[1] *= sy;
        pose.translation[2] *= sx;
        pose.scale *= (sx * sy).sqrt();
        self.relative.translation[0] *= sx;
        self.relative.translation[1] *= sy;
        self.relative.translation[2] *= sx;
    }
}

impl Motion {
    /// A `GstStructure` named "motion": track-id, presence, tracked, pitch, yaw, roll,
    /// tx, ty, tz, scale, rel-pitch, rel-yaw, rel-roll, rel-tx, rel-ty, rel-scale, and
    /// the expression controls (mouth-open, mouth-width, eye-blink-left, ...) and the
    /// reference frame's eye and lip ratios (ref-eye-open-ratio-left, -right,
    /// ref-lip-open-ratio). The dense landmarks are only in the typed meta.
    pub fn to_structure(&self) -> gst::Structure {
        let e = &self.expression;
        let d = |v: f32| v as f64;
        gst::Structure::builder("motion")
            .field("track-id", self.track_id)
            .field("presence", d(self.presence))
            .field("tracked", self.tracked)
            .field("pitch", d(self.pose.pitch))
            .field("yaw", d(self.pose.yaw))
            .field("roll", d(self.pose.roll))
            .field("tx", d(self.pose.translation[0]))
            .field("ty", d(self.pose.translation[1]))
            .field("tz", d(self.pose.translation[2]))
            .field("scale", d(self.pose.scale))
            .field("rel-pitch", d(self.relative.pitch))
            .field("rel-yaw", d(self.relative.yaw))
            .field("rel-roll", d(self.relative.roll))
            .field("rel-tx", d(self.relative.translation[0]))
            .field("rel-ty", d(self.relative.translation[1]))
            .field("rel-scale", d(self.relative.scale))
            .field("mouth-open", d(e.mouth_open))
            .field("mouth-width", d(e.mouth_width))
            .field("eye-blink-left", d(e.eye_blink_left))
            .field("eye-blink-right", d(e.eye_blink_right))
            .field("brow-raise", d(e.brow_raise))
            .field("lip-open-ratio", d(e.lip_open_ratio))
            .field("eye-open-ratio-left", d(e.eye_open_ratio_left))
            .field("eye-open-ratio-right", d(e.eye_open_ratio_right))
            .field(
                "ref-eye-open-ratio-left",
                d(self.reference_expression.eye_open_ratio_left),
            )
            .field(
                "ref-eye-open-ratio-right",
                d(self.reference_expression.eye_open_ratio_right),
            )
            .field(
                "ref-lip-open-ratio",
                d(self.reference_expression.lip_open_ratio),
            )
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_follows_the_frame() {
        let mut m = Motion {
            landmarks: vec![[10.0, 20.0, -5.0]],
            pose: Pose {
                translation: [100.0, 50.0, 0.0],
                scale: 10.0,
                ..Default::default()
            },
            ..Default::default()
        };
        m.scale(0.5, 0.5);
        assert_eq!(m.landmarks[0], [5.0, 10.0, -2.5]);
        assert_eq!(m.pose.translation, [50.0, 25.0, 0.0]);
        assert_eq!(m.pose.scale, 5.0);
    }

    #[test]
    fn structure_has_the_controls() {
        gst::init().unwrap();
        let m = Motion {
            expression: Expression {
                mouth_open: 0.5,
                ..Default::default()
            },
            ..Default::default()
        };
        let s = m.to_structure();
        assert_eq!(s.get::<f64>("mouth-open").unwrap(), 0.5);
    }
}
