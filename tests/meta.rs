// SPDX-License-Identifier: MIT

//! The face meta travels with the buffer: rescaled by videoscale, kept by videoconvert
//! and queues, readable from apps as typed Rust and as a GstStructure.

mod common;

use common::{media, run};

fn astronaut(tail: &str) -> common::Run {
    run(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! facedetect device=cpu ! {tail}",
        media("astronaut.png").display()
    ))
}

#[test]
fn videoscale_rescales_face_and_roi_metas() {
    let a = astronaut("fakesink name=sink");
    let b = astronaut(
        "videoscale ! video/x-raw,width=256,height=128 ! videoconvert ! queue ! fakesink name=sink",
    );
    assert_eq!(b.sizes[0], (256, 128));
    let (fa, fb) = (&a.frames[0][0], &b.frames[0][0]);
    let (sx, sy) = (256.0 / 512.0, 128.0 / 512.0);
    assert!(
        (fb.x - fa.x * sx).abs() < 0.01 && (fb.width - fa.width * sx).abs() < 0.01,
        "{fb:?}"
    );
    assert!(
        (fb.y - fa.y * sy).abs() < 0.01 && (fb.height - fa.height * sy).abs() < 0.01,
        "{fb:?}"
    );
    for (pa, pb) in fa.landmarks.iter().zip(fb.landmarks) {
        assert!((pb[0] - pa[0] * sx).abs() < 0.01 && (pb[1] - pa[1] * sy).abs() < 0.01);
    }
    // The ROI meta was rescaled by its own transform, in step with ours.
    let (_, x, y, w, h) = b.rois[0][0].clone();
    assert!(
        (x as f32 - fb.x).abs() <= 1.5 && (w as f32 - fb.width).abs() <= 1.5,
        "{x} {w} {fb:?}"
    );
    assert!(
        (y as f32 - fb.y).abs() <= 1.5 && (h as f32 - fb.height).abs() <= 1.5,
        "{y} {h} {fb:?}"
    );
    // Detected state, score and id are carried unchanged.
    assert_eq!(
        (fb.track_id, fb.detected, fb.score),
        (fa.track_id, fa.detected, fa.score)
    );
}

#[test]
fn videoconvert_to_another_format_keeps_the_metas() {
    let r = astronaut("videoconvert ! video/x-raw,format=I420 ! fakesink name=sink");
    assert_eq!(r.frames[0].len(), 1);
    assert_eq!(r.rois[0].len(), 1);
}

#[test]
fn structure_view_matches_the_typed_meta() {
    let r = astronaut("fakesink name=sink");
    let f = &r.frames[0][0];
    let s = f.to_structure();
    assert_eq!(s.get::<f64>("x").unwrap() as f32, f.x);
    assert_eq!(
        s.get::<f64>("mouth-right-y").unwrap() as f32,
        f.landmarks[4][1]
    );
    assert_eq!(s.get::<u64>("track-id").unwrap(), f.track_id);
    let back = gst_portrait_meta::Face::from_structure(&s).unwrap();
    assert_eq!(back.landmarks, f.landmarks);
}

#[test]
fn meta_api_is_registered_once_under_fixed_names() {
    common::init();
    gst_portrait_meta::register();
    gst_portrait_meta::register();
    let t = gst_portrait_meta::FaceMeta::api_type();
    assert_eq!(t.name(), "GstPortraitFaceMetaAPI");
    // Tagged like GstVideoRegionOfInterestMeta, so scaling elements keep and transform it.
    let mut buf = gst::Buffer::new();
    gst_portrait_meta::FaceMeta::add(buf.get_mut().unwrap(), Default::default());
    let m = buf.meta::<gst_portrait_meta::FaceMeta>().unwrap();
    let tags: Vec<&str> = m.tags().iter().map(|t| t.as_str()).collect();
    assert_eq!(tags, ["video", "orientation", "size"]);
    // A copied buffer carries a copy of the meta.
    let copy = buf.copy();
    assert_eq!(gst_portrait_meta::FaceMeta::faces(&copy).len(), 1);
}
