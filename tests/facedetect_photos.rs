// SPDX-License-Identifier: MIT

//! facedetect on real photos from the registries, against boxes annotated by hand
//! (read off gridded enlargements of each image and checked by eye on faceoverlay
//! output): every face found with IoU >= 0.5.

mod common;

use common::{iou, media, run};

/// (file, hand-annotated faces as x, y, w, h: brow/forehead to chin, cheek to cheek)
const PHOTOS: &[(&str, &[[f32; 4]])] = &[
    ("astronaut.png", &[[180.0, 65.0, 90.0, 110.0]]),
    ("grace_hopper.jpg", &[[175.0, 135.0, 180.0, 190.0]]),
    ("hopper.png", &[[41.0, 26.0, 45.0, 52.0]]),
    // Rotated 45° and shrunk: the face is ~50 px in a 128² frame.
    ("hopper_45.png", &[[52.0, 56.0, 48.0, 52.0]]),
    (
        "multi_face.jpg",
        &[
            [215.0, 68.0, 95.0, 110.0],
            [318.0, 238.0, 96.0, 122.0],
            [437.0, 222.0, 80.0, 92.0],
            [531.0, 312.0, 97.0, 122.0],
            [688.0, 297.0, 104.0, 122.0],
        ],
    ),
    // Small (~35 px) face in a sports photo with a blurred crowd behind.
    ("messi5.jpg", &[[221.0, 92.0, 35.0, 39.0]]),
    // Three-quarter profile.
    ("45-m7-di-ph.jpg", &[[60.0, 185.0, 235.0, 295.0]]),
];

fn check_photo(file: &str, truth: &[[f32; 4]], props: &str) {
    let path = media(file);
    let r = run(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! facedetect device=cpu {props} ! fakesink name=sink",
        path.display()
    ));
    assert!(r.error.is_none(), "{file}: {:?}", r.error);
    assert_eq!(r.frames.len(), 1, "{file}: one frame");
    let faces = &r.frames[0];
    for t in truth {
        let best = faces.iter().map(|f| iou(f, *t)).fold(0.0, f32::max);
        assert!(
            best >= 0.5,
            "{file} ({props}): face {t:?} not found (best IoU {best:.2}); got {faces:#?}"
        );
    }
    // Each annotated face matched by a distinct detection: no double counting.
    let matched = faces
        .iter()
        .filter(|f| truth.iter().any(|t| iou(f, *t) >= 0.5))
        .count();
    assert_eq!(matched, truth.len(), "{file}: {faces:#?}");
    for f in faces {
        assert!(f.detected && f.score >= 0.6 && f.track_id > 0, "{f:?}");
        // Landmarks lie in (or very near) the box.
        for p in f.landmarks {
            assert!(
                p[0] > f.x - 0.2 * f.width && p[0] < f.x + 1.2 * f.width,
                "{file}: landmark {p:?} outside {f:?}"
            );
        }
    }
}

#[test]
fn retinaface_finds_every_annotated_face() {
    for (file, truth) in PHOTOS {
        check_photo(file, truth, "");
    }
}

#[test]
fn retinaface_has_no_extra_faces_on_single_face_portraits() {
    for file in [
        "astronaut.png",
        "grace_hopper.jpg",
        "hopper.png",
        "hopper_45.png",
    ] {
        let r = run(&format!(
            "filesrc location=\"{}\" ! decodebin ! videoconvert ! facedetect device=cpu ! fakesink name=sink",
            media(file).display()
        ));
        assert_eq!(r.frames[0].len(), 1, "{file}: {:#?}", r.frames[0]);
    }
}

#[test]
fn landmarks_are_where_the_eyes_nose_and_mouth_are() {
    // astronaut.png, read off the gridded enlargement: eyes at about (208, 101) and
    // (246, 103), nose tip (224, 128), mouth corners (204, 140) and (244, 141).
    let truth = [
        [208.0, 101.0],
        [246.0, 103.0],
        [224.0, 128.0],
        [204.0, 140.0],
        [244.0, 141.0],
    ];
    let r = run(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! facedetect device=cpu ! fakesink name=sink",
        media("astronaut.png").display()
    ));
    let f = &r.frames[0][0];
    for (got, want) in f.landmarks.iter().zip(truth) {
        let d = ((got[0] - want[0]).powi(2) + (got[1] - want[1]).powi(2)).sqrt();
        assert!(d < 8.0, "landmark {got:?} vs {want:?}: {d:.1} px");
    }
}

#[test]
fn blazeface_finds_near_faces() {
    // BlazeFace front (128) is for faces filling much of the frame: portraits.
    for file in [
        "astronaut.png",
        "grace_hopper.jpg",
        "hopper.png",
        "45-m7-di-ph.jpg",
    ] {
        let truth = PHOTOS.iter().find(|(f, _)| *f == file).unwrap().1;
        check_photo(file, truth, "model=blazeface threshold=0.6");
    }
}

#[test]
fn blazeface_back_finds_group_faces() {
    let (file, truth) = PHOTOS.iter().find(|(f, _)| *f == "multi_face.jpg").unwrap();
    check_photo(file, truth, "model=blazeface-back threshold=0.5");
}
