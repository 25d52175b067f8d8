// SPDX-License-Identifier: MIT

//! LivePortrait motion extractor through ONNX Runtime, on generated fixture models with
//! the FasterLivePortrait I/O signature (`img [1,3,256,256]` → pitch, yaw, roll [1,66],
//! t [1,3], exp [1,63], scale [1,1], kp [1,63]) whose outputs are known functions of
//! the input. Expected values are worked out by hand below, not by the library.

mod common;

use std::path::PathBuf;

use common::onnx;
use gstportrait::liveportrait_onnx::{MOTION_INPUT_LEN, MotionExtractor};
use portrait_vision::implicit_keypoints::relative_motion;

const S: usize = 256;
const HALF_SQRT3: f32 = 0.866_025_4;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "gst-portrait-liveportrait-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// 66 bin logits: `hot` bins get their logit, every other bin 0 (e^-50 ≈ 2e-22:
/// nothing).
fn bins(hot: &[(usize, f32)]) -> Vec<f32> {
    let mut l = vec![0f32; 66];
    for &(i, v) in hot {
        l[i] = v;
    }
    l
}

/// kp_j = 0.01·j − 0.3 and exp_j = 0.001·j − 0.02 for j = 0..62 (point j/3, axis j%3).
fn kp_value(j: usize) -> f32 {
    0.01 * j as f32 - 0.3
}
fn exp_value(j: usize) -> f32 {
    0.001 * j as f32 - 0.02
}

/// The fixture:
/// - pitch: equal peaks on bins 62, 63 → E[i] = 62.5 → 3·62.5 − 97.5 = 90°
/// - yaw: equal peaks on bins 2, 3 → E[i] = 2.5 → −90°
/// - roll: bins 10 and 20 with logits 50 + ln 3 and 50 (weights 3:1) → E[i] = 12.5 → −60°
/// - t = per-channel mean of img (ReduceMean over H, W) × (2, −1, 4)
/// - exp, kp: the constants above; scale = 1.5
///
/// Outputs declared in ONNX Runtime's order, or in the TensorRT engine's order
/// (kp first, as [1,21,3]) to prove they are read by name.
fn motion_fixture(trt_order: bool) -> Vec<u8> {
    motion_fixture_named(trt_order, "kp")
}

/// [`motion_fixture`] with the kp output under another name.
fn motion_fixture_named(trt_order: bool, kp_name: &str) -> Vec<u8> {
    let kp: Vec<f32> = (0..63).map(kp_value).collect();
    let exp: Vec<f32> = (0..63).map(exp_value).collect();
    let kp_dims: &[i64] = if trt_order { &[1, 21, 3] } else { &[1, 63] };
    let nodes = vec![
        onnx::constant("pitch", &[1, 66], &bins(&[(62, 50.0), (63, 50.0)])),
        onnx::constant("yaw", &[1, 66], &bins(&[(2, 50.0), (3, 50.0)])),
        onnx::constant(
            "roll",
            &[1, 66],
            &bins(&[(10, 50.0 + 3f32.ln()), (20, 50.0)]),
        ),
        onnx::node_with(
            "ReduceMean",
            &["img"],
            &["channel_mean"],
            &[
                onnx::attr_ints("axes", &[2, 3]),
                onnx::attr_int("keepdims", 0),
            ],
        ),
        onnx::constant("t_gain", &[1, 3], &[2.0, -1.0, 4.0]),
        onnx::node_with("Mul", &["channel_mean", "t_gain"], &["t"], &[]),
        onnx::constant("exp", &[1, 63], &exp),
        onnx::constant("scale", &[1, 1], &[1.5]),
        onnx::constant(kp_name, kp_dims, &kp),
    ];
    let ort_order: [(&str, &[i64]); 7] = [
        ("pitch", &[1, 66]),
        ("yaw", &[1, 66]),
        ("roll", &[1, 66]),
        ("t", &[1, 3]),
        ("exp", &[1, 63]),
        ("scale", &[1, 1]),
        (kp_name, kp_dims),
    ];
    let mut outputs = ort_order.to_vec();
    if trt_order {
        outputs.rotate_right(1);
    }
    onnx::graph_model(&[("img", &[1, 3, 256, 256])], &nodes, &outputs)
}

fn load_fixture(name: &str, trt_order: bool) -> MotionExtractor {
    common::init();
    let p = tmpdir(name).join("motion_extractor.onnx");
    onnx::write(&p, &motion_fixture(trt_order));
    MotionExtractor::load(&p, gstportrait::Device::Cpu, 1)
        .unwrap_or_else(|e| panic!("loading the fixture: {e}"))
        .model
}

/// A planar RGB crop in [0,1]: R(y,x) = x/255 (mean 127.5/255 = 0.5), G = 0.25,
/// B(y,x) = 0.75·y/255 (mean 0.375).
fn crop() -> Vec<f32> {
    let mut v = vec![0f32; MOTION_INPUT_LEN];
    let (r, rest) = v.split_at_mut(S * S);
    let (g, b) = rest.split_at_mut(S * S);
    for y in 0..S {
        for x in 0..S {
            r[y * S + x] = x as f32 / 255.0;
            g[y * S + x] = 0.25;
            b[y * S + x] = 0.75 * y as f32 / 255.0;
        }
    }
    v
}

fn close(a: f32, b: f32, eps: f32) -> bool {
    (a - b).abs() <= eps
}

/// Checks every output of the fixture on `crop()`.
fn check_params(p: &gstportrait::liveportrait_onnx::KeypointParams) {
    assert!(close(p.pitch, 90.0, 1e-3), "pitch {}", p.pitch);
    assert!(close(p.yaw, -90.0, 1e-3), "yaw {}", p.yaw);
    assert!(close(p.roll, -60.0, 1e-3), "roll {}", p.roll);
    // Channel means (0.5, 0.25, 0.375) × (2, −1, 4).
    for (got, want) in p.t.iter().zip([1.0, -0.25, 1.5]) {
        assert!(close(*got, want, 1e-4), "t {:?}", p.t);
    }
    assert_eq!(p.scale, 1.5);
    for i in 0..21 {
        for k in 0..3 {
            assert_eq!(p.kp[i][k], kp_value(3 * i + k), "kp[{i}][{k}]");
            assert_eq!(p.exp[i][k], exp_value(3 * i + k), "exp[{i}][{k}]");
        }
    }
}

/// The transformed keypoints of the fixture, by hand.
/// Column-vector rotation Rz(−60)·Ry(−90)·Rx(90):
///   Ry(−90)·Rx(90) = [0 −1 0; 0 0 −1; 1 0 0]
///   Rz(−60) = [1/2 √3/2 0; −√3/2 1/2 0; 0 0 1]
///   product = [0 −1/2 −√3/2; 0 √3/2 −1/2; 1 0 0]
/// so (x, y, z)·R (R the transpose) = (−y/2 − √3/2·z, √3/2·y − z/2, x), and
/// x_out = 1.5·(that + exp) + (t_x, t_y, 0).
fn expected_keypoint(i: usize, t: [f32; 2]) -> [f32; 3] {
    let (x, y, z) = (kp_value(3 * i), kp_value(3 * i + 1), kp_value(3 * i + 2));
    let rot = [-0.5 * y - HALF_SQRT3 * z, HALF_SQRT3 * y - 0.5 * z, x];
    [
        1.5 * (rot[0] + exp_value(3 * i)) + t[0],
        1.5 * (rot[1] + exp_value(3 * i + 1)) + t[1],
        1.5 * (rot[2] + exp_value(3 * i + 2)),
    ]
}

#[test]
fn extracts_pose_translation_expression_scale_and_keypoints() {
    let mut m = load_fixture("ort-order", false);
    assert_eq!(m.provider(), "cpu");
    let p = m.extract(&crop()).expect("extract");
    check_params(&p);
    let x = p.transformed();
    for (i, got) in x.iter().enumerate() {
        let want = expected_keypoint(i, [1.0, -0.25]);
        for k in 0..3 {
            assert!(
                close(got[k], want[k], 1e-4),
                "keypoint {i}: {got:?} != {want:?}"
            );
        }
    }
    // Keypoint 0 spelled out: (x, y, z) = (−0.3, −0.29, −0.28), exp (−0.02, −0.019, −0.018)
    // → rotated (0.145 + 0.242487, −0.251147 + 0.14, −0.3) = (0.387487, −0.111147, −0.3)
    // → + exp = (0.367487, −0.130147, −0.318)
    // → ×1.5 + (1, −0.25, 0) = (1.551231, −0.445221, −0.477).
    for (k, want) in [1.551_231f32, -0.445_221, -0.477].iter().enumerate() {
        assert!(close(x[0][k], *want, 1e-5), "keypoint 0: {:?}", x[0]);
    }
}

#[test]
fn input_reaches_the_model_unchanged_and_buffers_do_not_leak_between_calls() {
    let mut m = load_fixture("inputs", false);
    let first = m.extract(&crop()).unwrap();
    // An all-zero crop: t = 0, everything else constant.
    let zero = m.extract(&vec![0f32; MOTION_INPUT_LEN]).unwrap();
    assert_eq!(zero.t, [0.0; 3]);
    assert_eq!(zero.kp, first.kp);
    assert!(close(zero.roll, -60.0, 1e-3));
    // A uniform crop of 1.0 (white, already /255): t = (2, −1, 4).
    let white = m.extract(&vec![1f32; MOTION_INPUT_LEN]).unwrap();
    assert_eq!(white.t, [2.0, -1.0, 4.0]);
    check_params(&m.extract(&crop()).unwrap());
}

#[test]
fn outputs_are_found_by_name_not_position() {
    // kp first (TensorRT engine order) and shaped [1,21,3].
    let mut m = load_fixture("trt-order", true);
    check_params(&m.extract(&crop()).unwrap());
}

#[test]
fn relative_motion_from_extracted_frames() {
    let mut m = load_fixture("relative", false);
    let source = m.extract(&crop()).unwrap();
    let driving_ref = m.extract(&vec![0f32; MOTION_INPUT_LEN]).unwrap();
    let driving = m.extract(&crop()).unwrap();
    // Same pose, expression and scale in both driving frames: only t moved, by
    // (1, −0.25, 1.5) − 0; so the source keypoints shift by (1, −0.25) and t_z = 0.
    let (x, motion) = relative_motion(&source, &driving, &driving_ref);
    assert!(close(motion.t[0], 2.0, 1e-4) && close(motion.t[1], -0.5, 1e-4));
    assert_eq!(motion.t[2], 0.0);
    assert_eq!(motion.scale, 1.5);
    for (i, got) in x.iter().enumerate() {
        let want = expected_keypoint(i, [2.0, -0.5]);
        for k in 0..3 {
            assert!(
                close(got[k], want[k], 1e-4),
                "keypoint {i}: {got:?} != {want:?}"
            );
        }
    }
}

#[test]
fn wrong_signature_is_a_clear_error() {
    common::init();
    let d = tmpdir("wrong");
    let p = d.join("classifier.onnx");
    onnx::write(
        &p,
        &onnx::identity_model(("x", &[1, 3, 224, 224]), &[("y", &[1, 3, 224, 224])]),
    );
    let e = MotionExtractor::load(&p, gstportrait::Device::Cpu, 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("classifier.onnx")
            && e.contains("not a LivePortrait motion extractor")
            && e.contains("x [1, 3, 224, 224]")
            && e.contains("y [1, 3, 224, 224]")
            && e.contains("pitch [1,66]"),
        "{e}"
    );

    // The motion extractor fixture with kp under another name: listed in the message.
    let p = d.join("renamed.onnx");
    onnx::write(&p, &motion_fixture_named(false, "keypoints"));
    let e = MotionExtractor::load(&p, gstportrait::Device::Cpu, 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("keypoints [1, 63]") && e.contains("kp [1,63]"),
        "{e}"
    );
}

#[test]
fn wrong_input_size_is_an_error() {
    let mut m = load_fixture("size", false);
    let e = m.extract(&[0.5; 3 * 128 * 128]).unwrap_err().to_string();
    assert!(e.contains("1×3×256×256") && e.contains("49152"), "{e}");
}

#[test]
fn output_of_the_wrong_size_is_an_error_when_run() {
    common::init();
    // Identity outputs conflict with their declared shapes, so ONNX Runtime reports
    // them as unknown: accepted by name, then refused on the first run.
    let p = tmpdir("identity").join("identity.onnx");
    let outs: [(&str, &[i64]); 7] = [
        ("pitch", &[1, 66]),
        ("yaw", &[1, 66]),
        ("roll", &[1, 66]),
        ("t", &[1, 3]),
        ("exp", &[1, 63]),
        ("scale", &[1, 1]),
        ("kp", &[1, 63]),
    ];
    onnx::write(&p, &onnx::identity_model(("img", &[1, 3, 256, 256]), &outs));
    let mut m = MotionExtractor::load(&p, gstportrait::Device::Cpu, 1)
        .expect("load")
        .model;
    let e = m.extract(&crop()).unwrap_err().to_string();
    assert!(
        e.contains("output pitch has 196608 values, expected 66"),
        "{e}"
    );
}

/// The element path: `motionextract liveportrait-model=<fixture>` on a real photo puts
/// the fixture's parameters into each motion meta, from a 256² crop of the face.
#[test]
fn motionextract_element_carries_the_keypoints() {
    use gst_portrait_meta::MotionMeta;
    common::init();
    let p = tmpdir("element").join("motion_extractor.onnx");
    onnx::write(&p, &motion_fixture(false));
    let (w, h, rgb) = common::decode_rgb(&common::media("astronaut.png"));
    let mut harness = gst_check::Harness::new_parse(&format!(
        "facedetect device=cpu ! motionextract device=cpu liveportrait-model={}",
        p.display()
    ));
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, w as u32, h as u32)
        .build()
        .unwrap();
    harness.set_src_caps(info.to_caps().unwrap());
    let out = harness
        .push_and_pull(gst::Buffer::from_mut_slice(rgb))
        .unwrap();
    let m = out.meta::<MotionMeta>().expect("a motion meta");
    let k = m.keypoints.as_ref().expect("LivePortrait keypoints");
    assert!(close(k.pitch, 90.0, 1e-3) && close(k.yaw, -90.0, 1e-3) && close(k.roll, -60.0, 1e-3));
    assert_eq!(k.scale, 1.5);
    assert_eq!((k.kp.len(), k.exp.len()), (21, 21));
    assert_eq!(k.kp[3][1], kp_value(10));
    // t is the crop's per-channel mean × (2, −1, 4): a real face crop in [0,1].
    assert!(k.t[0] > 0.2 && k.t[0] < 2.0 && k.t[1] < 0.0, "{:?}", k.t);
    // The FaceMesh part is still there.
    assert_eq!(m.landmarks.len(), 468);
}

/// Fixture `appearance_feature_extractor`: feature [1,32,16,64,64] = mean(img) everywhere.
fn appearance_fixture() -> Vec<u8> {
    let n = 32 * 16 * 64 * 64;
    let nodes = vec![
        onnx::constant("zeros", &[1, 32, 16, 64, 64], &vec![0.0; n]),
        onnx::node_with(
            "ReduceMean",
            &["img"],
            &["m"],
            &[onnx::attr_int("keepdims", 0)],
        ),
        onnx::node_with("Add", &["zeros", "m"], &["feature"], &[]),
    ];
    onnx::graph_model(
        &[("img", &[1, 3, 256, 256])],
        &nodes,
        &[("feature", &[1, 32, 16, 64, 64])],
    )
}

/// Per-channel offsets of the warping fixture.
const WARP_CH: [f32; 3] = [0.1, 0.2, 0.3];

/// Fixture `warping_spade`: out[c] = WARP_CH[c] + mean(kp_driving) + 2·mean(kp_source)
/// + mean(feature_3d), the same on every pixel: each input shows up separately.
fn warping_fixture() -> Vec<u8> {
    warping_graph(warping_nodes("out"))
}

/// The nodes of [`warping_fixture`], its image named `out` (and `md` the mean of
/// kp_driving).
fn warping_nodes(out: &str) -> Vec<Vec<u8>> {
    let mean = |i: &str, o: &str| {
        onnx::node_with("ReduceMean", &[i], &[o], &[onnx::attr_int("keepdims", 0)])
    };
    vec![
        onnx::constant("zeros", &[1, 3, 512, 512], &vec![0.0; 3 * 512 * 512]),
        onnx::constant("ch", &[1, 3, 1, 1], &WARP_CH),
        onnx::constant("two", &[], &[2.0]),
        mean("kp_driving", "md"),
        mean("kp_source", "ms"),
        mean("feature_3d", "mf"),
        onnx::node_with("Mul", &["ms", "two"], &["ms2"], &[]),
        onnx::node_with("Add", &["zeros", "ch"], &["a"], &[]),
        onnx::node_with("Add", &["a", "md"], &["b"], &[]),
        onnx::node_with("Add", &["b", "ms2"], &["c"], &[]),
        onnx::node_with("Add", &["c", "mf"], &[out], &[]),
    ]
}

fn warping_graph(nodes: Vec<Vec<u8>>) -> Vec<u8> {
    onnx::graph_model(
        &[
            ("feature_3d", &[1, 32, 16, 64, 64]),
            ("kp_driving", &[1, 21, 3]),
            ("kp_source", &[1, 21, 3]),
        ],
        &nodes,
        &[("out", &[1, 3, 512, 512])],
    )
}

/// Mean driving keypoint over which [`faulty_warping_fixture`] fails, and under minus
/// which it stalls.
const FAULT_AT: f32 = 50.0;

/// [`warping_fixture`] that fails or stalls on demand: when mean(kp_driving) >
/// FAULT_AT it reshapes its image to [7, -1] (3·512² is not a multiple of 7: a run
/// error); under −FAULT_AT it multiplies two 4001² matrices (128 GFLOP: most of a second
/// on one of these machines, never under 150 ms) whose sum, times 0, is added to the image.
fn faulty_warping_fixture() -> Vec<u8> {
    let cast = |i: &str, o: &str, to: i64| {
        onnx::node_with("Cast", &[i], &[o], &[onnx::attr_int("to", to)])
    };
    let concat = |a: &str, b: &str, o: &str| {
        onnx::node_with("Concat", &[a, b], &[o], &[onnx::attr_int("axis", 0)])
    };
    let mut nodes = warping_nodes("img");
    // Failing: when mean(kp_driving) > FAULT_AT the image does not reshape to [7, -1].
    nodes.extend(onnx::fail_when_mean_over(
        "kp_driving",
        FAULT_AT,
        "img",
        "f_",
        "flat_zero",
    ));
    nodes.extend([
        onnx::constant("stall_at", &[], &[-FAULT_AT]),
        onnx::constant("one", &[1], &[1.0]),
        onnx::constant("n_stall", &[], &[4000.0]),
        onnx::constant("zero", &[], &[0.0]),
        onnx::node_with("Add", &["img", "flat_zero"], &["img2"], &[]),
        // Stalling: zeros of [n, n], n = 1 + 4000·stall, squared.
        onnx::node_with("Less", &["md", "stall_at"], &["stall"], &[]),
        cast("stall", "stall_f", 1),
        onnx::node_with("Mul", &["stall_f", "n_stall"], &["n1500"], &[]),
        onnx::node_with("Add", &["one", "n1500"], &["n"], &[]),
        concat("n", "n", "nn_f"),
        cast("nn_f", "nn", 7),
        onnx::node_with("ConstantOfShape", &["nn"], &["big"], &[]),
        onnx::node_with("MatMul", &["big", "big"], &["prod"], &[]),
        onnx::node_with(
            "ReduceSum",
            &["prod"],
            &["sum"],
            &[onnx::attr_int("keepdims", 0)],
        ),
        onnx::node_with("Mul", &["sum", "zero"], &["nothing"], &[]),
        onnx::node_with("Add", &["img2", "nothing"], &["out"], &[]),
    ]);
    warping_graph(nodes)
}

/// Stitching delta of the fixture: 0.001·i on the 63 keypoint values, then +0.05 on x
/// and −0.02 on y.
fn stitch_delta() -> Vec<f32> {
    let mut d: Vec<f32> = (0..63).map(|i| 0.001 * i as f32).collect();
    d.extend([0.05, -0.02]);
    d
}

/// Fixture `stitching`: [1,126] → the constant delta above (+0 × mean of the input, so
/// the input is used).
fn stitching_fixture() -> Vec<u8> {
    let nodes = vec![
        onnx::constant("delta0", &[1, 65], &stitch_delta()),
        onnx::node_with(
            "ReduceMean",
            &["x"],
            &["m"],
            &[onnx::attr_int("keepdims", 0)],
        ),
        onnx::constant("zero", &[], &[0.0]),
        onnx::node_with("Mul", &["m", "zero"], &["m0"], &[]),
        onnx::node_with("Add", &["delta0", "m0"], &["delta"], &[]),
    ];
    onnx::graph_model(&[("x", &[1, 126])], &nodes, &[("delta", &[1, 65])])
}

/// A FasterLivePortrait-layout directory of fixtures.
fn fixture_dir(name: &str) -> PathBuf {
    let d = tmpdir(name);
    onnx::write(&d.join("motion_extractor.onnx"), &motion_fixture(false));
    onnx::write(
        &d.join("appearance_feature_extractor.onnx"),
        &appearance_fixture(),
    );
    onnx::write(&d.join("warping_spade.onnx"), &warping_fixture());
    onnx::write(&d.join("stitching.onnx"), &stitching_fixture());
    d
}

#[test]
fn renderer_feeds_every_model_and_applies_the_keypoint_math() {
    common::init();
    let dir = fixture_dir("renderer");
    let mut r = gstportrait::liveportrait_onnx::Renderer::load(&dir, gstportrait::Device::Cpu, 1)
        .unwrap_or_else(|e| panic!("{e}"))
        .model;
    r.set_source(&crop()).unwrap();
    check_params(r.source());
    // A still driver: relative motion leaves the source keypoints x_s as they are.
    let d = *r.source();
    let kp = r.render(&d, &d).unwrap();
    let t = [1.0, -0.25];
    let delta = stitch_delta();
    let mut mean_xs = 0.0;
    for i in 0..21 {
        let e = expected_keypoint(i, t);
        for c in 0..3 {
            mean_xs += e[c] / 63.0;
            let want = e[c] + delta[3 * i + c] + [0.05, -0.02, 0.0][c];
            assert!(
                close(kp[i][c], want, 1e-4),
                "kp[{i}][{c}] {} vs {want}",
                kp[i][c]
            );
        }
    }
    let mean_delta = (1.953 + 21.0 * 0.05 - 21.0 * 0.02) / 63.0;
    // feature = mean of the crop = (0.5 + 0.25 + 0.375) / 3.
    let feature = 0.375;
    for (c, ch) in WARP_CH.iter().enumerate() {
        let want = ch + (mean_xs + mean_delta) + 2.0 * mean_xs + feature;
        let got = r.image[c * 512 * 512 + 1234];
        assert!(close(got, want, 1e-3), "channel {c}: {got} vs {want}");
    }
}

#[test]
fn renderer_rejects_a_missing_or_wrong_model() {
    common::init();
    let dir = fixture_dir("renderer-bad");
    std::fs::remove_file(dir.join("stitching.onnx")).unwrap();
    let e = gstportrait::liveportrait_onnx::Renderer::load(&dir, gstportrait::Device::Cpu, 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("stitching.onnx") && e.contains("does not exist"),
        "{e}"
    );
    onnx::write(&dir.join("stitching.onnx"), &appearance_fixture());
    let e = gstportrait::liveportrait_onnx::Renderer::load(&dir, gstportrait::Device::Cpu, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("stitching model"), "{e}");
}

/// RGBA frames out of a launch line ending in `fakesink name=sink`.
fn run_frames(line: &str) -> Result<Vec<Vec<u8>>, String> {
    use gst::prelude::*;
    common::init();
    let pipeline = gst::parse::launch(line)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let out: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>> = Default::default();
    let o = out.clone();
    pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(b) = info.buffer() {
                o.lock().unwrap().push(b.map_readable().unwrap().to_vec());
            }
            gst::PadProbeReturn::Ok
        });
    let _ = pipeline.set_state(gst::State::Playing);
    let mut err = None;
    for msg in pipeline
        .bus()
        .unwrap()
        .iter_timed(gst::ClockTime::from_seconds(120))
    {
        match msg.view() {
            gst::MessageView::Eos(..) => break,
            gst::MessageView::Error(e) => {
                err = Some(e.error().to_string());
                break;
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    match err {
        Some(e) => Err(e),
        None => Ok(std::mem::take(&mut *out.lock().unwrap())),
    }
}

#[test]
fn portraitanimate_liveportrait_backend_pastes_the_rendered_face() {
    let dir = fixture_dir("element-render");
    let src = common::media("astronaut.png");
    let line = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! imagefreeze num-buffers=3 ! facedetect device=cpu ! motionextract device=cpu liveportrait-model={} ! portraitanimate backend=liveportrait liveportrait-dir={} source=\"{}\" ! fakesink name=sink",
        common::media("grace_hopper.jpg").display(),
        dir.join("motion_extractor.onnx").display(),
        dir.display(),
        src.display()
    );
    let frames = run_frames(&line).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(frames.len(), 3);
    let (w, _, rgb) = common::decode_rgb(&src);
    let px = |f: &[u8], x: usize, y: usize| {
        [
            f[(y * w + x) * 4],
            f[(y * w + x) * 4 + 1],
            f[(y * w + x) * 4 + 2],
        ]
    };
    let orig = |x: usize, y: usize| {
        [
            rgb[(y * w + x) * 3],
            rgb[(y * w + x) * 3 + 1],
            rgb[(y * w + x) * 3 + 2],
        ]
    };
    // The fixture renders a flat colour: the face region (around the nose, ~(224, 129))
    // shows it, the same on every frame; far from the face the portrait is untouched.
    let face = px(&frames[0], 224, 129);
    assert_eq!(px(&frames[0], 230, 125), face, "flat rendered colour");
    assert_ne!(
        face,
        orig(224, 129),
        "the rendered face replaces the portrait there"
    );
    assert_eq!(
        px(&frames[2], 224, 129),
        face,
        "a still driver renders the same frame"
    );
    for (x, y) in [(5, 5), (500, 500), (480, 300)] {
        assert_eq!(
            px(&frames[1], x, y),
            orig(x, y),
            "({x}, {y}) outside the crop"
        );
    }
}

#[test]
fn portraitanimate_liveportrait_backend_needs_its_directory() {
    let e = run_frames(&format!(
        "videotestsrc num-buffers=2 ! facedetect device=cpu ! motionextract device=cpu ! portraitanimate backend=liveportrait source=\"{}\" ! fakesink name=sink",
        common::media("astronaut.png").display()
    ))
    .unwrap_err();
    assert!(e.contains("liveportrait-dir"), "{e}");
    let dir = tmpdir("element-empty");
    let e = run_frames(&format!(
        "videotestsrc num-buffers=2 ! facedetect device=cpu ! motionextract device=cpu ! portraitanimate backend=liveportrait liveportrait-dir={} source=\"{}\" ! fakesink name=sink",
        dir.display(),
        common::media("astronaut.png").display()
    ))
    .unwrap_err();
    assert!(
        e.contains("appearance_feature_extractor.onnx") && e.contains("does not exist"),
        "{e}"
    );
}

/// A driving frame for portraitanimate: LivePortrait keypoints translated by `tx`
/// (mean(kp_driving) moves by tx/3 from the reference frame's: ±300 makes the faulty
/// fixture fail or stall, 0 renders).
fn driving_buffer(tx: f32) -> gst::Buffer {
    let mut buf = gst::Buffer::with_size(64 * 64 * 4).unwrap();
    {
        let b = buf.get_mut().unwrap();
        b.map_writable().unwrap().as_mut_slice().fill(128);
        let m = gst_portrait_meta::Motion {
            keypoints: Some(gst_portrait_meta::ImplicitKeypoints {
                t: [tx, 0.0, 0.0],
                exp: vec![[0.0; 3]; 21],
                scale: 1.0,
                kp: vec![[0.0; 3]; 21],
                ..Default::default()
            }),
            ..Default::default()
        };
        gst_portrait_meta::MotionMeta::add(b, m);
    }
    buf
}

/// Pushes a driving frame; whether the output shows the rendered face (the fixture's
/// flat colour at the nose) rather than the portrait at rest.
fn rendered(h: &mut gst_check::Harness, tx: f32, portrait: &common::Rgb) -> bool {
    h.push(driving_buffer(tx)).unwrap();
    let out = h.pull().unwrap();
    let map = out.map_readable().unwrap();
    let (w, _, rgb) = portrait;
    let (x, y) = (224, 129);
    let d: i32 = (0..3)
        .map(|c| (i32::from(map[(y * w + x) * 4 + c]) - i32::from(rgb[(y * w + x) * 3 + c])).abs())
        .sum();
    // Everywhere else the frame is the portrait at rest.
    for (x, y) in [(5, 5), (500, 500)] {
        for c in 0..3 {
            assert_eq!(
                map[(y * w + x) * 4 + c],
                rgb[(y * w + x) * 3 + c],
                "({x}, {y})"
            );
        }
    }
    d > 12
}

/// The warnings and infos posted so far.
fn drain(bus: &gst::Bus) -> (Vec<String>, Vec<String>) {
    let (mut warnings, mut infos) = (Vec::new(), Vec::new());
    while let Some(m) = bus.pop() {
        match m.view() {
            gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
            gst::MessageView::Info(i) => infos.push(i.error().to_string()),
            gst::MessageView::Error(e) => panic!("stream error: {}", e.error()),
            _ => {}
        }
    }
    (warnings, infos)
}

/// A failing or stalling renderer: the neutral portrait is shown, a warning says why,
/// the model is left alone for the back-off, then tried again and the face comes back.
#[test]
fn portraitanimate_falls_back_to_the_neutral_portrait_on_faults_and_recovers() {
    use gst::prelude::*;
    common::init();
    let dir = fixture_dir("faults");
    onnx::write(&dir.join("warping_spade.onnx"), &faulty_warping_fixture());
    let src = common::media("astronaut.png");
    let portrait = common::decode_rgb(&src);
    let mut h = gst_check::Harness::new_parse(&format!(
        "portraitanimate backend=liveportrait liveportrait-dir={} source=\"{}\" fault-deadline=150",
        dir.display(),
        src.display()
    ));
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps_str("video/x-raw,format=RGBA,width=64,height=64,framerate=25/1");
    let back_off = std::time::Duration::from_millis(1100);

    assert!(
        rendered(&mut h, 0.0, &portrait),
        "a good run shows the rendered face"
    );
    assert!(rendered(&mut h, 0.0, &portrait));
    // A failing run: the neutral portrait, a warning, and the next runs skipped.
    assert!(
        !rendered(&mut h, 300.0, &portrait),
        "fallback: the portrait at rest"
    );
    let (w, _) = drain(&bus);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("neutral portrait") && w[0].contains("retrying in 1000 ms"),
        "{w:?}"
    );
    assert!(
        !rendered(&mut h, 0.0, &portrait),
        "the breaker is open: no run"
    );
    assert!(
        drain(&bus).0.is_empty(),
        "one warning per fault, not per frame"
    );
    // After the back-off a good run closes it again.
    std::thread::sleep(back_off);
    assert!(rendered(&mut h, 0.0, &portrait), "recovered");
    let (w, i) = drain(&bus);
    assert!(
        w.is_empty() && i.iter().any(|m| m.contains("recovered")),
        "{w:?} {i:?}"
    );

    // A stalling run (over fault-deadline=150 ms): its own frame is shown, then the
    // fallback while the breaker is open.
    let t = std::time::Instant::now();
    assert!(
        rendered(&mut h, -300.0, &portrait),
        "the stalled frame itself"
    );
    let stalled = t.elapsed();
    let (w, _) = drain(&bus);
    assert!(
        w.len() == 1 && w[0].contains("over fault-deadline=150 ms"),
        "{w:?} after {stalled:?}"
    );
    assert!(!rendered(&mut h, 0.0, &portrait));
    std::thread::sleep(back_off);
    assert!(rendered(&mut h, 0.0, &portrait));

    // Faults in a row double the back-off.
    assert!(!rendered(&mut h, 300.0, &portrait));
    std::thread::sleep(back_off);
    assert!(!rendered(&mut h, 300.0, &portrait), "still failing");
    let (w, _) = drain(&bus);
    assert!(
        w.len() == 2 && w[1].contains("retrying in 2000 ms"),
        "{w:?}"
    );
    std::thread::sleep(back_off);
    assert!(
        !rendered(&mut h, 0.0, &portrait),
        "2 s back-off not over yet"
    );
    std::thread::sleep(back_off);
    assert!(rendered(&mut h, 0.0, &portrait));
}

/// fallback=hold shows the last good face during a fault; fallback=error stops.
#[test]
fn portraitanimate_fallback_hold_and_error() {
    common::init();
    let dir = fixture_dir("faults-hold");
    onnx::write(&dir.join("warping_spade.onnx"), &faulty_warping_fixture());
    let src = common::media("astronaut.png");
    let portrait = common::decode_rgb(&src);
    let line = |fallback: &str| {
        format!(
            "portraitanimate backend=liveportrait liveportrait-dir={} source=\"{}\" fallback={fallback}",
            dir.display(),
            src.display()
        )
    };
    let mut h = gst_check::Harness::new_parse(&line("hold"));
    h.set_src_caps_str("video/x-raw,format=RGBA,width=64,height=64,framerate=25/1");
    assert!(rendered(&mut h, 0.0, &portrait));
    assert!(
        rendered(&mut h, 300.0, &portrait),
        "held: the last good face"
    );
    assert!(
        rendered(&mut h, 0.0, &portrait),
        "held while the breaker is open"
    );

    let mut h = gst_check::Harness::new_parse(&line("error"));
    h.set_src_caps_str("video/x-raw,format=RGBA,width=64,height=64,framerate=25/1");
    assert!(rendered(&mut h, 0.0, &portrait));
    assert_eq!(h.push(driving_buffer(300.0)), Err(gst::FlowError::Error));
}
