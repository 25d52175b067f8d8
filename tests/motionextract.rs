// SPDX-License-Identifier: MIT

//! motionextract on real photos moved by a known per-frame similarity (roll, scale,
//! shift: the ground truth is kept), landmark jitter on a still photo with sensor-like
//! noise, tracking between detections, and the no-face / bad-input cases.

mod common;

use gst_check::Harness;
use gst_portrait_meta::{FaceMeta, Motion, MotionMeta};
use gst_video::{VideoFormat, VideoInfo};

use common::{decode_rgb, init, media};

const W: usize = 640;
const H: usize = 480;

/// Warps `src` (sw×sh RGB) into a W×H frame: the source point `cs` goes to the frame
/// centre shifted by `d`, rotated counter-clockwise (as seen) by `theta` degrees and
/// scaled by `s`. Bilinear; grey outside. `noise` adds uniform ±noise per channel.
#[allow(clippy::too_many_arguments)]
fn warp(
    src: &[u8],
    sw: usize,
    sh: usize,
    cs: [f32; 2],
    theta: f32,
    s: f32,
    d: [f32; 2],
    noise: u32,
    seed: &mut u32,
) -> Vec<u8> {
    let (sin, cos) = theta.to_radians().sin_cos();
    let co = [W as f32 / 2.0 + d[0], H as f32 / 2.0 + d[1]];
    let mut out = vec![0u8; W * H * 3];
    for y in 0..H {
        for x in 0..W {
            // Inverse map: rotate by −θ (y down: CCW-as-seen is (x cos + y sin, −x sin + y cos)).
            let (qx, qy) = ((x as f32 + 0.5 - co[0]) / s, (y as f32 + 0.5 - co[1]) / s);
            let px = qx * cos - qy * sin + cs[0] - 0.5;
            let py = qx * sin + qy * cos + cs[1] - 0.5;
            let o = (y * W + x) * 3;
            if px < 0.0 || py < 0.0 || px >= (sw - 1) as f32 || py >= (sh - 1) as f32 {
                out[o..o + 3].fill(110);
            } else {
                let (x0, y0) = (px as usize, py as usize);
                let (fx, fy) = (px - x0 as f32, py - y0 as f32);
                for c in 0..3 {
                    let g = |xx: usize, yy: usize| src[(yy * sw + xx) * 3 + c] as f32;
                    let top = g(x0, y0) + (g(x0 + 1, y0) - g(x0, y0)) * fx;
                    let bot = g(x0, y0 + 1) + (g(x0 + 1, y0 + 1) - g(x0, y0 + 1)) * fx;
                    out[o + c] = (top + (bot - top) * fy).round().clamp(0.0, 255.0) as u8;
                }
            }
            if noise > 0 {
                for c in 0..3 {
                    *seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
                    let n = ((*seed >> 8) % (2 * noise + 1)) as i32 - noise as i32;
                    out[o + c] = (out[o + c] as i32 + n).clamp(0, 255) as u8;
                }
            }
        }
    }
    out
}

/// Where the forward warp sends source point `p`.
fn forward(p: [f32; 2], cs: [f32; 2], theta: f32, s: f32, d: [f32; 2]) -> [f32; 2] {
    let (sin, cos) = theta.to_radians().sin_cos();
    let (x, y) = (p[0] - cs[0], p[1] - cs[1]);
    [
        W as f32 / 2.0 + d[0] + s * (x * cos + y * sin),
        H as f32 / 2.0 + d[1] + s * (-x * sin + y * cos),
    ]
}

fn inverse(q: [f32; 2], cs: [f32; 2], theta: f32, s: f32, d: [f32; 2]) -> [f32; 2] {
    let (sin, cos) = theta.to_radians().sin_cos();
    let (qx, qy) = (
        (q[0] - W as f32 / 2.0 - d[0]) / s,
        (q[1] - H as f32 / 2.0 - d[1]) / s,
    );
    [qx * cos - qy * sin + cs[0], qx * sin + qy * cos + cs[1]]
}

fn rgb_buffer(data: Vec<u8>, i: u64) -> gst::Buffer {
    let mut b = gst::Buffer::from_mut_slice(data);
    {
        let b = b.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(i * 40));
        b.set_duration(gst::ClockTime::from_mseconds(40));
    }
    b
}

fn harness(props: &str, det_props: &str) -> Harness {
    init();
    let mut h = Harness::new_parse(&format!(
        "facedetect device=cpu {det_props} ! motionextract device=cpu {props}"
    ));
    let info = VideoInfo::builder(VideoFormat::Rgb, W as u32, H as u32)
        .fps(gst::Fraction::new(25, 1))
        .build()
        .unwrap();
    h.set_src_caps(info.to_caps().unwrap());
    h
}

fn motion(buf: &gst::Buffer) -> Option<Motion> {
    buf.meta::<MotionMeta>().map(|m| m.motion().clone())
}

/// (roll°, scale, shift x, shift y) of each pose in the sequence.
const POSES: [(f32, f32, f32, f32); 11] = [
    (0.0, 1.0, 0.0, 0.0),
    (10.0, 1.0, 0.0, 0.0),
    (-15.0, 1.0, 0.0, 0.0),
    (25.0, 1.0, 0.0, 0.0),
    (0.0, 1.2, 0.0, 0.0),
    (0.0, 0.85, 0.0, 0.0),
    (0.0, 1.0, 40.0, -30.0),
    (0.0, 1.0, -50.0, 25.0),
    (15.0, 1.1, 30.0, 20.0),
    (-20.0, 0.9, -35.0, -20.0),
    (35.0, 1.0, 10.0, 0.0),
];

/// Runs the pose sequence, moving to each pose over 4 frames (a face does not jump,
/// and the detector's ids follow boxes by overlap) and holding it `hold` frames, and
/// checks the last frame of each hold against the ground truth: roll within 2°,
/// scale within 3%, shift within 2 px (relative to the first frame, the reference).
fn check_known_motion(props: &str, hold: usize) {
    let (sw, sh, src) = decode_rgb(&media("astronaut.png"));
    // The astronaut's face centre (hand-annotated box, see facedetect_photos.rs).
    let cs = [225.0, 120.0];
    let mut h = harness(props, "");
    let mut seed = 1u32;
    let mut first_t = None;
    // The first frame's absolute translation: what relative translations start from.
    let mut reference: Option<[f32; 2]> = None;
    let mut i = 0;
    let mut prev = POSES[0];
    for &(theta, s, dx, dy) in &POSES {
        let lerp = |a: f32, b: f32, k: usize| a + (b - a) * k as f32 / 4.0;
        for k in 1..4 {
            let (t, sc) = (lerp(prev.0, theta, k), lerp(prev.1, s, k));
            let d = [lerp(prev.2, dx, k), lerp(prev.3, dy, k)];
            let frame = warp(&src, sw, sh, cs, t, sc, d, 0, &mut seed);
            let out = h.push_and_pull(rgb_buffer(frame, i)).expect("buffer");
            if i == 0 {
                reference = motion(&out).map(|m| [m.pose.translation[0], m.pose.translation[1]]);
            }
            i += 1;
        }
        prev = (theta, s, dx, dy);
        let frame = warp(&src, sw, sh, cs, theta, s, [dx, dy], 0, &mut seed);
        let mut last = None;
        for _ in 0..hold {
            let out = h
                .push_and_pull(rgb_buffer(frame.clone(), i))
                .expect("buffer");
            i += 1;
            last =
                Some(motion(&out).unwrap_or_else(|| panic!("no motion meta at pose {theta} {s}")));
        }
        let m = last.unwrap();
        // The canonical origin's source position, from the reference frame.
        let t0 = *first_t.get_or_insert_with(|| {
            let p = m.pose.translation;
            inverse(
                [p[0], p[1]],
                cs,
                POSES[0].0,
                POSES[0].1,
                [POSES[0].2, POSES[0].3],
            )
        });
        let want_t = forward(t0, cs, theta, s, [dx, dy]);
        let got_t = [m.pose.translation[0], m.pose.translation[1]];
        let droll = m.relative.roll - theta;
        let dscale = m.relative.scale / s - 1.0;
        let dshift = ((got_t[0] - want_t[0]).powi(2) + (got_t[1] - want_t[1]).powi(2)).sqrt();
        println!(
            "pose roll {theta:5.1} scale {s:.2} shift {dx:5.1},{dy:5.1}: roll err {droll:+.2}°, scale err {:+.2}%, shift err {dshift:.2} px",
            dscale * 100.0
        );
        assert!(droll.abs() <= 2.0, "roll {} vs {theta}", m.relative.roll);
        assert!(dscale.abs() <= 0.03, "scale {} vs {s}", m.relative.scale);
        assert!(dshift <= 2.0, "shift {got_t:?} vs {want_t:?}");
        // Relative translation agrees with the absolute one. (The first frame is
        // measured from the whole frame's detection, the later ones of the same pose
        // from region-detect's: their poses may differ by a fraction of a pixel.)
        let r0 = reference.expect("a motion meta on the first frame");
        let rel = m.relative.translation;
        assert!(
            (rel[0] - (got_t[0] - r0[0])).abs() < 1e-2
                && (rel[1] - (got_t[1] - r0[1])).abs() < 1e-2,
            "relative {rel:?} vs {got_t:?} - {r0:?}"
        );
    }
}

#[test]
fn known_roll_scale_and_shift_are_measured_unsmoothed() {
    check_known_motion("smoothing=false", 1);
}

#[test]
fn known_roll_scale_and_shift_are_measured_after_smoothing_settles() {
    check_known_motion("", 15);
}

/// Standard deviation (px) of each landmark over frames, averaged over landmarks.
fn jitter(frames: &[Motion]) -> f32 {
    let n = frames.len() as f32;
    let mut total = 0.0;
    for i in 0..468 {
        for c in 0..2 {
            let mean = frames.iter().map(|m| m.landmarks[i][c]).sum::<f32>() / n;
            let var = frames
                .iter()
                .map(|m| (m.landmarks[i][c] - mean).powi(2))
                .sum::<f32>()
                / n;
            total += var.sqrt();
        }
    }
    total / (468.0 * 2.0)
}

fn still_run(props: &str) -> Vec<Motion> {
    let (sw, sh, src) = decode_rgb(&media("astronaut.png"));
    // Detect once, then track: each frame's crop comes from the last landmarks.
    let mut h = harness(props, "interval=1000");
    let mut seed = 7u32;
    let mut out = vec![];
    for i in 0..100 {
        // Sensor-like noise: ±6 levels per channel, new every frame.
        let frame = warp(
            &src,
            sw,
            sh,
            [225.0, 120.0],
            0.0,
            1.0,
            [0.0, 0.0],
            6,
            &mut seed,
        );
        let buf = h.push_and_pull(rgb_buffer(frame, i)).unwrap();
        let m = motion(&buf).expect("a motion meta on every frame");
        assert_eq!(m.tracked, i > 0, "frame {i}");
        out.push(m);
    }
    out
}

#[test]
fn still_photo_jitter_is_under_half_a_pixel() {
    let smoothed = still_run("");
    let raw = still_run("smoothing=false");
    let (js, jr) = (jitter(&smoothed[10..]), jitter(&raw[10..]));
    println!("landmark jitter: raw {jr:.3} px, smoothed {js:.3} px");
    assert!(js <= 0.5, "smoothed jitter {js}");
    assert!(js < jr, "smoothing must reduce jitter ({js} vs {jr})");
}

#[test]
fn tracking_follows_a_moving_face_between_detections() {
    let (sw, sh, src) = decode_rgb(&media("astronaut.png"));
    // The Harness answers latency queries as a live source, where redetect-async=auto
    // would move each re-detection's result to the next frame: off keeps them on 0, 10.
    let mut h = harness("smoothing=false", "interval=10 redetect-async=off");
    let mut seed = 3u32;
    for i in 0..20u64 {
        // 4 px per frame to the right: the carried detection box goes stale, the
        // tracked mesh must not.
        let dx = 4.0 * i as f32;
        let frame = warp(
            &src,
            sw,
            sh,
            [225.0, 120.0],
            0.0,
            1.0,
            [dx, 0.0],
            0,
            &mut seed,
        );
        let buf = h.push_and_pull(rgb_buffer(frame, i)).unwrap();
        let m = motion(&buf).expect("motion");
        assert_eq!(m.tracked, i % 10 != 0, "frame {i}");
        assert!(
            (m.relative.translation[0] - dx).abs() < 2.0,
            "frame {i}: {:?}",
            m.relative.translation
        );
        // Between detections, the face meta follows the tracked face too.
        let f = buf.meta::<FaceMeta>().unwrap();
        if m.tracked {
            let nose = m.landmarks[1];
            assert!(
                (f.landmarks[2][0] - nose[0]).abs() < 1e-3,
                "face meta updated from the mesh"
            );
        }
    }
}

#[test]
fn no_face_gives_no_motion_meta_and_no_error() {
    let r = common::run(
        "videotestsrc num-buffers=5 ! video/x-raw,width=320,height=240 ! facedetect device=cpu ! motionextract device=cpu ! fakesink name=sink",
    );
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.frames.len(), 5);
    // And without any facedetect upstream (no face meta at all).
    init();
    let mut h = Harness::new_parse("motionextract device=cpu");
    let info = VideoInfo::builder(VideoFormat::I420, 64, 48)
        .build()
        .unwrap();
    h.set_src_caps(info.to_caps().unwrap());
    let out = h
        .push_and_pull(gst::Buffer::with_size(info.size()).unwrap())
        .unwrap();
    assert!(out.meta::<MotionMeta>().is_none());
}

#[test]
fn every_format_and_odd_sizes() {
    let (iw, ih, rgb) = decode_rgb(&media("astronaut.png"));
    let mut reference: Option<Motion> = None;
    for (fmt, pf) in common::frames::FORMATS {
        for pad in [0, 20] {
            let (buf, info) = common::frames::make_buffer(
                fmt,
                pf,
                600,
                560,
                pad,
                Some(common::frames::Paste {
                    rgb: &rgb,
                    w: iw,
                    h: ih,
                    x: 37,
                    y: 21,
                    scale: 1,
                }),
            );
            init();
            let mut h = Harness::new_parse("facedetect device=cpu ! motionextract device=cpu");
            h.set_src_caps(info.to_caps().unwrap());
            let out = h.push_and_pull(buf).unwrap();
            let m = motion(&out).unwrap_or_else(|| panic!("{fmt:?}: no motion"));
            let r = reference.get_or_insert_with(|| m.clone());
            // Same face in every format: nose tip within 3 px, roll within 1.5°.
            let (a, b) = (m.landmarks[1], r.landmarks[1]);
            assert!(
                (a[0] - b[0]).abs() < 3.0 && (a[1] - b[1]).abs() < 3.0,
                "{fmt:?} pad {pad}"
            );
            assert!((m.pose.roll - r.pose.roll).abs() < 1.5, "{fmt:?}");
        }
        for (w, hgt) in [(1, 1), (3, 5)] {
            let (buf, info) = common::frames::make_buffer(fmt, pf, w, hgt, 0, None);
            init();
            let mut h = Harness::new_parse("facedetect device=cpu ! motionextract device=cpu");
            h.set_src_caps(info.to_caps().unwrap());
            let out = h.push_and_pull(buf).unwrap();
            assert!(out.meta::<MotionMeta>().is_none());
        }
    }
}

#[test]
fn missing_or_corrupt_model_is_a_clear_error() {
    let r = common::run(
        "videotestsrc num-buffers=2 ! facedetect device=cpu ! motionextract model=/nonexistent/mesh.onnx ! fakesink name=sink",
    );
    let e = r.error.expect("an error");
    assert!(
        e.contains("motionextract")
            && e.contains("/nonexistent/mesh.onnx")
            && e.contains("does not exist"),
        "{e}"
    );
    let dir = std::env::temp_dir().join(format!("gst-portrait-me-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("mesh.onnx");
    std::fs::write(&p, b"\x08\x07garbage that is not a model").unwrap();
    let r = common::run(&format!(
        "videotestsrc num-buffers=2 ! facedetect device=cpu ! motionextract model={} ! fakesink name=sink",
        p.display()
    ));
    let e = r.error.expect("an error");
    assert!(e.contains("not a valid ONNX model"), "{e}");
    // A valid ONNX model that is not FaceMesh: the detector.
    let det = common::cache_dir().join("models/retinaface-mnet025.onnx");
    let r = common::run(&format!(
        "videotestsrc num-buffers=2 ! facedetect device=cpu ! motionextract model={} ! fakesink name=sink",
        det.display()
    ));
    let e = r.error.expect("an error");
    assert!(e.contains("not FaceMesh-468"), "{e}");
}

#[test]
fn reference_can_be_reset() {
    let (sw, sh, src) = decode_rgb(&media("astronaut.png"));
    let mut h = harness("smoothing=false", "");
    let mut seed = 1u32;
    let a = warp(
        &src,
        sw,
        sh,
        [225.0, 120.0],
        0.0,
        1.0,
        [0.0, 0.0],
        0,
        &mut seed,
    );
    let b = warp(
        &src,
        sw,
        sh,
        [225.0, 120.0],
        20.0,
        1.0,
        [0.0, 0.0],
        0,
        &mut seed,
    );
    h.push_and_pull(rgb_buffer(a, 0)).unwrap();
    let m = motion(&h.push_and_pull(rgb_buffer(b.clone(), 1)).unwrap()).unwrap();
    assert!((m.relative.roll - 20.0).abs() < 2.0);
    // Through the action signal: the next frame becomes the reference.
    let me = h
        .element()
        .unwrap()
        .downcast::<gst::Bin>()
        .unwrap()
        .iterate_elements()
        .into_iter()
        .flatten()
        .find(|e| e.factory().is_some_and(|f| f.name() == "motionextract"))
        .expect("motionextract in the bin");
    me.emit_by_name::<()>("reset-reference", &[]);
    let m = motion(&h.push_and_pull(rgb_buffer(b, 2)).unwrap()).unwrap();
    assert!(m.relative.roll.abs() < 0.01, "{}", m.relative.roll);
    assert!(
        m.expression_offsets
            .iter()
            .all(|o| o.iter().all(|v| v.abs() < 1e-4))
    );
}

use gst::prelude::*;

/// A FaceMesh-signature fixture: MediaPipe's canonical face, 100 px wide, in the 192²
/// crop (so the pose fit has a face), presence logit 10, and a run error on demand:
/// when the crop's mean is over 0.8 (a white frame) it reshapes its input to [7, −1]
/// (3·192² is not a multiple of 7), summed, times 0, onto its outputs.
fn faulty_mesh_fixture() -> Vec<u8> {
    use common::onnx;
    let canonical = gstportrait::landmarker::canonical_mesh().unwrap().vertices;
    let lm: Vec<f32> = canonical
        .iter()
        .flat_map(|v| [96.0 + 6.0 * v[0], 96.0 - 6.0 * v[1], 6.0 * v[2]])
        .collect();
    let mut nodes = vec![
        onnx::constant("lm0", &[1, 1404], &lm),
        onnx::constant("presence0", &[1, 1], &[10.0]),
    ];
    nodes.extend(onnx::fail_when_mean_over(
        "input", 0.8, "input", "f_", "nothing",
    ));
    nodes.extend([
        onnx::node_with("Add", &["lm0", "nothing"], &["landmarks"], &[]),
        onnx::node_with("Add", &["presence0", "nothing"], &["presence"], &[]),
    ]);
    onnx::graph_model(
        &[("input", &[1, 3, 192, 192])],
        &nodes,
        &[("landmarks", &[1, 1404]), ("presence", &[1, 1])],
    )
}

/// A 320×240 RGB frame of one flat grey level with a detected face on it.
fn frame_with_face(level: u8, i: u64) -> gst::Buffer {
    let mut b = rgb_buffer(vec![level; 320 * 240 * 3], i);
    FaceMeta::add(
        b.get_mut().unwrap(),
        gst_portrait_meta::Face {
            x: 110.0,
            y: 70.0,
            width: 100.0,
            height: 100.0,
            score: 0.9,
            landmarks: [
                [140.0, 105.0],
                [180.0, 105.0],
                [160.0, 125.0],
                [145.0, 145.0],
                [175.0, 145.0],
            ],
            track_id: 1,
            detected: true,
            roi_id: -1,
            dense: Vec::new(),
        },
    );
    b
}

/// A landmark model that fails on demand: with fallback=skip the frames pass on
/// without motion (one warning per fault, the model left alone for the back-off), and
/// motion comes back with an info message once it runs again; fallback=error stops.
#[test]
fn a_failing_model_skips_motion_backs_off_and_recovers() {
    init();
    let dir = std::env::temp_dir().join(format!("gst-portrait-faulty-mesh-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("face_landmark.onnx");
    common::onnx::write(&model, &faulty_mesh_fixture());
    let harness = |fallback: &str| {
        let mut h = Harness::new_parse(&format!(
            "motionextract device=cpu refine-eyes=false model=\"{}\" fallback={fallback}",
            model.display()
        ));
        let info = VideoInfo::builder(VideoFormat::Rgb, 320, 240)
            .fps(gst::Fraction::new(25, 1))
            .build()
            .unwrap();
        h.set_src_caps(info.to_caps().unwrap());
        h
    };
    let mut h = harness("skip");
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    let mut pushed = 0;
    let mut step = |h: &mut Harness, level: u8| {
        pushed += 1;
        h.push(frame_with_face(level, pushed)).unwrap();
        motion(&h.pull().unwrap()).is_some()
    };
    let messages = |bus: &gst::Bus| {
        let (mut w, mut i) = (vec![], vec![]);
        while let Some(m) = bus.pop() {
            match m.view() {
                gst::MessageView::Warning(x) => w.push(x.error().to_string()),
                gst::MessageView::Info(x) => i.push(x.error().to_string()),
                gst::MessageView::Error(x) => panic!("{}", x.error()),
                _ => {}
            }
        }
        (w, i)
    };
    assert!(step(&mut h, 128), "motion from the fixture's face");
    assert!(!step(&mut h, 255), "the failing run: no motion, no error");
    let (w, _) = messages(&bus);
    assert!(
        w.len() == 1 && w[0].contains("frames pass on without motion and retrying in 1000 ms"),
        "{w:?}"
    );
    assert!(!step(&mut h, 128), "left alone during the back-off");
    assert!(messages(&bus).0.is_empty());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(step(&mut h, 128), "back after the back-off");
    let (w, i) = messages(&bus);
    assert!(
        w.is_empty() && i.iter().any(|m| m.contains("recovered")),
        "{w:?} {i:?}"
    );

    let mut h = harness("error");
    h.push(frame_with_face(128, 1)).unwrap();
    assert!(motion(&h.pull().unwrap()).is_some());
    assert_eq!(h.push(frame_with_face(255, 2)), Err(gst::FlowError::Error));
    let _ = std::fs::remove_dir_all(&dir);
}
