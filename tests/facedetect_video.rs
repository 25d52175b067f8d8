// SPDX-License-Identifier: MIT

//! facedetect on video: no false faces on face-free frames, faces exactly where a real
//! video shows one, `interval`, track ids, and element messages.

mod common;

use common::{media, run};

#[test]
fn no_faces_on_test_patterns() {
    // Every videotestsrc pattern that is not a plain colour, plus moving ones.
    for pattern in [
        "smpte",
        "snow",
        "checkers-1",
        "checkers-8",
        "circular",
        "blink",
        "smpte75",
        "zone-plate",
        "gamut",
        "chroma-zone-plate",
        "ball",
        "smpte100",
        "bar",
        "pinwheel",
        "spokes",
        "gradient",
        "colors",
    ] {
        let r = run(&format!(
            "videotestsrc pattern={pattern} num-buffers=10 ! video/x-raw,width=640,height=480 ! facedetect device=cpu ! fakesink name=sink"
        ));
        assert!(r.error.is_none(), "{pattern}: {:?}", r.error);
        assert_eq!(r.frames.len(), 10);
        let n: usize = r.frames.iter().map(Vec::len).sum();
        assert_eq!(n, 0, "{pattern}: false faces {:?}", r.frames);
    }
}

#[test]
fn no_faces_on_a_face_free_video() {
    let r = run(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! facedetect device=cpu ! fakesink name=sink",
        media("no_face.mp4").display()
    ));
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(r.frames.len() > 50, "{} frames", r.frames.len());
    let with: Vec<usize> = (0..r.frames.len())
        .filter(|&i| !r.frames[i].is_empty())
        .collect();
    assert!(with.is_empty(), "faces on frames {with:?}");
}

/// Ground truth checked frame by frame on contact sheets: face_noface.mov (169 frames)
/// shows a face on frames 0..=71, frame 72 is black, then a cartoon sky;
/// noface_face.mov shows the cartoon up to frame 95, the face on 96..=167, frame 168
/// is black. One frame of slack at each cut.
fn check_faces_only_where_shown(file: &str, face_frames: std::ops::RangeInclusive<usize>) {
    let r = run(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! facedetect device=cpu ! fakesink name=sink",
        media(file).display()
    ));
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.frames.len(), 169, "{file}");
    let (a, b) = (*face_frames.start(), *face_frames.end());
    for (i, faces) in r.frames.iter().enumerate() {
        let near_cut = i + 1 == a || i == a || i == b || i == b + 1;
        if near_cut {
            continue;
        }
        let want = if face_frames.contains(&i) { 1 } else { 0 };
        assert_eq!(faces.len(), want, "{file} frame {i}: {faces:?}");
    }
    // One person throughout: one track id.
    let ids: std::collections::BTreeSet<u64> =
        r.frames.iter().flatten().map(|f| f.track_id).collect();
    assert_eq!(ids.len(), 1, "{file}: ids {ids:?}");
}

#[test]
fn faces_only_where_a_face_is_shown_disappearing() {
    check_faces_only_where_shown("face_noface.mov", 0..=71);
}

#[test]
fn faces_only_where_a_face_is_shown_appearing() {
    check_faces_only_where_shown("noface_face.mov", 96..=167);
}

#[test]
fn interval_carries_faces_between_detections() {
    let r = run(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! facedetect device=cpu interval=4 ! fakesink name=sink",
        media("single_face.mp4").display()
    ));
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(r.frames.len() >= 40);
    for (i, faces) in r.frames.iter().enumerate() {
        assert_eq!(faces.len(), 1, "frame {i}");
        assert_eq!(faces[0].detected, i % 4 == 0, "frame {i}");
        // The ROI meta is kept in step on every frame.
        assert_eq!(r.rois[i].len(), 1);
        assert_eq!(r.rois[i][0].0, "face");
    }
    // Carried frames repeat the last detection's box.
    assert_eq!(r.frames[1][0].x, r.frames[0][0].x);
    assert_eq!(r.frames[3][0].width, r.frames[0][0].width);
}

#[test]
fn posts_opencv_style_messages() {
    let r = run(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! imagefreeze num-buffers=3 ! facedetect device=cpu post-messages=true ! fakesink name=sink",
        media("multi_face.jpg").display()
    ));
    assert!(r.error.is_none(), "{:?}", r.error);
    let msgs: Vec<_> = r
        .messages
        .iter()
        .filter(|s| s.name() == "facedetect")
        .collect();
    assert_eq!(msgs.len(), 3);
    let m = msgs[1];
    assert!(m.get::<u64>("timestamp").is_ok());
    assert!(m.get::<u64>("running-time").is_ok());
    let faces = m.get::<gst::List>("faces").expect("faces list");
    assert_eq!(faces.len(), 5);
    let f = faces.as_slice()[0].get::<gst::Structure>().unwrap();
    let face = gst_portrait_meta::Face::from_structure(&f).unwrap();
    assert!(face.width > 50.0 && face.score > 0.9, "{face:?}");
    // Same faces as the metas on that buffer.
    assert_eq!(r.frames[1].len(), 5);
    // No messages unless asked.
    let r = run(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! facedetect device=cpu ! fakesink name=sink",
        media("multi_face.jpg").display()
    ));
    assert!(r.messages.iter().all(|s| s.name() != "facedetect"));
}

#[test]
fn track_ids_are_stable_in_a_group_photo_sequence() {
    let r = run(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! imagefreeze num-buffers=5 ! facedetect device=cpu ! fakesink name=sink",
        media("multi_face.jpg").display()
    ));
    let first: Vec<u64> = r.frames[0].iter().map(|f| f.track_id).collect();
    let mut sorted = first.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 5, "distinct ids {first:?}");
    for f in &r.frames[1..] {
        for face in f {
            // The same box keeps its id.
            let same = r.frames[0]
                .iter()
                .find(|g| (g.x - face.x).abs() < 1.0 && (g.y - face.y).abs() < 1.0)
                .expect("same face on the frozen image");
            assert_eq!(same.track_id, face.track_id);
        }
    }
}
