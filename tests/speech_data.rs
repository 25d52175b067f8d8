// SPDX-License-Identifier: MIT

//! The speech ground truth of the lip-sync tests: the LibriVox clips and their
//! pocketsphinx alignments (fetched by scripts/setup.sh), espeak-ng synthesis with
//! phoneme timing, and the per-frame mouth targets derived from them.
mod common;
#[path = "common/speech.rs"]
mod speech;

use speech::{Phone, PhoneClass, classify_arpabet, classify_espeak};

fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
}

/// RMS of the samples inside the phones of `class` (mono audio at `rate`).
fn class_rms(
    phones: &[Phone],
    classify: fn(&str) -> PhoneClass,
    class: PhoneClass,
    rate: u32,
    samples: &[i16],
) -> f64 {
    let mut sel = Vec::new();
    for p in phones.iter().filter(|p| classify(&p.label) == class) {
        let a = ((p.start * rate as f64) as usize).min(samples.len());
        let b = ((p.end * rate as f64) as usize).min(samples.len());
        sel.extend_from_slice(&samples[a..b]);
    }
    rms(&sel)
}

fn assert_ordered(phones: &[Phone], duration: f64, what: &str) {
    assert!(!phones.is_empty(), "{what}: no phones");
    for (k, p) in phones.iter().enumerate() {
        assert!(p.start >= 0.0, "{what}: phone {k} {p:?} starts before 0");
        assert!(p.end > p.start, "{what}: phone {k} {p:?} is empty");
        assert!(
            p.end <= duration + 1e-6,
            "{what}: phone {k} {p:?} ends after the audio ({duration} s)"
        );
        if k > 0 {
            assert!(
                p.start >= phones[k - 1].end - 1e-6,
                "{what}: phone {k} {p:?} overlaps {:?}",
                phones[k - 1]
            );
        }
    }
}

#[test]
fn librivox_clips_load_with_their_alignments() {
    let clips = speech::librivox_clips();
    assert_eq!(clips.len(), 5, "the five pocketsphinx LibriVox clips");
    for c in &clips {
        let name = c.wav.file_name().unwrap().to_string_lossy().into_owned();
        let (rate, channels, samples) = speech::read_wav(&c.wav);
        assert_eq!((rate, channels), (16000, 1), "{name}");
        assert!((samples.len() as f64 / rate as f64 - c.duration).abs() < 1e-9);
        assert!((2.5..8.0).contains(&c.duration), "{name}: {} s", c.duration);
        assert_ordered(&c.phones, c.duration, &name);
        // The alignment covers the clip, to its 10 ms resolution.
        assert!(c.phones[0].start < 0.011, "{name}");
        assert!(c.duration - c.phones.last().unwrap().end < 0.021, "{name}");

        let count = |class| {
            c.phones
                .iter()
                .filter(|p| classify_arpabet(&p.label) == class)
                .count()
        };
        let (sil, vow, bil, oth) = (
            count(PhoneClass::Silence),
            count(PhoneClass::Vowel),
            count(PhoneClass::Bilabial),
            count(PhoneClass::Other),
        );
        assert!(vow >= 5, "{name}: {vow} vowels");
        assert!(sil >= 1, "{name}: no silence");
        assert!(bil >= 1, "{name}: no p/b/m");
        assert!(oth >= 5, "{name}: {oth} other consonants");
        // Every label is a CMU phone: silence, or upper-case ARPAbet.
        for p in &c.phones {
            assert!(
                p.label == "SIL" || p.label.chars().all(|ch| ch.is_ascii_uppercase()),
                "{name}: label {:?}",
                p.label
            );
        }
        // The clips start and end in silence (pocketsphinx's SIL), and the alignment
        // matches the audio: vowels are much louder than the silences.
        let sils = speech::silences(&c.phones, classify_arpabet, 0.05);
        assert!(!sils.is_empty(), "{name}");
        assert!(sils[0].0 < 0.011, "{name}: {sils:?}");
        let r_vow = class_rms(
            &c.phones,
            classify_arpabet,
            PhoneClass::Vowel,
            rate,
            &samples,
        );
        let r_sil = class_rms(
            &c.phones,
            classify_arpabet,
            PhoneClass::Silence,
            rate,
            &samples,
        );
        assert!(
            r_vow > 3.0 * r_sil,
            "{name}: vowel RMS {r_vow:.0} vs silence RMS {r_sil:.0}"
        );

        let fps = 25.0;
        let frames = (c.duration * fps).ceil() as usize;
        let truth = speech::mouth_truth(&c.phones, classify_arpabet, fps, frames);
        assert_eq!(truth.len(), frames);
        assert!(truth.iter().all(|&v| v == 0.0 || v == 0.4 || v == 1.0));
        assert_eq!(truth[0], 0.0, "{name}: starts in silence");
        assert!(truth.contains(&1.0), "{name}");
        println!(
            "{name}: {:.2} s, {rate} Hz, {channels} ch, {} phones ({vow} vowels, {bil} p/b/m, \
             {oth} other, {sil} silence), vowel/silence RMS {r_vow:.0}/{r_sil:.0}, \
             silences >= 50 ms {:?}",
            c.duration,
            c.phones.len(),
            sils.iter()
                .map(|(a, b)| format!("{a:.2}-{b:.2}"))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn classifiers() {
    for (l, c) in [
        ("SIL", PhoneClass::Silence),
        ("<sil>", PhoneClass::Silence),
        ("+NSN+", PhoneClass::Silence),
        ("+SPN+", PhoneClass::Silence),
        ("[NOISE]", PhoneClass::Silence),
        ("AH", PhoneClass::Vowel),
        ("ah0", PhoneClass::Vowel),
        ("OY1", PhoneClass::Vowel),
        ("ER2", PhoneClass::Vowel),
        ("M", PhoneClass::Bilabial),
        ("B", PhoneClass::Bilabial),
        ("P", PhoneClass::Bilabial),
        ("F", PhoneClass::Other),
        ("HH", PhoneClass::Other),
        ("NG", PhoneClass::Other),
    ] {
        assert_eq!(classify_arpabet(l), c, "{l}");
    }
    for (l, c) in [
        ("_", PhoneClass::Silence),
        ("_:", PhoneClass::Silence),
        ("_!", PhoneClass::Silence),
        ("", PhoneClass::Silence),
        ("@", PhoneClass::Vowel),
        ("3:", PhoneClass::Vowel),
        ("a#", PhoneClass::Vowel),
        ("A:", PhoneClass::Vowel),
        ("aI", PhoneClass::Vowel),
        ("eI", PhoneClass::Vowel),
        ("0", PhoneClass::Vowel),
        ("O:", PhoneClass::Vowel),
        ("oU", PhoneClass::Vowel),
        ("u:", PhoneClass::Vowel),
        ("V", PhoneClass::Vowel),
        ("i@3", PhoneClass::Vowel),
        ("'a", PhoneClass::Vowel),
        ("p", PhoneClass::Bilabial),
        ("b", PhoneClass::Bilabial),
        ("m", PhoneClass::Bilabial),
        ("D", PhoneClass::Other),
        ("T", PhoneClass::Other),
        ("N", PhoneClass::Other),
        ("tS", PhoneClass::Other),
        ("w", PhoneClass::Other),
        ("j", PhoneClass::Other),
        ("h", PhoneClass::Other),
        ("l/2", PhoneClass::Other),
    ] {
        assert_eq!(classify_espeak(l), c, "{l:?}");
    }
}

#[test]
fn espeak_synth_gives_exact_phoneme_timing() {
    let text = "Bob bought a map. Then he slept.";
    let s = speech::espeak_synth(text, "en");
    let duration = s.samples.len() as f64 / s.rate as f64;
    println!(
        "espeak-ng {text:?}: {} Hz, {:.3} s, {} phonemes",
        s.rate,
        duration,
        s.phones.len()
    );
    for p in &s.phones {
        println!(
            "  {:7.3} {:7.3}  {:5} {:?}",
            p.start,
            p.end,
            p.label,
            classify_espeak(&p.label)
        );
    }
    assert!(s.rate >= 8000, "rate {}", s.rate);
    assert!(duration > 1.0, "{duration} s");
    assert_ordered(&s.phones, duration, "espeak");
    assert!((s.phones.last().unwrap().end - duration).abs() < 1e-9);

    let classes: Vec<PhoneClass> = s.phones.iter().map(|p| classify_espeak(&p.label)).collect();
    let n = |c| classes.iter().filter(|&&x| x == c).count();
    // "Bob bought a map. Then he slept.": b, b, b, m, m, p, p.
    assert!(n(PhoneClass::Bilabial) >= 6, "{classes:?}");
    assert!(n(PhoneClass::Vowel) >= 7, "{classes:?}");
    assert!(n(PhoneClass::Silence) >= 1, "{classes:?}");
    let speech_labels: Vec<&str> = s
        .phones
        .iter()
        .filter(|p| classify_espeak(&p.label) != PhoneClass::Silence)
        .map(|p| p.label.as_str())
        .collect();
    assert_eq!(
        &speech_labels[..3],
        &["b", "0", "b"],
        "'Bob' in espeak's British English: {speech_labels:?}"
    );
    // A pause between the sentences, of at least 100 ms.
    let sils = speech::silences(&s.phones, classify_espeak, 0.1);
    assert!(
        sils.iter().any(|&(a, b)| a > 0.3 && b < duration - 0.3),
        "no pause between the sentences: {sils:?}"
    );
    // The timing matches the audio: vowels are loud, pauses quiet.
    let r_vow = class_rms(
        &s.phones,
        classify_espeak,
        PhoneClass::Vowel,
        s.rate,
        &s.samples,
    );
    let r_sil = class_rms(
        &s.phones,
        classify_espeak,
        PhoneClass::Silence,
        s.rate,
        &s.samples,
    );
    println!("  vowel RMS {r_vow:.0}, pause RMS {r_sil:.0}, pauses >= 100 ms {sils:?}");
    assert!(
        r_vow > 5.0 * r_sil,
        "vowel RMS {r_vow} vs pause RMS {r_sil}"
    );

    // Safe from several threads (calls are serialised). Repeated calls give the same
    // phonemes, timed the same to within a millisecond (espeak's pitch-period
    // alignment and its random noise source make the audio differ slightly).
    let again: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || speech::espeak_synth(text, "en")))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    for a in again {
        assert_eq!(a.rate, s.rate);
        let d = a.samples.len().abs_diff(s.samples.len()) as f64 / s.rate as f64;
        assert!(
            d < 0.002,
            "{} vs {} samples",
            a.samples.len(),
            s.samples.len()
        );
        assert_eq!(a.phones.len(), s.phones.len());
        for (x, y) in a.phones.iter().zip(&s.phones) {
            assert_eq!(x.label, y.label);
            assert!((x.start - y.start).abs() < 0.002, "{x:?} vs {y:?}");
            assert!((x.end - y.end).abs() < 0.002, "{x:?} vs {y:?}");
        }
        let (r0, r1) = (rms(&s.samples), rms(&a.samples));
        assert!((r1 / r0 - 1.0).abs() < 0.05, "RMS {r0} then {r1}");
    }

    let fps = 30.0;
    let frames = (duration * fps).ceil() as usize;
    let truth = speech::mouth_truth(&s.phones, classify_espeak, fps, frames);
    assert_eq!(truth.len(), frames);
    for v in [0.0, 0.4, 1.0] {
        assert!(truth.contains(&v), "{v} missing from {truth:?}");
    }
}

#[test]
fn mouth_truth_and_silences() {
    let ph = |label: &str, start, end| Phone {
        label: label.into(),
        start,
        end,
    };
    let phones = [
        ph("SIL", 0.0, 0.1),
        ph("B", 0.1, 0.2),
        ph("AA", 0.2, 0.5),
        ph("T", 0.5, 0.6),
        ph("SIL", 0.7, 0.8),
        ph("+NSN+", 0.8, 1.0),
        ph("M", 1.0, 1.05),
        ph("SIL", 1.05, 1.1),
    ];
    let truth = speech::mouth_truth(&phones, classify_arpabet, 10.0, 13);
    assert_eq!(
        truth,
        [
            0.0, 0.0, 1.0, 1.0, 1.0, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
        ]
    );
    let truth = speech::mouth_truth(&phones, classify_arpabet, 20.0, 12);
    assert_eq!(
        truth,
        [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.4, 0.4]
    );
    assert!(speech::mouth_truth(&phones, classify_arpabet, 25.0, 0).is_empty());

    assert_eq!(
        speech::silences(&phones, classify_arpabet, 0.0),
        [(0.0, 0.1), (0.7, 1.0), (1.05, 1.1)]
    );
    assert_eq!(
        speech::silences(&phones, classify_arpabet, 0.1),
        [(0.0, 0.1), (0.7, 1.0)]
    );
    assert_eq!(
        speech::silences(&phones, classify_arpabet, 0.25),
        [(0.7, 1.0)]
    );
}

#[test]
fn wav_round_trip() {
    let dir = std::env::temp_dir().join(format!("gst-portrait-speech-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tone.wav");
    let samples: Vec<i16> = (0..22050)
        .map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / 22050.0).sin() * 12000.0) as i16)
        .collect();
    speech::write_wav(&path, 22050, &samples);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 44 + 2 * 22050);
    let (rate, channels, back) = speech::read_wav(&path);
    assert_eq!((rate, channels), (22050, 1));
    assert_eq!(back, samples);
    std::fs::remove_dir_all(&dir).unwrap();
}
