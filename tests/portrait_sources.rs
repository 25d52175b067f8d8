// SPDX-License-Identifier: MIT

//! Portrait files a user would plausibly pass to `portraitanimate source=`: a PNG
//! holding two streams back to back (what `pngenc snapshot=true ! filesink` can write)
//! is one still frame, and a portrait of odd size gives even output sizes that
//! x264enc takes, with every output pixel rendered from the portrait.

mod common;

use std::path::{Path, PathBuf};

use gstportrait::portraitanimate::portrait;

use common::{decode_rgb, media, run, sink_frames};

fn tmpdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("gst-portrait-sources-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `line` (which writes a file) to EOS.
fn to_file(line: &str) {
    common::init();
    common::play_to_eos(&gst::parse::launch(line).unwrap(), line, 60);
}

/// A PNG of `src` scaled to `w`×`h`.
fn scaled_png(src: &Path, w: u32, h: u32, out: &Path) -> PathBuf {
    to_file(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! videoscale ! video/x-raw,format=RGB,width={w},height={h} ! pngenc ! filesink location=\"{}\"",
        src.display(),
        out.display()
    ));
    out.to_path_buf()
}

/// Pictures decodebin gives for `path`.
fn decoded_pictures(path: &Path) -> usize {
    run(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! fakesink name=sink",
        path.display()
    ))
    .frames
    .len()
}

/// Output frames (RGBA bytes) of portraitanimate on a still driver, and its output size.
fn animate(source: &Path, extra: &str, frames: usize) -> (Vec<Vec<u8>>, (u32, u32)) {
    let (out, (w, h)) = sink_frames(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! imagefreeze num-buffers={frames} ! facedetect device=cpu ! motionextract device=cpu ! portraitanimate source=\"{}\" {extra} ! fakesink name=sink",
        media("grace_hopper.jpg").display(),
        source.display()
    ));
    (
        out.into_iter().map(|(px, _)| px).collect(),
        (w as u32, h as u32),
    )
}

#[test]
fn a_png_holding_two_streams_is_one_still_frame() {
    common::init();
    let dir = tmpdir();
    // The portrait, then a second PNG stream of noise of the same size.
    let snow = dir.join("snow.png");
    to_file(&format!(
        "videotestsrc pattern=snow num-buffers=1 ! video/x-raw,width=512,height=512 ! pngenc ! filesink location=\"{}\"",
        snow.display()
    ));
    let astronaut = media("astronaut.png");
    let two = dir.join("two-streams.png");
    let mut bytes = std::fs::read(&astronaut).unwrap();
    bytes.extend(std::fs::read(&snow).unwrap());
    std::fs::write(&two, &bytes).unwrap();
    // The case is real: decodebin gives two pictures for the file.
    let n = decoded_pictures(&two);
    println!("decodebin: {n} pictures in {}", two.display());
    assert!(
        n >= 2,
        "the fixture should hold two streams, decodebin gave {n}"
    );

    let (w, h, frames) = portrait::decode_frames(&two, None, 300).unwrap();
    let (w1, h1, one) = portrait::decode_frames(&astronaut, None, 300).unwrap();
    assert_eq!((w, h, frames.len()), (512, 512, 1), "a still is one frame");
    assert_eq!((w1, h1), (w, h));
    assert!(frames[0] == one[0], "the first picture, byte for byte");

    // Every output frame is the portrait's, the same as from the clean file.
    let (a, _) = animate(&two, "", 6);
    let (b, _) = animate(&astronaut, "", 6);
    assert_eq!(a.len(), 6);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(x == y, "frame {i} differs from the clean portrait's");
    }
}

/// PSNR (dB) of the RGB of an RGBA `frame` (`fw` wide) against the top-left of the RGB
/// image `img` (`iw` wide), over `w`×`h`.
fn psnr_top_left(frame: &[u8], fw: usize, img: &[u8], iw: usize, w: usize, h: usize) -> f64 {
    let mut se = 0.0f64;
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let d = frame[(y * fw + x) * 4 + c] as f64 - img[(y * iw + x) * 3 + c] as f64;
                se += d * d;
            }
        }
    }
    let mse = se / (w * h * 3) as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
}

#[test]
fn an_odd_sized_portrait_gives_even_output_that_x264_takes() {
    common::init();
    let dir = tmpdir();
    let odd = scaled_png(&media("grace_hopper.jpg"), 511, 599, &dir.join("odd.png"));
    let (ow, oh, rgb) = decode_rgb(&odd);
    assert_eq!((ow, oh), (511, 599));

    // Default size: the portrait's, less its last odd column and row, not rescaled:
    // with a still driver the output is the portrait's top-left 510×598.
    let (frames, size) = animate(&odd, "", 4);
    assert_eq!(size, (510, 598));
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.len(), 510 * 598 * 4);
        let p = psnr_top_left(f, 510, &rgb, 511, 510, 598);
        println!("odd portrait, frame {i}: PSNR {p:.1} dB against the portrait");
        assert!(p >= 35.0, "frame {i}: PSNR {p:.1} dB");
    }
    // width=480: the derived height (599·480/511 = 562.7 → 563) is made even.
    let (_, size) = animate(&odd, "width=480", 2);
    assert_eq!(size, (480, 562));
    // An explicit odd width is the user's: kept as given.
    let (_, size) = animate(&odd, "width=481 height=301", 2);
    assert_eq!(size, (481, 301));

    // The user's line from the issue: straight into x264enc through I420.
    let r = run(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! imagefreeze num-buffers=5 ! facedetect device=cpu ! motionextract device=cpu ! portraitanimate source=\"{}\" ! videoconvert ! video/x-raw,format=I420 ! x264enc ! h264parse ! fakesink name=sink",
        media("grace_hopper.jpg").display(),
        odd.display()
    ));
    assert!(r.error.is_none(), "x264enc: {:?}", r.error);
    assert_eq!(r.frames.len(), 5, "5 encoded frames");
}
