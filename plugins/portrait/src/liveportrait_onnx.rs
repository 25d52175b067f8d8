// SPDX-License-Identifier: MIT

//! The user-supplied LivePortrait ONNX models (FasterLivePortrait export) and their
//! face crop. [`MotionExtractor`]: one 256² RGB face crop in [0,1], NCHW → head pose
//! bins, translation, expression, scale and canonical keypoints, reduced to
//! [`KeypointParams`] (pose in degrees). [`Renderer`]: appearance features of the
//! source once, then stitching and warping per driving frame; [`paste_back`] puts its
//! face back into the portrait. No GStreamer here, so tests and benchmarks drive it
//! directly.

use std::path::Path;
use std::sync::Arc;

use portrait_infer::ort::value::TensorRef;
use portrait_infer::{Device, InferError, Loaded, SharedSession, Signature};
use portrait_vision::FrameRef;
pub use portrait_vision::implicit_keypoints::{KeypointParams, Keypoints, NUM_KP, POSE_BINS};
use portrait_vision::resample::{Affine, Normalize, frame_to_tensor_affine};

/// Side of the square crop the motion extractor takes.
pub const MOTION_INPUT_SIZE: usize = 256;
/// Elements of one input tensor: 1×3×256×256.
pub const MOTION_INPUT_LEN: usize = 3 * MOTION_INPUT_SIZE * MOTION_INPUT_SIZE;

/// Output names of the FasterLivePortrait motion extractor, in ONNX Runtime's order.
pub const MOTION_OUTPUTS: [&str; 7] = ["pitch", "yaw", "roll", "t", "exp", "scale", "kp"];

fn describe(sig: &Signature) -> String {
    format!(
        "model {} is not a LivePortrait motion extractor (expected one input [1,3,256,256] → outputs pitch [1,66], yaw [1,66], roll [1,66], t [1,3], exp [1,63], scale [1,1], kp [1,63], by name)",
        sig.describe()
    )
}

/// LivePortrait crops the face at 2.3× its size, centred an eighth of the crop above
/// the face's centre (`utils/crop.py`'s defaults: scale 2.3, vy_ratio −0.125).
const CROP_SCALE: f32 = 2.3;
const CROP_SHIFT_UP: f32 = 0.125;

/// LivePortrait's square face crop ([`MOTION_INPUT_SIZE`]² → frame pixels) around a
/// face of extent `bounds` (x0, y0, x1, y1), levelled on its eyes.
pub fn face_crop(bounds: [f32; 4], eye_l: [f32; 2], eye_r: [f32; 2]) -> Affine {
    let [x0, y0, x1, y1] = bounds;
    let side = (x1 - x0).max(y1 - y0) * CROP_SCALE;
    Affine::square_crop(
        (x0 + x1) / 2.0,
        (y0 + y1) / 2.0 - CROP_SHIFT_UP * side,
        side,
        (eye_r[1] - eye_l[1]).atan2(eye_r[0] - eye_l[0]),
        MOTION_INPUT_SIZE,
    )
}

/// Samples `crop` of `frame` into the models' input `tensor`: RGB in [0,1], NCHW.
pub fn crop_to_tensor(frame: &FrameRef, crop: &Affine, tensor: &mut [f32]) {
    let norm = Normalize {
        mean: [0.0; 3],
        mul: [1.0 / 255.0; 3],
        bgr: false,
        nchw: true,
    };
    frame_to_tensor_affine(
        frame,
        crop,
        MOTION_INPUT_SIZE,
        MOTION_INPUT_SIZE,
        &norm,
        tensor,
    );
}

/// Checks a motion extractor's signature; returns the input name.
/// Outputs are found by name; declared dims must fit (symbolic dims are accepted).
pub fn recognise(sig: &Signature) -> Result<String, String> {
    let same = |shape: &[i64], want: &[i64]| {
        shape.len() == want.len() && shape.iter().zip(want).all(|(&d, &w)| d < 0 || d == w)
    };
    // [1,N] as in the export, any fully known shape of N elements ([1,21,3]), or no
    // shape information at all (ONNX Runtime reports an unknown rank as []); the
    // element counts are checked again on every run.
    let fits = |shape: &[i64], want: &[i64]| {
        shape.is_empty()
            || same(shape, want)
            || (shape.iter().all(|&d| d > 0)
                && shape.iter().product::<i64>() == want.iter().product::<i64>())
    };
    if sig.inputs.len() != 1 {
        return Err(describe(sig));
    }
    let (input, in_shape) = &sig.inputs[0];
    let size = MOTION_INPUT_SIZE as i64;
    if !same(in_shape, &[1, 3, size, size]) {
        return Err(describe(sig));
    }
    let want: [&[i64]; 7] = [
        &[1, POSE_BINS as i64],
        &[1, POSE_BINS as i64],
        &[1, POSE_BINS as i64],
        &[1, 3],
        &[1, 3 * NUM_KP as i64],
        &[1, 1],
        &[1, 3 * NUM_KP as i64],
    ];
    for (name, w) in MOTION_OUTPUTS.iter().zip(want) {
        match sig.output(name) {
            Some(s) if fits(s, w) => {}
            _ => return Err(describe(sig)),
        }
    }
    Ok(input.clone())
}

/// A loaded motion extractor.
pub struct MotionExtractor {
    session: Arc<SharedSession>,
    input: String,
    logits: [f32; POSE_BINS],
}

impl std::fmt::Debug for MotionExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MotionExtractor")
            .field("session", &self.session)
            .field("input", &self.input)
            .finish()
    }
}

impl MotionExtractor {
    /// Opens `path` on `device` with `threads` intra-op threads (0 = ONNX Runtime's
    /// default) and checks that it is a motion extractor.
    pub fn load(path: &Path, device: Device, threads: usize) -> Result<Loaded<Self>, InferError> {
        portrait_infer::load(path, device, threads)?.try_map(|session| {
            let input = recognise(&session.signature())
                .map_err(|m| InferError::ModelInvalid(path.to_path_buf(), m))?;
            Ok(MotionExtractor {
                session,
                input,
                logits: [0.0; POSE_BINS],
            })
        })
    }

    /// The execution provider in use: "cpu", "cuda" or "tensorrt".
    pub fn provider(&self) -> &'static str {
        self.session.provider
    }

    /// Runs the model on one caller-prepared face crop: 1×3×256×256 floats, RGB in
    /// [0,1], planar (NCHW). Pose bins become degrees; kp and exp are read as 21
    /// row-major (x, y, z) points.
    pub fn extract(&mut self, crop_rgb_nchw: &[f32]) -> Result<KeypointParams, InferError> {
        if crop_rgb_nchw.len() != MOTION_INPUT_LEN {
            return Err(InferError::Run(format!(
                "the motion extractor takes 1×3×{0}×{0} = {MOTION_INPUT_LEN} floats, got {1}",
                MOTION_INPUT_SIZE,
                crop_rgb_nchw.len()
            )));
        }
        let run_err = |e: portrait_infer::ort::Error| InferError::Run(e.to_string());
        let t = TensorRef::from_array_view((
            [1usize, 3, MOTION_INPUT_SIZE, MOTION_INPUT_SIZE],
            crop_rgb_nchw,
        ))
        .map_err(run_err)?;
        let mut session = self.session.lock();
        let out = session
            .run(portrait_infer::ort::inputs![self.input.as_str() => t])
            .map_err(run_err)?;
        let mut p = KeypointParams::default();
        let read = |name: &str, dst: &mut [f32]| -> Result<(), InferError> {
            let (_, v) = out[name].try_extract_tensor::<f32>().map_err(run_err)?;
            if v.len() != dst.len() {
                return Err(InferError::Run(format!(
                    "motion extractor output {name} has {} values, expected {}",
                    v.len(),
                    dst.len()
                )));
            }
            dst.copy_from_slice(v);
            Ok(())
        };
        read("pitch", &mut self.logits)?;
        p.pitch = portrait_vision::implicit_keypoints::headpose_degrees(&self.logits);
        read("yaw", &mut self.logits)?;
        p.yaw = portrait_vision::implicit_keypoints::headpose_degrees(&self.logits);
        read("roll", &mut self.logits)?;
        p.roll = portrait_vision::implicit_keypoints::headpose_degrees(&self.logits);
        read("t", &mut p.t)?;
        read("exp", p.exp.as_flattened_mut())?;
        let mut scale = [0f32; 1];
        read("scale", &mut scale)?;
        p.scale = scale[0];
        read("kp", p.kp.as_flattened_mut())?;
        Ok(p)
    }
}

/// Output side of `warping_spade`.
pub const RENDER_SIZE: usize = 512;

/// The FasterLivePortrait files the renderer needs, in a user-supplied directory.
pub const APPEARANCE_FILE: &str = "appearance_feature_extractor.onnx";
pub const MOTION_FILE: &str = "motion_extractor.onnx";
pub const WARPING_FILE: &str = "warping_spade.onnx";
pub const STITCHING_FILE: &str = "stitching.onnx";

fn load_checked(
    path: &Path,
    device: Device,
    threads: usize,
    check: impl Fn(&Signature) -> bool,
    what: &str,
) -> Result<(Arc<SharedSession>, Signature), InferError> {
    let session = portrait_infer::load(path, device, threads)?.model;
    let sig = session.signature();
    if !check(&sig) {
        return Err(InferError::ModelInvalid(
            path.to_path_buf(),
            format!("model {} is not {what}", sig.describe()),
        ));
    }
    Ok((session, sig))
}

/// LivePortrait rendering (FasterLivePortrait layout): the source's appearance
/// features and keypoints once, then per driving frame relative motion → stitching →
/// warping_spade → a 512² face in [0,1].
pub struct Renderer {
    appearance: (Arc<SharedSession>, String),
    pub motion: MotionExtractor,
    warping: Arc<SharedSession>,
    warping_out: String,
    stitching: (Arc<SharedSession>, String, String),
    feature: Vec<f32>,
    feature_shape: Vec<usize>,
    source: KeypointParams,
    /// The rendered face of the last call: 3×512×512, RGB planes in [0,1].
    pub image: Vec<f32>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("warping", &self.warping)
            .finish()
    }
}

impl Renderer {
    /// Loads the four models from `dir`, each recognised by its inputs/outputs (the
    /// fallback is the motion extractor's: all four are placed alike).
    pub fn load(dir: &Path, device: Device, threads: usize) -> Result<Loaded<Self>, InferError> {
        let size = MOTION_INPUT_SIZE as i64;
        let (app, app_sig) = load_checked(
            &dir.join(APPEARANCE_FILE),
            device,
            threads,
            |s| {
                s.inputs.len() == 1
                    && s.inputs[0].1 == [1, 3, size, size]
                    && s.outputs.len() == 1
                    && s.outputs[0].1.len() == 5
            },
            "a LivePortrait appearance feature extractor ([1,3,256,256] → [1,32,16,64,64])",
        )?;
        let Loaded {
            model: motion,
            fallback,
        } = MotionExtractor::load(&dir.join(MOTION_FILE), device, threads)?;
        let (warping, warp_sig) = load_checked(
            &dir.join(WARPING_FILE),
            device,
            threads,
            |s| {
                ["feature_3d", "kp_driving", "kp_source"]
                    .iter()
                    .all(|n| s.inputs.iter().any(|(i, _)| i == n))
                    && s.outputs.len() == 1
            },
            "a LivePortrait warping_spade (feature_3d, kp_driving, kp_source → [1,3,512,512])",
        )?;
        let (stitch, st_sig) = load_checked(
            &dir.join(STITCHING_FILE),
            device,
            threads,
            |s| {
                s.inputs.len() == 1
                    && s.inputs[0].1.last() == Some(&126)
                    && s.outputs.len() == 1
                    && s.outputs[0].1.last() == Some(&65)
            },
            "a LivePortrait stitching model ([1,126] → [1,65])",
        )?;
        let model = Renderer {
            appearance: (app, app_sig.inputs[0].0.clone()),
            motion,
            warping,
            warping_out: warp_sig.outputs[0].0.clone(),
            stitching: (
                stitch,
                st_sig.inputs[0].0.clone(),
                st_sig.outputs[0].0.clone(),
            ),
            feature: Vec::new(),
            feature_shape: Vec::new(),
            source: KeypointParams::default(),
            image: vec![0.0; 3 * RENDER_SIZE * RENDER_SIZE],
        };
        Ok(Loaded { model, fallback })
    }

    /// Prepares the source from its 256² crop (1×3×256×256, RGB in [0,1]): appearance
    /// features and keypoint parameters.
    pub fn set_source(&mut self, crop: &[f32]) -> Result<(), InferError> {
        self.source = self.motion.extract(crop)?;
        let run_err = |e: portrait_infer::ort::Error| InferError::Run(e.to_string());
        let mut s = self.appearance.0.lock();
        let t =
            TensorRef::from_array_view(([1usize, 3, MOTION_INPUT_SIZE, MOTION_INPUT_SIZE], crop))
                .map_err(run_err)?;
        let out = s
            .run(portrait_infer::ort::inputs![self.appearance.1.as_str() => t])
            .map_err(run_err)?;
        let (shape, f) = out[0].try_extract_tensor::<f32>().map_err(run_err)?;
        self.feature_shape = shape.iter().map(|&d| d.max(0) as usize).collect();
        self.feature.clear();
        self.feature.extend_from_slice(f);
        Ok(())
    }

    /// The source's own keypoint parameters (after [`Renderer::set_source`]).
    pub fn source(&self) -> &KeypointParams {
        &self.source
    }

    /// Renders the source moved by `driving` relative to `driving_ref` into
    /// [`Renderer::image`]; returns the driven keypoints (after stitching).
    pub fn render(
        &mut self,
        driving: &KeypointParams,
        driving_ref: &KeypointParams,
    ) -> Result<Keypoints, InferError> {
        use portrait_vision::implicit_keypoints::relative_motion;
        let run_err = |e: portrait_infer::ort::Error| InferError::Run(e.to_string());
        let kp_source = self.source.transformed();
        let (mut kp_driving, _) = relative_motion(&self.source, driving, driving_ref);
        // Stitching: [kp_source, kp_driving] → 63 keypoint deltas + an (x, y) shift.
        let mut stitch_in = [0f32; 126];
        stitch_in[..63].copy_from_slice(kp_source.as_flattened());
        stitch_in[63..].copy_from_slice(kp_driving.as_flattened());
        {
            let mut s = self.stitching.0.lock();
            let t = TensorRef::from_array_view(([1usize, 126], &stitch_in[..])).map_err(run_err)?;
            let out = s
                .run(portrait_infer::ort::inputs![self.stitching.1.as_str() => t])
                .map_err(run_err)?;
            let (_, d) = out[self.stitching.2.as_str()]
                .try_extract_tensor::<f32>()
                .map_err(run_err)?;
            if d.len() < 65 {
                return Err(InferError::Run(format!(
                    "stitching gave {} values, expected 65",
                    d.len()
                )));
            }
            for (k, p) in kp_driving.iter_mut().enumerate() {
                for c in 0..3 {
                    p[c] += d[3 * k + c];
                }
                p[0] += d[63];
                p[1] += d[64];
            }
        }
        if self.feature.is_empty() {
            return Err(InferError::Run("no source prepared".into()));
        }
        let mut s = self.warping.lock();
        let f = TensorRef::from_array_view((self.feature_shape.clone(), &self.feature[..]))
            .map_err(run_err)?;
        let kd = TensorRef::from_array_view(([1usize, NUM_KP, 3], kp_driving.as_flattened()))
            .map_err(run_err)?;
        let ks = TensorRef::from_array_view(([1usize, NUM_KP, 3], kp_source.as_flattened()))
            .map_err(run_err)?;
        let out = s
            .run(portrait_infer::ort::inputs!["feature_3d" => f, "kp_driving" => kd, "kp_source" => ks])
            .map_err(run_err)?;
        let (_, img) = out[self.warping_out.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(run_err)?;
        if img.len() != self.image.len() {
            return Err(InferError::Run(format!(
                "warping_spade gave {} values, expected 3×{RENDER_SIZE}×{RENDER_SIZE}",
                img.len()
            )));
        }
        self.image.copy_from_slice(img);
        Ok(kp_driving)
    }
}

/// Pastes a rendered face (`image`: 3×512×512 planes in [0,1]) back into an RGBA frame
/// `out` of size `frame`, blending with a feathered square mask. `crop` maps the 256²
/// crop the face was rendered from to pixels of the `source`-sized portrait, which the
/// output shows scaled to `render` (the frame may leave out its last row or column).
pub fn paste_back(
    out: &mut [u8],
    frame: (usize, usize),
    render: (usize, usize),
    source: (usize, usize),
    crop: &Affine,
    image: &[f32],
    feather: f32,
) {
    let ((ow, oh), (rw, rh), (sw, sh)) = (frame, render, source);
    let Some(inv) = crop.inverse() else { return };
    let n = MOTION_INPUT_SIZE as f32;
    let r = RENDER_SIZE;
    if image.len() < 3 * r * r || out.len() < ow * oh * 4 {
        return;
    }
    let (sx, sy) = (sw as f32 / rw.max(1) as f32, sh as f32 / rh.max(1) as f32);
    let plane = r * r;
    let k = r as f32 / n;
    for y in 0..oh {
        for x in 0..ow {
            // Output pixel → source pixel → crop coordinates.
            let [tx, ty] = inv.apply((x as f32 + 0.5) * sx, (y as f32 + 0.5) * sy);
            let edge = tx.min(ty).min(n - tx).min(n - ty);
            if edge <= 0.0 {
                continue;
            }
            let w = (edge / feather.max(1e-3)).min(1.0);
            // Bilinear in the rendered image (pixel centres).
            let (u, v) = (
                (tx * k - 0.5).clamp(0.0, (r - 1) as f32),
                (ty * k - 0.5).clamp(0.0, (r - 1) as f32),
            );
            let (u0, v0) = (u as usize, v as usize);
            let (u1, v1) = ((u0 + 1).min(r - 1), (v0 + 1).min(r - 1));
            let (fu, fv) = (u - u0 as f32, v - v0 as f32);
            let o = (y * ow + x) * 4;
            for c in 0..3 {
                let g = |xx: usize, yy: usize| image[c * plane + yy * r + xx];
                let top = g(u0, v0) + (g(u1, v0) - g(u0, v0)) * fu;
                let bot = g(u0, v1) + (g(u1, v1) - g(u0, v1)) * fu;
                let val = (top + (bot - top) * fv).clamp(0.0, 1.0) * 255.0;
                let base = out[o + c] as f32;
                out[o + c] = (base + (val - base) * w).round() as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(inputs: &[(&str, &[i64])], outputs: &[(&str, &[i64])]) -> Signature {
        let v = |x: &[(&str, &[i64])]| x.iter().map(|(n, s)| (n.to_string(), s.to_vec())).collect();
        Signature {
            inputs: v(inputs),
            outputs: v(outputs),
        }
    }

    const OUTS: [(&str, &[i64]); 7] = [
        ("pitch", &[1, 66]),
        ("yaw", &[1, 66]),
        ("roll", &[1, 66]),
        ("t", &[1, 3]),
        ("exp", &[1, 63]),
        ("scale", &[1, 1]),
        ("kp", &[1, 63]),
    ];

    #[test]
    fn paste_back_fills_the_crop_and_leaves_the_rest() {
        use portrait_vision::resample::Affine;
        // Crop: the 256² square at (100, 50)–(228, 178) of a 400×300 source (scale ½).
        let crop = Affine::square_crop(164.0, 114.0, 128.0, 0.0, 256);
        let mut image = vec![0.0f32; 3 * 512 * 512];
        image[..512 * 512].fill(1.0); // red face
        let mut out = vec![10u8; 400 * 300 * 4];
        paste_back(
            &mut out,
            (400, 300),
            (400, 300),
            (400, 300),
            &crop,
            &image,
            8.0,
        );
        let px = |x: usize, y: usize| &out[(y * 400 + x) * 4..(y * 400 + x) * 4 + 3];
        assert_eq!(px(164, 114), &[255, 0, 0]); // centre: the face
        assert_eq!(px(50, 20), &[10, 10, 10]); // outside: untouched
        let edge = px(101, 114)[0]; // inside, near the edge: feathered
        assert!(edge > 10 && edge < 255, "{edge}");
        // Half-size output: the same place, scaled.
        let mut small = vec![10u8; 200 * 150 * 4];
        paste_back(
            &mut small,
            (200, 150),
            (200, 150),
            (400, 300),
            &crop,
            &image,
            8.0,
        );
        assert_eq!(
            &small[(57 * 200 + 82) * 4..(57 * 200 + 82) * 4 + 3],
            &[255, 0, 0]
        );
        // A frame one column and row short of its render size: the same pixels.
        let mut cropped = vec![10u8; 199 * 149 * 4];
        paste_back(
            &mut cropped,
            (199, 149),
            (200, 150),
            (400, 300),
            &crop,
            &image,
            8.0,
        );
        for (y, row) in cropped.chunks_exact(199 * 4).enumerate() {
            assert_eq!(row, &small[y * 200 * 4..(y * 200 + 199) * 4]);
        }
    }

    #[test]
    fn recognises_by_name_in_any_order() {
        assert_eq!(
            recognise(&sig(&[("img", &[1, 3, 256, 256])], &OUTS)).unwrap(),
            "img"
        );
        // TensorRT-engine order, symbolic batch, kp as [1,21,3].
        let mut outs = OUTS.to_vec();
        outs.rotate_right(1);
        outs[0] = ("kp", &[1, 21, 3]);
        outs[1] = ("pitch", &[-1, 66]);
        assert_eq!(
            recognise(&sig(&[("x", &[-1, 3, -1, -1])], &outs)).unwrap(),
            "x"
        );
    }

    #[test]
    fn rejects_other_signatures_with_a_description() {
        let e = recognise(&sig(&[("img", &[1, 3, 224, 224])], &OUTS)).unwrap_err();
        assert!(e.contains("img [1, 3, 224, 224]"), "{e}");
        // NHWC has the right element count but is not what the export takes.
        assert!(recognise(&sig(&[("img", &[1, 256, 256, 3])], &OUTS)).is_err());
        let mut outs = OUTS.to_vec();
        outs[6] = ("keypoints", &[1, 63]);
        let e = recognise(&sig(&[("img", &[1, 3, 256, 256])], &outs)).unwrap_err();
        assert!(
            e.contains("keypoints [1, 63]") && e.contains("kp [1,63]"),
            "{e}"
        );
        let mut outs = OUTS.to_vec();
        outs[0] = ("pitch", &[1, 1]);
        assert!(recognise(&sig(&[("img", &[1, 3, 256, 256])], &outs)).is_err());
        // Unknown output shapes are accepted by name (counts are checked per run).
        let outs: Vec<_> = OUTS.iter().map(|(n, _)| (*n, &[][..])).collect();
        assert!(recognise(&sig(&[("img", &[1, 3, 256, 256])], &outs)).is_ok());
    }
}
