// SPDX-License-Identifier: MIT

//! faceoverlay draws the face metas, in every format, and leaves frames without faces alone.

mod common;

use gst_check::Harness;
use gst_portrait_meta::{Face, FaceMeta};
use gst_video::VideoFormat;

fn face() -> Face {
    Face {
        x: 10.0,
        y: 12.0,
        width: 20.0,
        height: 24.0,
        score: 0.97,
        landmarks: [
            [15.0, 20.0],
            [25.0, 20.0],
            [20.0, 25.0],
            [16.0, 30.0],
            [24.0, 30.0],
        ],
        track_id: 4,
        detected: true,
        roi_id: 4,
        dense: vec![],
    }
}

fn run_overlay(fmt: VideoFormat, with_face: bool) -> (Vec<u8>, gst::Buffer, gst_video::VideoInfo) {
    common::init();
    let info = gst_video::VideoInfo::builder(fmt, 48, 48).build().unwrap();
    let mut h = Harness::new("faceoverlay");
    h.set_src_caps(info.to_caps().unwrap());
    let mut buf = gst::Buffer::with_size(info.size()).unwrap();
    {
        let b = buf.get_mut().unwrap();
        b.map_writable().unwrap().as_mut_slice().fill(100);
        if with_face {
            FaceMeta::add(b, face());
        }
    }
    let before = buf.map_readable().unwrap().as_slice().to_vec();
    let out = h.push_and_pull(buf).unwrap();
    (before, out, info)
}

#[test]
fn draws_box_landmarks_and_label_in_every_format() {
    for fmt in [
        VideoFormat::Rgb,
        VideoFormat::Bgrx,
        VideoFormat::I420,
        VideoFormat::Nv12,
    ] {
        let (_, out, info) = run_overlay(fmt, true);
        let frame =
            gst_video::VideoFrameRef::from_buffer_ref_readable(out.as_ref(), &info).unwrap();
        let view = gstportrait::video::frame_ref(&frame).unwrap();
        // On the box's left edge: green. Inside the box, away from landmarks: untouched.
        let edge = view.rgb(10, 22);
        assert!(edge[1] > 200 && edge[0] < 60, "{fmt:?} edge {edge:?}");
        let inside = view.rgb(13, 15);
        let grey = view.rgb(47, 47);
        assert_eq!(inside, grey, "{fmt:?}");
        // Nose landmark: magenta.
        let nose = view.rgb(20, 25);
        assert!(
            nose[0] > 200 && nose[2] > 200 && nose[1] < 60,
            "{fmt:?} nose {nose:?}"
        );
        // Label above the box: some pixel in the text rows changed.
        let changed = (0..48).any(|x| view.rgb(x, 7) != grey);
        assert!(changed, "{fmt:?}: no label drawn");
    }
}

#[test]
fn frames_without_faces_are_untouched() {
    let (before, out, _) = run_overlay(VideoFormat::Rgb, false);
    assert_eq!(out.map_readable().unwrap().as_slice(), &before[..]);
}
