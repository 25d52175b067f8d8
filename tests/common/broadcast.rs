// SPDX-License-Identifier: MIT

//! What the broadcast tests share (RTMP and WebRTC): the lines of `pipelines/broadcast/`,
//! the series a receiver records (mouth opening per frame, decoded audio) and the A/V
//! offset measured on them against a reference made without any transport.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use gst::prelude::*;

use crate::{common, speech};

/// A line of `pipelines/broadcast/` with `$MEDIA` and the given `$NAME`s filled in
/// (longer names first, so `$WEB_PORT` is not taken for `$WEB`).
pub fn broadcast_line(file: &str, vars: &[(&str, &str)]) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("pipelines/broadcast")
        .join(file);
    let mut line = std::fs::read_to_string(&path).unwrap().trim().replace(
        "$MEDIA",
        common::cache_dir().join("media").to_str().unwrap(),
    );
    let mut vars = vars.to_vec();
    vars.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    for (k, v) in vars {
        line = line.replace(&format!("${k}"), v);
    }
    line
}

/// `line` with its LibriVox clip replaced by `wav`.
pub fn with_speech(mut line: String, wav: &Path) -> String {
    let clip = "sense_and_sensibility_01_austen_64kb-0870.wav";
    let at = line.find(clip).expect("the line's clip");
    let start = line[..at].rfind("location=").unwrap() + "location=".len();
    line.replace_range(start..at + clip.len(), wav.to_str().unwrap());
    line
}

#[derive(Debug, Default)]
pub struct Received {
    pub video_frames: usize,
    pub with_face: usize,
    pub audio_seconds: f64,
}

/// Mouth opening per frame (pts ns, mouth_open) and mono audio (pts ns of each chunk,
/// samples) as decoded by a reader, for the A/V offset.
#[derive(Debug, Default)]
pub struct Series {
    pub mouth: Vec<(u64, f32)>,
    pub audio: Vec<(u64, Vec<f32>)>,
    pub rate: u32,
}

/// Probes that fill `series` from a reader whose video sink `vsink` sees motion metas
/// and whose audio sink `asink` gets mono F32LE.
pub fn record_series(p: &gst::Pipeline, series: &Arc<Mutex<Series>>) {
    let s = series.clone();
    p.by_name("vsink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(b) = info.buffer()
                && let Some(pts) = b.pts()
            {
                let open = b
                    .meta::<gst_portrait_meta::MotionMeta>()
                    .map_or(0.0, |m| m.motion().expression.mouth_open);
                s.lock().unwrap().mouth.push((pts.nseconds(), open));
            }
            gst::PadProbeReturn::Ok
        });
    let s = series.clone();
    p.by_name("asink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if let Some(b) = info.buffer()
                && let Some(pts) = b.pts()
                && let Ok(map) = b.map_readable()
            {
                let samples: Vec<f32> = map
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                let rate = pad
                    .current_caps()
                    .and_then(|c| c.structure(0).and_then(|s| s.get::<i32>("rate").ok()))
                    .map_or(0, |r| r.max(0) as u32);
                let mut s = s.lock().unwrap();
                s.rate = rate;
                s.audio.push((pts.nseconds(), samples));
            }
            gst::PadProbeReturn::Ok
        });
}

/// The lag (in 40 ms frames) at which the audio's loudness best matches the mouth
/// opening within [from, to) seconds: positive when the mouth comes after the sound.
/// Normalised cross-correlation over lags −12..=12.
pub fn av_offset(series: &Series, from: f64, to: f64) -> (i32, f64) {
    const FRAME: f64 = 0.04;
    let t0 = series
        .mouth
        .first()
        .map_or(0, |m| m.0)
        .min(series.audio.first().map_or(0, |a| a.0));
    let k0 = (from / FRAME) as usize;
    let k1 = (to / FRAME) as usize;
    let n = k1.saturating_sub(k0) + 30;
    let mut mouth = vec![f64::NAN; n + k0];
    for &(pts, open) in &series.mouth {
        let k = ((pts - t0) as f64 / 1e9 / FRAME).round() as usize;
        if k < mouth.len() {
            mouth[k] = open as f64;
        }
    }
    let mut energy = vec![0.0f64; n + k0];
    let mut count = vec![0usize; n + k0];
    let rate = series.rate.max(1) as f64;
    for (pts, samples) in &series.audio {
        for (i, v) in samples.iter().enumerate() {
            let t = (pts - t0) as f64 / 1e9 + i as f64 / rate;
            let k = (t / FRAME) as usize;
            if k < energy.len() {
                energy[k] += (*v as f64) * (*v as f64);
                count[k] += 1;
            }
        }
    }
    let env: Vec<f64> = energy
        .iter()
        .zip(&count)
        .map(|(e, c)| {
            if *c > 0 {
                (e / *c as f64).sqrt()
            } else {
                f64::NAN
            }
        })
        .collect();
    let mut best = (0, f64::MIN);
    for lag in -12i32..=12 {
        let pairs: Vec<(f64, f64)> = (k0..k1)
            .filter_map(|k| {
                let j = k as i64 - lag as i64;
                let (m, e) = (*mouth.get(k)?, *env.get(usize::try_from(j).ok()?)?);
                (m.is_finite() && e.is_finite()).then_some((m, e))
            })
            .collect();
        if pairs.len() < 50 {
            continue;
        }
        let len = pairs.len() as f64;
        let (mm, me) = pairs
            .iter()
            .fold((0.0, 0.0), |a, p| (a.0 + p.0 / len, a.1 + p.1 / len));
        let (mut c, mut vm, mut ve) = (0.0, 0.0, 0.0);
        for (m, e) in &pairs {
            c += (m - mm) * (e - me);
            vm += (m - mm).powi(2);
            ve += (e - me).powi(2);
        }
        let r = c / (vm * ve).sqrt().max(1e-12);
        if r > best.1 {
            best = (lag, r);
        }
    }
    best
}

/// A WAV of at least `seconds` of real read speech: the LibriVox clips one after the
/// other, again and again.
pub fn long_speech(seconds: f64) -> PathBuf {
    let clips = speech::librivox_clips();
    let mut samples = Vec::new();
    let mut rate = 16000;
    while (samples.len() as f64) < seconds * rate as f64 {
        for c in &clips {
            let (r, ch, s) = speech::read_wav(&c.wav);
            assert_eq!(ch, 1);
            rate = r;
            samples.extend_from_slice(&s);
        }
    }
    samples.truncate((seconds * rate as f64) as usize);
    let out = std::env::temp_dir().join(format!("gst-portrait-speech-{}.wav", std::process::id()));
    speech::write_wav(&out, rate, &samples);
    out
}

/// The mouth and audio series of `wav` spoken by the astronaut portrait, measured on the
/// pipeline's own output without encoding or transport: the reference offset.
pub fn reference_series(wav: &Path) -> Series {
    let local = format!(
        "filesrc location=\"{}\" ! wavparse ! audioconvert ! audioresample ! lipsync name=l ! queue ! portraitanimate source=\"{}\" width=512 height=512 ! videoconvert ! facedetect ! motionextract ! fakesink name=vsink l.audio_src ! queue max-size-time=5000000000 max-size-bytes=0 max-size-buffers=0 ! audioconvert ! audio/x-raw,format=F32LE,channels=1 ! fakesink name=asink",
        wav.display(),
        common::media("astronaut.png").display()
    );
    let p = gst::parse::launch(&local)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let reference: Arc<Mutex<Series>> = Default::default();
    record_series(&p, &reference);
    common::play_to_eos(p.upcast_ref(), &local, 300);
    // The probes still hold the Arc: take what they recorded.
    std::mem::take(&mut *reference.lock().unwrap())
}

/// Asserts that `received` (over `transport`) keeps the reference's A/V offset within
/// one frame at its start and its end (first and last 20 s), with no drift, over at
/// least `min_seconds` of speech; prints the figures.
pub fn assert_in_sync(reference: &Series, received: &Series, transport: &str, min_seconds: f64) {
    let span = |s: &Series| {
        s.mouth.last().map_or(0.0, |m| m.0 as f64 / 1e9)
            - s.mouth.first().map_or(0.0, |m| m.0 as f64 / 1e9)
    };
    let (d_ref, d_rx) = (span(reference), span(received));
    let ref_start = av_offset(reference, 0.0, 20.0);
    let ref_end = av_offset(reference, d_ref - 20.0, d_ref);
    let rx_start = av_offset(received, 0.0, 20.0);
    let rx_end = av_offset(received, d_rx - 20.0, d_rx);
    println!(
        "A/V offset (frames of 40 ms, mouth after sound > 0; correlation): before encoding {} ({:.2}) at the start, {} ({:.2}) at the end of {d_ref:.1} s; received over {transport} {} ({:.2}) and {} ({:.2}) of {d_rx:.1} s",
        ref_start.0, ref_start.1, ref_end.0, ref_end.1, rx_start.0, rx_start.1, rx_end.0, rx_end.1
    );
    assert!(
        d_rx >= min_seconds,
        "at least {min_seconds} s of streamed speech received: {d_rx:.1} s"
    );
    for (what, c) in [
        ("reference start", ref_start),
        ("reference end", ref_end),
        ("received start", rx_start),
        ("received end", rx_end),
    ] {
        assert!(
            c.1 > 0.3,
            "{what}: the mouth follows the voice (correlation {:.2})",
            c.1
        );
    }
    assert!(
        (rx_start.0 - ref_start.0).abs() <= 1,
        "start: {rx_start:?} vs {ref_start:?}"
    );
    assert!(
        (rx_end.0 - ref_end.0).abs() <= 1,
        "end: {rx_end:?} vs {ref_end:?}"
    );
    assert!(
        (rx_end.0 - rx_start.0).abs() <= 1,
        "no drift: {rx_start:?} then {rx_end:?}"
    );
}
