// SPDX-License-Identifier: MIT

//! Between the typed metas and the library types: copying metas off a buffer and
//! converting their contents both ways.

/// Copies the data of every `M` meta on `buf` into `out`, reusing the allocations of
/// the previous frame's copies (`clone_from`).
pub fn copy_metas<M: gst::MetaAPI, T: Clone>(
    buf: &gst::BufferRef,
    out: &mut Vec<T>,
    get: impl Fn(&M) -> &T,
) {
    let n = buf.iter_meta::<M>().count();
    out.truncate(n);
    for (i, m) in buf.iter_meta::<M>().enumerate() {
        match out.get_mut(i) {
            Some(v) => v.clone_from(get(&m)),
            None => out.push(get(&m).clone()),
        }
    }
}

/// The face meta of a detection made on this frame, under `track_id` (no ROI meta yet).
pub fn detected_face(
    d: &portrait_vision::detect::Detection,
    track_id: u64,
) -> gst_portrait_meta::Face {
    gst_portrait_meta::Face {
        x: d.bbox[0],
        y: d.bbox[1],
        width: d.width(),
        height: d.height(),
        score: d.score,
        landmarks: d.landmarks,
        track_id,
        detected: true,
        roi_id: -1,
        dense: Vec::new(),
    }
}

/// The meta form of expression controls.
pub fn expression(c: &portrait_vision::expression::Controls) -> gst_portrait_meta::Expression {
    gst_portrait_meta::Expression {
        mouth_open: c.mouth_open,
        mouth_width: c.mouth_width,
        eye_blink_left: c.eye_blink_left,
        eye_blink_right: c.eye_blink_right,
        brow_raise: c.brow_raise,
        lip_open_ratio: c.lip_open_ratio,
        eye_open_ratio_left: c.eye_open_ratio_left,
        eye_open_ratio_right: c.eye_open_ratio_right,
    }
}

/// LivePortrait parameters from a motion meta's keypoints (21 points each), or `None`
/// when they are not that shape.
pub fn keypoint_params(
    k: &gst_portrait_meta::ImplicitKeypoints,
) -> Option<crate::liveportrait_onnx::KeypointParams> {
    if k.kp.len() != 21 || k.exp.len() != 21 {
        return None;
    }
    let mut p = crate::liveportrait_onnx::KeypointParams {
        pitch: k.pitch,
        yaw: k.yaw,
        roll: k.roll,
        t: k.t,
        scale: k.scale,
        ..Default::default()
    };
    p.kp.copy_from_slice(&k.kp);
    p.exp.copy_from_slice(&k.exp);
    Some(p)
}

/// The meta form of LivePortrait parameters.
pub fn implicit_keypoints(
    p: &crate::liveportrait_onnx::KeypointParams,
) -> gst_portrait_meta::ImplicitKeypoints {
    gst_portrait_meta::ImplicitKeypoints {
        pitch: p.pitch,
        yaw: p.yaw,
        roll: p.roll,
        t: p.t,
        exp: p.exp.to_vec(),
        scale: p.scale,
        kp: p.kp.to_vec(),
    }
}

/// Sets `motion` (the portrait's driving motion) from a motion meta's relative pose,
/// expression offsets (reusing their storage), eye openness and brow range of the
/// driving face's own.
pub fn set_driving_motion(
    motion: &mut portrait_vision::transfer::DrivingMotion,
    m: &gst_portrait_meta::Motion,
) {
    let rel = &m.relative;
    motion.rotation = portrait_vision::pose::rotation_from_euler(rel.pitch, rel.yaw, rel.roll);
    motion.scale = rel.scale;
    motion.shift = [rel.translation[0], rel.translation[1]];
    motion.reference_scale = if rel.scale > 0.0 {
        m.pose.scale / rel.scale
    } else {
        m.pose.scale
    };
    motion.offsets.clear();
    motion.offsets.extend_from_slice(&m.expression_offsets);
    let (now, reference) = (&m.expression, &m.reference_expression);
    motion.eyes = [
        portrait_vision::transfer::eye_openness(
            now.eye_open_ratio_left,
            reference.eye_open_ratio_left,
        ),
        portrait_vision::transfer::eye_openness(
            now.eye_open_ratio_right,
            reference.eye_open_ratio_right,
        ),
    ];
    motion.eye_reference = [
        reference.eye_open_ratio_left,
        reference.eye_open_ratio_right,
    ]
    .map(|r| if r > 0.0 { r } else { f32::NAN });
    // A reference that was measured has open eyes; an all-zero one (a meta made
    // without it) says nothing about the brows.
    let measured = reference.eye_open_ratio_left > 0.0 || reference.eye_open_ratio_right > 0.0;
    motion.brow_reference = if measured {
        reference.brow_raise + portrait_vision::expression::BROW_REST
    } else {
        f32::NAN
    };
}
