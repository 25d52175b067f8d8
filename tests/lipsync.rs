// SPDX-License-Identifier: MIT

//! lipsync against speech with known phone timing: real read speech (LibriVox clips
//! with pocketsphinx's forced alignment) and espeak-ng speech (exact phoneme starts
//! from its C API). The mouth-open curve must line up with the phones (vowels open,
//! /p b m/ and silence closed) at its best cross-correlation lag within ±1 frame at
//! 25 fps, and stay closed (≤ 10% of its maximum) in silences longer than 200 ms.

mod common;
#[path = "common/speech.rs"]
mod speech;

use gst::prelude::*;
use gst_portrait_meta::MotionMeta;
use speech::{PhoneClass, classify_arpabet, classify_espeak, mouth_truth, silences};

const FPS: f64 = 25.0;

/// Frames (pts ns, mouth_open) that reach the element named `sink` (a fakesink).
fn collect(pipeline: &gst::Pipeline) -> Vec<(u64, f32)> {
    let sink = pipeline.by_name("sink").expect("sink");
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let o = out.clone();
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(buf) = info.buffer() {
                let open = buf
                    .meta::<MotionMeta>()
                    .map(|m| m.expression.mouth_open)
                    .unwrap_or(f32::NAN);
                let pts = buf.pts().map(|t| t.nseconds()).unwrap_or(u64::MAX);
                o.lock().unwrap().push((pts, open));
            }
            gst::PadProbeReturn::Ok
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}: {:?}", e.error(), e.debug()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    out.lock().unwrap().clone()
}

fn curve_of_wav(path: &std::path::Path, props: &str) -> Vec<(u64, f32)> {
    common::init();
    let launch = format!(
        "filesrc location={} ! wavparse ! audioconvert ! audioresample ! lipsync {props} ! fakesink name=sink sync=false",
        path.display()
    );
    let p = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    collect(&p)
}

fn curve_of_samples(rate: u32, samples: &[i16], props: &str) -> Vec<(u64, f32)> {
    let dir = std::env::temp_dir().join(format!("lipsync-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wav = dir.join(format!("{}.wav", samples.len()));
    speech::write_wav(&wav, rate, samples);
    let c = curve_of_wav(&wav, props);
    let _ = std::fs::remove_file(&wav);
    c
}

/// Normalised cross-correlation of `a` and `b` at lags -max..=max (b shifted by lag:
/// a positive lag means `a` is late).
fn xcorr(a: &[f32], b: &[f32], max: i32) -> Vec<(i32, f32)> {
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let (ma, mb) = (mean(a), mean(b));
    (-max..=max)
        .map(|lag| {
            let (mut s, mut sa, mut sb) = (0.0, 0.0, 0.0);
            for (i, av) in a.iter().enumerate() {
                let j = i as i32 - lag;
                if j < 0 || j as usize >= b.len() {
                    continue;
                }
                let (x, y) = (av - ma, b[j as usize] - mb);
                s += x * y;
                sa += x * x;
                sb += y * y;
            }
            (lag, s / (sa * sb).sqrt().max(1e-9))
        })
        .collect()
}

struct Score {
    /// Mean mouth-open over frames inside vowels and inside /p b m/.
    vowel: f32,
    bilabial: f32,
    best_lag: i32,
    best_r: f32,
    silence_worst: f32,
    silences: usize,
}

fn score(
    curve: &[(u64, f32)],
    phones: &[speech::Phone],
    classify: fn(&str) -> PhoneClass,
) -> Score {
    assert!(!curve.is_empty());
    // Frames on the 25 fps grid from 0.
    for (k, (pts, _)) in curve.iter().enumerate() {
        let want = (k as f64 / FPS * 1e9).round() as u64;
        assert!(pts.abs_diff(want) <= 1, "frame {k} at {pts} ns, not {want}");
    }
    let open: Vec<f32> = curve.iter().map(|c| c.1).collect();
    assert!(
        open.iter().all(|v| v.is_finite()),
        "a frame without motion meta"
    );
    let truth = mouth_truth(phones, classify, FPS, open.len());
    let xc = xcorr(&open, &truth, 6);
    let &(best_lag, best_r) = xc.iter().max_by(|a, b| a.1.total_cmp(&b.1)).expect("lags");
    let max = open.iter().fold(0.0f32, |m, v| m.max(*v));
    let mut worst = 0.0f32;
    let sil = silences(phones, classify, 0.2);
    for &(s, e) in &sil {
        for (k, v) in open.iter().enumerate() {
            let t = k as f64 / FPS;
            // Frames at least half a frame inside the silence: a frame sampled on
            // the boundary itself is legitimately mid-transition.
            if t >= s + 0.5 / FPS && t < e - 0.5 / FPS {
                if std::env::var_os("LIPSYNC_DUMP").is_some() {
                    println!(
                        "  silence {s:.2}-{e:.2}: frame {k} t {t:.2} open {v:.3} ({:.0}%)",
                        100.0 * v / max
                    );
                }
                worst = worst.max(v / max.max(1e-6));
            }
        }
    }
    let class_mean = |want: PhoneClass| {
        let v: Vec<f32> = open
            .iter()
            .enumerate()
            .filter(|(k, _)| {
                let t = *k as f64 / FPS;
                phones
                    .iter()
                    .any(|p| p.start <= t && t < p.end && classify(&p.label) == want)
            })
            .map(|(_, v)| *v)
            .collect();
        v.iter().sum::<f32>() / v.len().max(1) as f32
    };
    Score {
        vowel: class_mean(PhoneClass::Vowel),
        bilabial: class_mean(PhoneClass::Bilabial),
        best_lag,
        best_r,
        silence_worst: worst,
        silences: sil.len(),
    }
}

fn check(name: &str, s: &Score, failures: &mut Vec<String>) {
    println!(
        "{name}: best lag {:+} frames (r = {:.3}); mean open: vowels {:.3}, /p b m/ {:.3}; {} silences > 200 ms, worst mouth there {:.1}% of max",
        s.best_lag,
        s.best_r,
        s.vowel,
        s.bilabial,
        s.silences,
        100.0 * s.silence_worst
    );
    if s.best_lag.abs() > 1 {
        failures.push(format!("{name}: best lag {}", s.best_lag));
    }
    if s.best_r < 0.5 {
        failures.push(format!("{name}: weak correlation {}", s.best_r));
    }
    if s.bilabial >= 0.7 * s.vowel {
        failures.push(format!("{name}: lips not closing on /p b m/"));
    }
    if s.silence_worst > 0.1 {
        failures.push(format!("{name}: mouth open in a silence"));
    }
}

#[test]
fn librivox_mouth_follows_the_phones() {
    common::init();
    let mut failures = Vec::new();
    let clips = speech::librivox_clips();
    assert!(clips.len() >= 5);
    for clip in &clips {
        let curve = curve_of_wav(&clip.wav, "idle-motion=false");
        let expect = (clip.duration * FPS).ceil() as usize;
        assert!(
            curve.len().abs_diff(expect) <= 1,
            "{} frames for {} s",
            curve.len(),
            clip.duration
        );
        let s = score(&curve, &clip.phones, classify_arpabet);
        check(
            &clip.wav.file_name().unwrap().to_string_lossy(),
            &s,
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn espeak_mouth_follows_the_phonemes() {
    common::init();
    let mut failures = Vec::new();
    for text in [
        "Bob bought a map. Then he slept.",
        "My mother made a bed of apples, maybe. Papa?",
        "We all agree. The weather in August is warm and wonderful.",
    ] {
        let syn = speech::espeak_synth(text, "en");
        let curve = curve_of_samples(syn.rate, &syn.samples, "idle-motion=false");
        let s = score(&curve, &syn.phones, classify_espeak);
        check(text, &s, &mut failures);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Visemes in the rendered face: espeak-ng speaks /i:/ words, /u:/ and /oU/ words and
/// /A:/ words; the talking avatar (lipsync ! portraitanimate, the astronaut) is read back
/// by facedetect ! motionextract, and the mouth width (corner to corner over the face
/// size) averaged over the frames inside each vowel. Spread /i:/ must be the widest,
/// rounded /u: oU/ clearly narrower, and the open /A:/ not spread like /i:/. (Before
/// the 18th-order LPC, /u:/ was as wide as /i:/ and /A:/ the widest of all.)
#[test]
fn visemes_spread_ee_and_round_oo_in_the_rendered_mouth() {
    use std::sync::{Arc, Mutex};
    common::init();
    let text = "see. me. cheese. green. who. moon. food. shoe. go. no. show. ah. father. palm.";
    let syn = speech::espeak_synth(text, "en");
    let wav = std::env::temp_dir().join(format!("lipsync-visemes-{}.wav", std::process::id()));
    speech::write_wav(&wav, syn.rate, &syn.samples);
    let line = format!(
        "filesrc location=\"{}\" ! wavparse ! audioconvert ! audioresample ! lipsync ! portraitanimate source=\"{}\" width=512 height=512 ! videoconvert ! facedetect ! motionextract ! fakesink name=sink",
        wav.display(),
        common::media("astronaut.png").display()
    );
    let p = gst::parse::launch(&line)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let widths: Arc<Mutex<Vec<(f64, f32)>>> = Default::default();
    let w = widths.clone();
    p.by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(b) = info.buffer()
                && let (Some(m), Some(pts)) = (b.meta::<MotionMeta>(), b.pts())
            {
                let width = m.motion().expression.mouth_width;
                w.lock().unwrap().push((pts.nseconds() as f64 / 1e9, width));
            }
            gst::PadProbeReturn::Ok
        });
    common::play_to_eos(p.upcast_ref(), &line, 120);
    let _ = std::fs::remove_file(&wav);
    let widths = widths.lock().unwrap();
    let mean_in = |labels: &[&str]| {
        let v: Vec<f32> = syn
            .phones
            .iter()
            .filter(|ph| labels.contains(&ph.label.as_str()))
            .flat_map(|ph| {
                widths
                    .iter()
                    .filter(|(t, _)| *t >= ph.start && *t < ph.end)
                    .map(|w| w.1)
            })
            .collect();
        assert!(v.len() >= 8, "frames inside {labels:?}: {}", v.len());
        v.iter().sum::<f32>() / v.len() as f32
    };
    let (ee, uu, oo, ah) = (
        mean_in(&["i:"]),
        mean_in(&["u:"]),
        mean_in(&["oU"]),
        mean_in(&["A:", "A@"]),
    );
    println!("rendered mouth width: /i:/ {ee:.3}, /u:/ {uu:.3}, /oU/ {oo:.3}, /A:/ {ah:.3}");
    assert!(ee > uu + 0.03 && ee > oo + 0.03, "spread vs round");
    assert!(ee > ah, "/A:/ is open, not spread");
}
