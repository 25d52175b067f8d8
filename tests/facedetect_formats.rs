// SPDX-License-Identifier: MIT

//! Harness tests: every accepted format, odd sizes and padded strides, with a real
//! face pasted into the frames; pixels must come out untouched (same memory, no copy);
//! and a second face coming into view while one is followed.

mod common;

use gst::prelude::*;
use gst_check::Harness;
use gst_portrait_meta::FaceMeta;
use gst_video::{VideoFormat, VideoInfo};
use portrait_vision::PixelFormat;

use common::frames::{FORMATS, Paste, make_buffer};
use common::{decode_rgb, init, media};

fn harness(info: &VideoInfo, props: &str) -> Harness {
    init();
    let mut h = Harness::new_parse(&format!("facedetect device=cpu {props}"));
    h.set_src_caps(info.to_caps().unwrap());
    h
}

/// Pushes `buf` and returns the output, checking the pixels were not copied.
fn push_untouched(h: &mut Harness, buf: gst::Buffer) -> gst::Buffer {
    let before = buf.map_readable().unwrap().as_slice().to_vec();
    let ptr = buf.map_readable().unwrap().as_slice().as_ptr();
    let out = h.push_and_pull(buf).expect("output buffer");
    let map = out.map_readable().unwrap();
    assert_eq!(
        map.as_slice().as_ptr(),
        ptr,
        "the frame memory must be passed on, not copied"
    );
    assert!(map.as_slice() == &before[..], "pixels must be untouched");
    drop(map);
    out
}

#[test]
fn every_format_finds_the_same_face_with_padded_strides() {
    let (iw, ih, rgb) = decode_rgb(&media("astronaut.png"));
    // Hand-annotated astronaut face (see facedetect_photos.rs), pasted at (37, 21).
    let truth = [180.0 + 37.0, 65.0 + 21.0, 90.0, 110.0];
    let mut reference: Option<[f32; 4]> = None;
    for (fmt, pf) in FORMATS {
        for pad in [0, 52] {
            let (buf, info) = make_buffer(
                fmt,
                pf,
                600,
                560,
                pad,
                Some(Paste {
                    rgb: &rgb,
                    w: iw,
                    h: ih,
                    x: 37,
                    y: 21,
                    scale: 1,
                }),
            );
            let mut h = harness(&info, "");
            let out = push_untouched(&mut h, buf);
            let faces = FaceMeta::faces(&out);
            assert_eq!(faces.len(), 1, "{fmt:?} pad {pad}: {faces:?}");
            let f = &faces[0];
            let b = [f.x, f.y, f.width, f.height];
            assert!(common::iou(f, truth) >= 0.5, "{fmt:?} pad {pad}: {b:?}");
            // All formats agree closely with the first (RGB, unpadded) result.
            let r = *reference.get_or_insert(b);
            let agree = portrait_vision::detect::iou(
                &[r[0], r[1], r[0] + r[2], r[1] + r[3]],
                &[b[0], b[1], b[0] + b[2], b[1] + b[3]],
            );
            assert!(
                agree >= 0.9,
                "{fmt:?} pad {pad}: {b:?} vs {r:?} (IoU {agree:.2})"
            );
            // The ROI meta carries the same box.
            let roi = out
                .meta::<gst_video::VideoRegionOfInterestMeta>()
                .expect("ROI meta");
            assert_eq!(roi.roi_type(), "face");
            let (rx, ry, rw, rh) = roi.rect();
            assert!((rx as f32 - f.x).abs() <= 1.0 && (rh as f32 - f.height).abs() <= 1.0);
            assert_eq!(roi.id(), f.roi_id);
            let _ = (ry, rw);
        }
    }
}

#[test]
fn tiny_frames_in_every_format_pass_without_faces() {
    for (fmt, pf) in FORMATS {
        for (w, h) in [(1, 1), (3, 5), (5, 3), (2, 2)] {
            for pad in [0, 7] {
                let (buf, info) = make_buffer(fmt, pf, w, h, pad, None);
                let mut hn = harness(&info, "");
                let out = push_untouched(&mut hn, buf);
                assert!(FaceMeta::faces(&out).is_empty(), "{fmt:?} {w}x{h}");
            }
        }
    }
}

#[test]
fn large_4k_frame_finds_the_upscaled_face() {
    let (iw, ih, rgb) = decode_rgb(&media("astronaut.png"));
    // Astronaut drawn at ×3 with its top-left at (1500, 300): the face is ~270×330 px.
    let truth = [1500.0 + 3.0 * 180.0, 300.0 + 3.0 * 65.0, 270.0, 330.0];
    for (fmt, pf) in [FORMATS[0], FORMATS[4], FORMATS[6], FORMATS[7]] {
        let (buf, info) = make_buffer(
            fmt,
            pf,
            4096,
            2160,
            0,
            Some(Paste {
                rgb: &rgb,
                w: iw,
                h: ih,
                x: 1500,
                y: 300,
                scale: 3,
            }),
        );
        let mut h = harness(&info, "");
        let out = push_untouched(&mut h, buf);
        let faces = FaceMeta::faces(&out);
        assert_eq!(faces.len(), 1, "{fmt:?}: {faces:?}");
        assert!(
            common::iou(&faces[0], truth) >= 0.5,
            "{fmt:?}: {:?}",
            faces[0]
        );
    }
}

#[test]
fn caps_change_mid_stream_is_followed() {
    let (iw, ih, rgb) = decode_rgb(&media("astronaut.png"));
    let (b1, i1) = make_buffer(
        VideoFormat::Rgb,
        PixelFormat::Rgb,
        640,
        480,
        0,
        Some(Paste {
            rgb: &rgb,
            w: iw,
            h: ih,
            x: 0,
            y: 0,
            scale: 1,
        }),
    );
    let (b2, i2) = make_buffer(
        VideoFormat::Nv12,
        PixelFormat::Nv12,
        800,
        600,
        0,
        Some(Paste {
            rgb: &rgb,
            w: iw,
            h: ih,
            x: 100,
            y: 50,
            scale: 1,
        }),
    );
    // The whole frame searched on both (as the detector sees it, to 3 px), and with
    // region-detect (the default: after the size change no face is carried over, and
    // the boxes come from a region around the face, a few pixels noisier: 5 % of the
    // face's width).
    for (props, tol) in [("region-detect=false", None), ("", Some(0.05))] {
        let mut h = harness(&i1, props);
        let o1 = h.push_and_pull(b1.clone()).unwrap();
        h.set_src_caps(i2.to_caps().unwrap());
        let o2 = h.push_and_pull(b2.clone()).unwrap();
        let (f1, f2) = (FaceMeta::faces(&o1), FaceMeta::faces(&o2));
        assert_eq!((f1.len(), f2.len()), (1, 1), "{props}");
        let tol = tol.map_or(3.0, |k| k * f1[0].width);
        let (dx, dy) = (f2[0].x - f1[0].x - 100.0, f2[0].y - f1[0].y - 50.0);
        assert!(
            dx.abs() < tol && dy.abs() < tol,
            "{props}: off by {dx:.1}, {dy:.1}: {:?} {:?}",
            f1[0],
            f2[0]
        );
    }
}

#[test]
fn unsupported_format_is_refused_at_negotiation() {
    init();
    let mut h = Harness::new_parse("facedetect device=cpu");
    let caps = gst_video::VideoCapsBuilder::new()
        .format(VideoFormat::Gray8)
        .width(64)
        .height(64)
        .framerate(gst::Fraction::new(25, 1))
        .build();
    h.set_src_caps(caps);
    let buf = gst::Buffer::with_size(64 * 64).unwrap();
    assert_eq!(h.push(buf), Err(gst::FlowError::NotNegotiated));
    let _ = h.element().map(|e| e.name());
}

/// With region detection (interval=1, the default) a second face that comes into view
/// while one is followed is found within the 30 frames between two searches for new
/// faces: the cheap whole-frame check (BlazeFace) sees it, and the whole-frame
/// RetinaFace search that follows boxes it.
#[test]
fn a_face_coming_into_view_is_found_within_30_frames() {
    let (iw, ih, rgb) = decode_rgb(&media("astronaut.png"));
    // The astronaut's face and hair (her face is at (180, 65), 90×110), twice as large:
    // ~180×220 px faces, each in its own half of a 640×480 frame.
    let (cx, cy, cw, ch) = (150, 30, 150, 180);
    let (w, h) = (640usize, 480usize);
    let canvas = |both: bool| {
        let mut c = vec![90u8; w * h * 3];
        for x0 in [10usize, 330].into_iter().take(if both { 2 } else { 1 }) {
            for y in 0..ch * 2 {
                for x in 0..cw * 2 {
                    let s = ((cy + y / 2).min(ih - 1) * iw + (cx + x / 2).min(iw - 1)) * 3;
                    let o = ((60 + y) * w + x0 + x) * 3;
                    c[o..o + 3].copy_from_slice(&rgb[s..s + 3]);
                }
            }
        }
        c
    };
    let (one, two) = (canvas(false), canvas(true));
    let mut found_at = None;
    let mut harn = None;
    for i in 0..(40 + 31 + 5) {
        let img = if i < 40 { &one } else { &two };
        let (buf, info) = make_buffer(
            VideoFormat::Rgb,
            PixelFormat::Rgb,
            w as u32,
            h as u32,
            0,
            Some(Paste {
                rgb: img,
                w,
                h,
                x: 0,
                y: 0,
                scale: 1,
            }),
        );
        let hs = harn.get_or_insert_with(|| harness(&info, ""));
        let out = hs.push_and_pull(buf).expect("output buffer");
        let n = FaceMeta::faces(&out).len();
        if i < 40 {
            assert_eq!(n, 1, "frame {i}: one face shown");
        } else if n == 2 && found_at.is_none() {
            found_at = Some(i);
        }
    }
    let at = found_at.expect("the second face was never found");
    println!("second face shown from frame 40, found on frame {at}");
    assert!(at <= 40 + 31, "found on frame {at}");
}
