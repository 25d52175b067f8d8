// SPDX-License-Identifier: MIT

//! Speech-driven motion on MediaPipe's canonical face, for `lipsync`: the talking
//! avatar's motion meta at a running time (the face rig's mouth and blinks, idle head
//! sway, posed into the frame), and dubbing, which replaces a driving face's mouth.
//! No GStreamer here.

use std::sync::Arc;

use gst_portrait_meta::{Motion, Pose};
use portrait_vision::expression::{self, LIP_RATIO_WIDE};
use portrait_vision::face_rig::{self, Idle, Rig, RigControls};
use portrait_vision::mesh::CanonicalMesh;
use portrait_vision::pose;
use portrait_vision::speech::Mouth;

/// Fraction of the frame height the avatar's face (canonical mesh extent) takes.
const FACE_HEIGHT: f32 = 0.55;

/// The talking avatar's face: the canonical mesh, its rig and idle motion.
pub struct Avatar {
    canonical: Vec<[f32; 3]>,
    weights: Vec<f32>,
    rig: Arc<Rig>,
    idle: Idle,
    /// The canonical face's controls: the avatar's neutral.
    rest: expression::Controls,
    /// Pixels per cm for a face `FACE_HEIGHT` of a frame 1 px high.
    scale_per_px: f32,
    /// Scratch: the rig's offsets and the pose-free face they make.
    offsets: Vec<[f32; 3]>,
    pose_free: Vec<[f32; 3]>,
}

/// Replaces driving faces' mouths (what dubbing needs of the avatar, shareable across
/// threads).
#[derive(Clone)]
pub struct Dub {
    rig: Arc<Rig>,
    rest_width: f32,
}

impl Avatar {
    /// The avatar on `mesh`, its idle motion seeded by `seed`; `None` when the mesh is
    /// too small for the rig.
    pub fn new(mesh: CanonicalMesh, seed: u64) -> Option<Self> {
        let rig = Rig::new(&mesh.vertices)?;
        let rest = expression::controls(&mesh.vertices).unwrap_or_default();
        let [_, y0, _, y1] = portrait_vision::detect::bounds(&mesh.vertices);
        Some(Avatar {
            weights: mesh.weights(),
            canonical: mesh.vertices,
            rig: Arc::new(rig),
            idle: Idle::new(seed, 0.0),
            rest,
            scale_per_px: FACE_HEIGHT / (y1 - y0).max(1.0),
            offsets: Vec::new(),
            pose_free: Vec::new(),
        })
    }

    /// The dubbing side of the avatar.
    pub fn dub(&self) -> Dub {
        Dub {
            rig: self.rig.clone(),
            rest_width: self.rest.mouth_width,
        }
    }

    /// The avatar's motion at running time `t` (seconds) with mouth `m`, in a `w`×`h`
    /// frame: idle blinks and head sway when `idle_motion`, else a still head.
    pub fn motion(&mut self, idle_motion: bool, t: f64, m: Mouth, w: f32, h: f32) -> Motion {
        let idle = if idle_motion {
            self.idle.at(t, m.open)
        } else {
            Default::default()
        };
        let c = RigControls {
            open: m.open,
            spread: m.spread,
            round: m.round,
            blink_left: idle.blink,
            blink_right: idle.blink,
        };
        self.rig.offsets(&c, &mut self.offsets);
        self.pose_free.clear();
        self.pose_free.extend(
            self.canonical
                .iter()
                .zip(&self.offsets)
                .map(|(p, o)| [p[0] + o[0], p[1] + o[1], p[2] + o[2]]),
        );
        let mut controls = expression::controls(&self.pose_free).unwrap_or_default();
        // The mouth as commanded, as in dubbing: 0 is closed lips (the canonical mesh's
        // own lips are slightly apart).
        controls.mouth_open = m.open;
        controls.lip_open_ratio = m.open * LIP_RATIO_WIDE;
        let r = pose::rotation_from_euler(idle.pitch, idle.yaw, idle.roll);
        let scale = self.scale_per_px * h;
        let centre = [w / 2.0, h / 2.0];
        let mut landmarks = Vec::with_capacity(self.canonical.len());
        face_rig::pose_landmarks(
            &self.canonical,
            &self.weights,
            &self.offsets,
            &r,
            scale,
            centre,
            &mut landmarks,
        );
        let angles = Pose {
            pitch: idle.pitch,
            yaw: idle.yaw,
            roll: idle.roll,
            ..Default::default()
        };
        Motion {
            track_id: 1,
            presence: 1.0,
            tracked: false,
            landmarks,
            pose: Pose {
                translation: [centre[0], centre[1], 0.0],
                scale,
                ..angles
            },
            relative: Pose {
                scale: 1.0,
                ..angles
            },
            expression: crate::metas::expression(&controls),
            reference_expression: crate::metas::expression(&self.rest),
            expression_offsets: self.offsets.clone(),
            keypoints: None,
        }
    }
}

impl Dub {
    /// Replaces a driving face's mouth by `m` (expression controls and offsets); eyes,
    /// brows and pose are kept.
    pub fn apply(&self, motion: &mut Motion, m: &Mouth) {
        let c = RigControls {
            open: m.open,
            spread: m.spread,
            round: m.round,
            ..Default::default()
        };
        self.rig.replace_mouth(&c, &mut motion.expression_offsets);
        let e = &mut motion.expression;
        e.mouth_open = m.open;
        e.lip_open_ratio = m.open * LIP_RATIO_WIDE;
        e.mouth_width = self.rest_width * (1.0 + 0.2 * m.spread - 0.25 * m.round);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real canonical mesh (fetched by scripts/setup.sh, as every test needs).
    fn avatar() -> Avatar {
        let mesh = crate::landmarker::canonical_mesh()
            .unwrap_or_else(|e| panic!("{e}: run scripts/setup.sh"));
        Avatar::new(mesh, 7).expect("rig")
    }

    fn mouth(open: f32) -> Mouth {
        Mouth {
            open,
            ..Default::default()
        }
    }

    #[test]
    fn the_avatar_says_what_it_is_told_and_stays_in_frame() {
        let mut a = avatar();
        let closed = a.motion(false, 0.0, mouth(0.0), 512.0, 512.0);
        let open = a.motion(false, 0.04, mouth(0.6), 512.0, 512.0);
        assert_eq!(closed.landmarks.len(), 468);
        assert_eq!(open.expression.mouth_open, 0.6);
        assert!((open.expression.lip_open_ratio - 0.6 * LIP_RATIO_WIDE).abs() < 1e-6);
        // The commanded opening moves the lower lip down in the frame (y down).
        use portrait_vision::landmarks::LIP_LOWER_INNER;
        let dy = open.landmarks[LIP_LOWER_INNER][1] - closed.landmarks[LIP_LOWER_INNER][1];
        assert!(dy > 5.0, "lower lip moved {dy} px");
        // Centred, FACE_HEIGHT of the frame tall, still with idle motion off.
        let [x0, y0, x1, y1] = portrait_vision::detect::bounds(&closed.landmarks);
        assert!(((x0 + x1) / 2.0 - 256.0).abs() < 40.0 && ((y0 + y1) / 2.0 - 256.0).abs() < 40.0);
        assert!(
            ((y1 - y0) / 512.0 - FACE_HEIGHT).abs() < 0.05,
            "height {}",
            y1 - y0
        );
        assert_eq!(
            [closed.pose.pitch, closed.pose.yaw, closed.pose.roll],
            [0.0; 3]
        );
        // Idle motion is deterministic by seed.
        let (mut b, mut c) = (avatar(), avatar());
        for k in 0..50 {
            let t = k as f64 * 0.04;
            let (mb, mc) = (
                b.motion(true, t, mouth(0.2), 512.0, 512.0),
                c.motion(true, t, mouth(0.2), 512.0, 512.0),
            );
            assert_eq!(mb, mc);
        }
    }

    #[test]
    fn dubbing_replaces_the_mouth_only() {
        let mut a = avatar();
        let mut driving = a.motion(false, 0.0, mouth(0.0), 512.0, 512.0);
        // Some eye motion on the driving face that the dub must keep.
        use portrait_vision::landmarks::{EYE_LEFT_UPPER, LIP_LOWER_INNER};
        for &i in &EYE_LEFT_UPPER {
            driving.expression_offsets[i][1] -= 0.3;
        }
        let before = driving.clone();
        a.dub().apply(&mut driving, &mouth(0.5));
        assert_eq!(driving.expression.mouth_open, 0.5);
        assert_eq!(
            driving.expression.eye_blink_left,
            before.expression.eye_blink_left
        );
        for &i in &EYE_LEFT_UPPER {
            assert_eq!(driving.expression_offsets[i], before.expression_offsets[i]);
        }
        assert!(
            driving.expression_offsets[LIP_LOWER_INNER][1]
                < before.expression_offsets[LIP_LOWER_INNER][1] - 0.1,
            "lower lip opened (model axes: y up)"
        );
        assert_eq!(driving.landmarks, before.landmarks);
        assert_eq!(driving.pose, before.pose);
    }
}
