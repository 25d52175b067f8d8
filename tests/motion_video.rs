// SPDX-License-Identifier: MIT

//! motionextract on real face videos: expression controls rise where they do on screen
//! (frames checked by eye on contact sheets of faceoverlay output), tracking with
//! `facedetect interval=5` keeps a motion meta on every frame, element messages.

mod common;

use std::sync::{Arc, Mutex};

use gst::prelude::*;
use gst_portrait_meta::{Motion, MotionMeta};

/// Runs `facedetect {det} ! motionextract {me}` over a media file; one entry per frame.
fn motions(file: &str, det: &str, me: &str) -> Vec<Vec<Motion>> {
    common::init();
    let line = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! facedetect device=cpu {det} ! motionextract device=cpu {me} ! fakesink name=sink",
        common::media(file).display()
    );
    let pipeline = gst::parse::launch(&line)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let out: Arc<Mutex<Vec<Vec<Motion>>>> = Default::default();
    let o = out.clone();
    let sink = pipeline.by_name("sink").unwrap();
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(b) = info.buffer() {
                o.lock().unwrap().push(MotionMeta::all(b));
            }
            gst::PadProbeReturn::Ok
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    for msg in pipeline
        .bus()
        .unwrap()
        .iter_timed(gst::ClockTime::from_seconds(300))
    {
        match msg.view() {
            gst::MessageView::Eos(..) => break,
            gst::MessageView::Error(e) => panic!("{}: {:?}", e.error(), e.debug()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    std::mem::take(&mut *out.lock().unwrap())
}

fn mean(frames: &[Vec<Motion>], range: std::ops::Range<usize>, f: impl Fn(&Motion) -> f32) -> f32 {
    let v: Vec<f32> = frames[range]
        .iter()
        .filter_map(|m| m.first())
        .map(&f)
        .collect();
    assert!(!v.is_empty());
    v.iter().sum::<f32>() / v.len() as f32
}

#[test]
fn mouth_opens_where_she_laughs() {
    // WolfgangLanger_Pexels.mp4 (472 frames): lips closed while crying (frames 0–60,
    // checked at 15 and 45), laughing with the mouth open around 285–320 (checked at
    // 285, 300, 315).
    let m = motions("WolfgangLanger_Pexels.mp4", "interval=5", "");
    assert_eq!(m.len(), 472);
    let missing = m.iter().filter(|f| f.len() != 1).count();
    assert_eq!(missing, 0, "frames without exactly one motion meta");
    let closed = mean(&m, 0..60, |x| x.expression.mouth_open);
    let open = mean(&m, 285..320, |x| x.expression.mouth_open);
    println!("mouth_open: closed {closed:.2}, laughing {open:.2}");
    assert!(closed < 0.2, "closed {closed}");
    assert!(open > 0.4, "open {open}");
    // And frame by frame inside those spans.
    assert!(m[15][0].expression.mouth_open < 0.25);
    assert!(m[300][0].expression.mouth_open > 0.35);
}

#[test]
fn posts_motion_messages() {
    let r = common::run(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! imagefreeze num-buffers=3 ! facedetect device=cpu ! motionextract device=cpu post-messages=true ! fakesink name=sink",
        common::media("grace_hopper.jpg").display()
    ));
    assert!(r.error.is_none(), "{:?}", r.error);
    let msgs: Vec<_> = r
        .messages
        .iter()
        .filter(|s| s.name() == "motionextract")
        .collect();
    assert_eq!(msgs.len(), 3);
    let list = msgs[0].get::<gst::List>("motions").unwrap();
    let s = list.as_slice()[0].get::<gst::Structure>().unwrap();
    assert_eq!(s.name(), "motion");
    let roll = s.get::<f64>("roll").unwrap();
    assert!(roll.abs() < 15.0, "{roll}");
    assert!(s.get::<f64>("mouth-open").is_ok() && s.get::<u64>("track-id").unwrap() > 0);
}

#[test]
fn track_is_dropped_when_the_face_leaves() {
    // face_noface.mov: a face on frames 0..=71, then a black frame and a cartoon sky.
    // With detection every 10 frames, frames 72..=79 still carry the stale face box;
    // the mesh's presence must fall there and no motion may be reported.
    let m = motions("face_noface.mov", "interval=10", "");
    assert_eq!(m.len(), 169);
    for (i, f) in m.iter().enumerate() {
        let want = usize::from(i <= 71);
        assert_eq!(f.len(), want, "frame {i}");
        if let Some(x) = f.first() {
            assert!(x.presence > 0.5);
            assert_eq!(x.tracked, i % 10 != 0, "frame {i}");
        }
    }
}

fn blink(m: &Motion) -> f32 {
    (m.expression.eye_blink_left + m.expression.eye_blink_right) / 2.0
}

#[test]
fn blink_rises_where_the_eyes_close() {
    // single_face.mp4, checked frame by frame on an eye crop: open up to frame 24,
    // closing at 25, shut at 26–27, mostly shut at 28, open again from 30.
    let m = motions("single_face.mp4", "", "");
    let b: Vec<f32> = m
        .iter()
        .map(|f| f.first().map(blink).unwrap_or(f32::NAN))
        .collect();
    println!("single_face blink 20..34: {:?}", &b[20..34]);
    let peak = b[26..=28].iter().cloned().fold(0.0, f32::max);
    assert!(peak > 0.7, "blink peak {peak}");
    assert!(
        b[..24].iter().all(|&v| v < 0.15),
        "open before: {:?}",
        &b[..24]
    );
    assert!(b[32..].iter().all(|&v| v < 0.15), "open after");
    // WolfgangLanger_Pexels.mp4: eyes squeezed shut while crying (checked at 20, 30,
    // 45, 60), open while laughing 150–370 (checked at 250, 300).
    let m = motions("WolfgangLanger_Pexels.mp4", "interval=5", "");
    let shut = mean(&m, 30..90, blink);
    let open = mean(&m, 150..370, blink);
    println!("WolfgangLanger blink: shut {shut:.2}, open {open:.2}");
    assert!(shut > 0.6, "{shut}");
    assert!(open < 0.15, "{open}");
}

#[test]
fn without_eye_refinement_the_mesh_misses_the_blink() {
    // Documents why refine-eyes exists (and is on by default).
    let m = motions("single_face.mp4", "", "refine-eyes=false");
    let peak = m[26..=28]
        .iter()
        .filter_map(|f| f.first())
        .map(blink)
        .fold(0.0, f32::max);
    assert!(peak < 0.5, "mesh-only blink peak {peak}");
}

/// `region-detect` (the default at interval=1: RetinaFace re-detects the faces in the
/// region around them) leaves the mesh where the whole-frame detection puts it: the
/// detection box only places the mesh's crop, and the mesh finds the face in it.
/// Measured with the 128² region, as the mean landmark move over the eye distance: p50
/// 0.012 / 0.015, p95 0.024 / 0.017 (WolfgangLanger, her hand crossing her face /
/// single_face), less than
/// tracking with `interval=30` moves them from the same reference (p50 0.014 / 0.018,
/// p95 0.037 / 0.023).
#[test]
fn region_detection_keeps_the_landmarks() {
    for file in ["WolfgangLanger_Pexels.mp4", "single_face.mp4"] {
        let whole = motions(file, "region-detect=false", "");
        let region = motions(file, "", "");
        assert_eq!(whole.len(), region.len(), "{file}");
        let mut errs = Vec::new();
        for (i, (a, b)) in whole.iter().zip(&region).enumerate() {
            assert_eq!(a.len(), b.len(), "{file} frame {i}");
            let (Some(a), Some(b)) = (a.first(), b.first()) else {
                continue;
            };
            let d =
                |p: [f32; 3], q: [f32; 3]| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt();
            let eyes = d(a.landmarks[33], a.landmarks[263]).max(1.0);
            let mean = a
                .landmarks
                .iter()
                .zip(&b.landmarks)
                .map(|(p, q)| d(*p, *q))
                .sum::<f32>()
                / a.landmarks.len() as f32;
            errs.push(mean / eyes);
        }
        errs.sort_by(f32::total_cmp);
        let n = errs.len();
        let (p50, p95, max) = (errs[n / 2], errs[n * 95 / 100], errs[n - 1]);
        println!(
            "{file}: {n} frames, landmark move / eye distance p50 {p50:.4} p95 {p95:.4} max {max:.4}"
        );
        assert!(n > 50, "{file}: {n} frames with a face");
        assert!(p50 < 0.02 && p95 < 0.04 && max < 0.1, "{file}");
    }
}
