// SPDX-License-Identifier: MIT

//! Speech with known phone timing, the ground truth of the lip-sync tests: the LibriVox
//! clips of the pocketsphinx test set (real read speech with a forced alignment) and
//! speech synthesized by espeak-ng through its C API (each phoneme's start sample).
//!
//! Not a submodule of `common` so that only the tests that use it link libespeak-ng:
//! include it with `mod common;` and `#[path = "common/speech.rs"] mod speech;`.
#![allow(dead_code)]

use std::cell::RefCell;
use std::ffi::{CString, c_char, c_int, c_short, c_uint, c_void};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// One phone (or phoneme) and its time span in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Phone {
    pub label: String,
    pub start: f64,
    pub end: f64,
}

/// What the mouth does during a phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneClass {
    /// Pause, silence or non-speech noise: mouth closed.
    Silence,
    /// Vowel or diphthong: mouth open.
    Vowel,
    /// p, b, m: lips closed.
    Bilabial,
    /// Any other consonant: mouth partly open.
    Other,
}

/// Classifies a CMU / ARPAbet label as in pocketsphinx alignments (`SIL`, `AH`, `M`;
/// stress digits such as `AH0` are ignored; `<sil>`, `+NSN+`, `+SPN+`, `[NOISE]`
/// and the like are silence).
pub fn classify_arpabet(label: &str) -> PhoneClass {
    let l = label.trim().to_ascii_uppercase();
    let l = l.trim_end_matches(|c: char| c.is_ascii_digit());
    if l.is_empty()
        || l.starts_with('+')
        || l.starts_with('[')
        || l.starts_with('<')
        || matches!(l, "SIL" | "SP" | "SPN" | "NSN" | "PAU" | "H#")
    {
        return PhoneClass::Silence;
    }
    match l {
        "AA" | "AE" | "AH" | "AO" | "AW" | "AY" | "EH" | "ER" | "EY" | "IH" | "IY" | "OW"
        | "OY" | "UH" | "UW" => PhoneClass::Vowel,
        "P" | "B" | "M" => PhoneClass::Bilabial,
        _ => PhoneClass::Other,
    }
}

/// Classifies an espeak-ng phoneme mnemonic (its own ASCII notation, as in the
/// phoneme events and `espeak-ng -x`). Pauses (`_`, `_:`, `_!`, `_^_`, ...) are
/// silence. Every vowel and diphthong of espeak-ng's English phoneme set (`@`, `@2`,
/// `@5`, `@L`, `3`, `3:`, `a`, `a#`, `aa`, `A:`, `A@`, `aI`, `aI@`, `aU`, `aU@`, `e`,
/// `e@`, `E`, `eI`, `i`, `i:`, `i@`, `i@3`, `I`, `I2`, `I#`, `0`, `O:`, `O@`, `o@`,
/// `OI`, `oU`, `u:`, `U`, `U@`, `V`, `IR`, `VR`, ...) starts with one of
/// `@ 3 a A e E i I o O 0 u U V`, and no consonant does. `p`, `b`, `m` (and the
/// syllabic `m-`) are bilabial. Stress marks (`'`, `,`, `%`, `=`) are ignored.
pub fn classify_espeak(mnemonic: &str) -> PhoneClass {
    let m = mnemonic.trim().trim_start_matches(['\'', ',', '%', '=']);
    let Some(first) = m.chars().next() else {
        return PhoneClass::Silence;
    };
    match first {
        '_' => PhoneClass::Silence,
        '@' | '3' | 'a' | 'A' | 'e' | 'E' | 'i' | 'I' | 'o' | 'O' | '0' | 'u' | 'U' | 'V' => {
            PhoneClass::Vowel
        }
        'p' | 'b' | 'm' => PhoneClass::Bilabial,
        _ => PhoneClass::Other,
    }
}

/// Mouth openness target of a phone class: vowel 1.0, bilabial or silence 0.0, any
/// other consonant 0.4.
fn openness(class: PhoneClass) -> f32 {
    match class {
        PhoneClass::Vowel => 1.0,
        PhoneClass::Bilabial | PhoneClass::Silence => 0.0,
        PhoneClass::Other => 0.4,
    }
}

/// Per video frame k (at time k / fps, the frame's start) the mouth openness target of
/// the phone sounding then (start <= t < end): 1.0 for a vowel, 0.0 for a bilabial or
/// silence, 0.4 for another consonant; 0.0 where no phone covers t.
pub fn mouth_truth(
    phones: &[Phone],
    classify: fn(&str) -> PhoneClass,
    fps: f64,
    frames: usize,
) -> Vec<f32> {
    (0..frames)
        .map(|k| {
            let t = k as f64 / fps;
            phones
                .iter()
                .find(|p| p.start <= t && t < p.end)
                .map(|p| openness(classify(&p.label)))
                .unwrap_or(0.0)
        })
        .collect()
}

/// Stretches of consecutive silence phones, merged, as (start, end) in seconds; only
/// those at least `min_len` seconds long.
pub fn silences(
    phones: &[Phone],
    classify: fn(&str) -> PhoneClass,
    min_len: f64,
) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut cur: Option<(f64, f64)> = None;
    for p in phones {
        if classify(&p.label) == PhoneClass::Silence {
            cur = Some(match cur {
                Some((s, e)) => (s, e.max(p.end)),
                None => (p.start, p.end),
            });
        } else if let Some(s) = cur.take() {
            out.push(s);
        }
    }
    out.extend(cur);
    out.retain(|(s, e)| e - s >= min_len);
    out
}

// ---- LibriVox clips ----

/// A LibriVox clip (16 kHz mono PCM16 WAV) and its pocketsphinx phone alignment.
#[derive(Debug, Clone)]
pub struct Clip {
    pub wav: PathBuf,
    pub phones: Vec<Phone>,
    /// Seconds, from the WAV header.
    pub duration: f64,
}

/// Every LibriVox clip in the cache (`<cache>/media/librivox/*.wav`, each with its
/// `.phone.json`), sorted by name. Panics when they are missing.
pub fn librivox_clips() -> Vec<Clip> {
    let dir = crate::common::cache_dir().join("media").join("librivox");
    let mut wavs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}: run scripts/setup.sh", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    wavs.sort();
    assert!(
        !wavs.is_empty(),
        "no LibriVox clips in {}: run scripts/setup.sh",
        dir.display()
    );
    wavs.into_iter()
        .map(|wav| {
            let json = wav.with_extension("phone.json");
            let text = std::fs::read_to_string(&json)
                .unwrap_or_else(|e| panic!("{}: {e}", json.display()));
            let phones =
                parse_phone_json(&text).unwrap_or_else(|e| panic!("{}: {e}", json.display()));
            let (rate, channels, bytes) = wav_info(&wav);
            let duration = bytes as f64 / (2.0 * channels as f64 * rate as f64);
            Clip {
                wav,
                phones,
                duration,
            }
        })
        .collect()
}

/// The phones of a pocketsphinx alignment (`pocketsphinx align --phone`): an utterance
/// object `{"b","d","p","t","w":[word]}`, each word `{"b","d","p","t","w":[phone]}`,
/// each phone `{"b": start s, "d": duration s, "p": probability, "t": label}`.
fn parse_phone_json(text: &str) -> Result<Vec<Phone>, String> {
    let root = Json::parse(text)?;
    let mut phones = Vec::new();
    for word in root
        .get("w")
        .and_then(Json::array)
        .ok_or("no word list \"w\"")?
    {
        for ph in word
            .get("w")
            .and_then(Json::array)
            .ok_or("word without \"w\"")?
        {
            let start = ph
                .get("b")
                .and_then(Json::number)
                .ok_or("phone without \"b\"")?;
            let dur = ph
                .get("d")
                .and_then(Json::number)
                .ok_or("phone without \"d\"")?;
            let label = ph
                .get("t")
                .and_then(Json::string)
                .ok_or("phone without \"t\"")?;
            phones.push(Phone {
                label: label.to_string(),
                start,
                end: start + dur,
            });
        }
    }
    Ok(phones)
}

/// Just enough JSON for the alignment files.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Result<Json, String> {
        let mut p = JsonParser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing data at byte {}", p.i));
        }
        Ok(v)
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn array(&self) -> Option<&[Json]> {
        match self {
            Json::Arr(a) => Some(a),
            _ => None,
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Json::Num(n) => Some(*n),
            _ => None,
        }
    }

    fn string(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("JSON: {what} at byte {}", self.i))
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            self.err(&format!("expected '{}'", c as char))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut m = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(m));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.eat(b':')?;
                    m.push((k, self.value()?));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(m));
                        }
                        _ => return self.err("expected ',' or '}'"),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(a));
                }
                loop {
                    a.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(a));
                        }
                        _ => return self.err("expected ',' or ']'"),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(Json::Bool(true))
            }
            Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(Json::Bool(false))
            }
            Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(Json::Null)
            }
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                t.parse()
                    .map(Json::Num)
                    .or_else(|_| self.err(&format!("bad number {t:?}")))
            }
            _ => self.err("expected a value"),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if self.s.get(self.i) != Some(&b'"') {
            return self.err("expected a string");
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.s.get(self.i) {
                None => return self.err("unterminated string"),
                Some(b'"') => {
                    self.i += 1;
                    return String::from_utf8(out).or_else(|_| self.err("bad UTF-8"));
                }
                Some(b'\\') => {
                    let c = match self.s.get(self.i + 1) {
                        Some(b'n') => b'\n',
                        Some(b't') => b'\t',
                        Some(b'r') => b'\r',
                        Some(b'b') => 8,
                        Some(b'f') => 12,
                        Some(&c @ (b'"' | b'\\' | b'/')) => c,
                        Some(b'u') => {
                            // Enough for the BMP (the alignment files are ASCII).
                            let hex = self.s.get(self.i + 2..self.i + 6).unwrap_or(b"");
                            let code = std::str::from_utf8(hex)
                                .ok()
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .and_then(char::from_u32);
                            let Some(ch) = code else {
                                return self.err("bad \\u escape");
                            };
                            let mut buf = [0; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                            self.i += 6;
                            continue;
                        }
                        _ => return self.err("bad escape"),
                    };
                    out.push(c);
                    self.i += 2;
                }
                Some(&c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }
}

// ---- WAV ----

/// Parses a RIFF/WAVE PCM16 header: (rate, channels, byte offset and length of the
/// sample data).
fn parse_wav(bytes: &[u8], path: &Path) -> (u32, u16, usize, usize) {
    let bad = |why: &str| -> ! { panic!("{}: {why}", path.display()) };
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        bad("not a RIFF/WAVE file");
    }
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let mut fmt = None;
    let mut i = 12;
    while i + 8 <= bytes.len() {
        let id = &bytes[i..i + 4];
        let len = u32_at(i + 4) as usize;
        let body = i + 8;
        if id == b"fmt " {
            if len < 16 || body + 16 > bytes.len() {
                bad("short fmt chunk");
            }
            let format = u16_at(body);
            let channels = u16_at(body + 2);
            let rate = u32_at(body + 4);
            let bits = u16_at(body + 14);
            // 1: PCM; 0xFFFE: WAVE_FORMAT_EXTENSIBLE (PCM16 the same way).
            if !(format == 1 || format == 0xFFFE) || bits != 16 || channels == 0 || rate == 0 {
                bad(&format!(
                    "only PCM16 is supported (format {format}, {bits} bits, {channels} channels, {rate} Hz)"
                ));
            }
            fmt = Some((rate, channels));
        } else if id == b"data" {
            let Some((rate, channels)) = fmt else {
                bad("data chunk before fmt chunk");
            };
            let len = len.min(bytes.len() - body);
            return (rate, channels, body, len - len % (2 * channels as usize));
        }
        i = body + len + (len & 1);
    }
    bad("no data chunk")
}

/// (rate, channels, sample data bytes) of a PCM16 WAV file.
fn wav_info(path: &Path) -> (u32, u16, usize) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (rate, channels, _, len) = parse_wav(&bytes, path);
    (rate, channels, len)
}

/// Reads a PCM16 WAV file: (rate, channels, interleaved samples).
pub fn read_wav(path: &Path) -> (u32, u16, Vec<i16>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (rate, channels, off, len) = parse_wav(&bytes, path);
    let samples = bytes[off..off + len]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    (rate, channels, samples)
}

/// Writes mono PCM16 samples as a WAV file.
pub fn write_wav(path: &Path, rate: u32, samples: &[i16]) {
    let data = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

// ---- espeak-ng ----

/// Speech synthesized by espeak-ng: mono PCM16 at `rate`, and its phonemes (espeak
/// mnemonics; classify with [`classify_espeak`]).
#[derive(Debug, Clone)]
pub struct Synth {
    pub rate: u32,
    pub samples: Vec<i16>,
    pub phones: Vec<Phone>,
}

// From /usr/include/espeak-ng/speak_lib.h (API revision 12).
const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
const ESPEAK_INITIALIZE_PHONEME_EVENTS: c_int = 0x0001;
/// Return an error instead of calling exit() when the data is missing.
const ESPEAK_INITIALIZE_DONT_EXIT: c_int = 0x8000;
const POS_CHARACTER: c_int = 1;
const ESPEAK_CHARS_UTF8: c_uint = 1;
const ESPEAK_EVENT_LIST_TERMINATED: c_int = 0;
const ESPEAK_EVENT_PHONEME: c_int = 7;
const EE_OK: c_int = 0;

#[repr(C)]
#[derive(Clone, Copy)]
union EspeakEventId {
    number: c_int,
    name: *const c_char,
    /// Phoneme mnemonic, zero-terminated unless it fills all 8 bytes.
    string: [u8; 8],
}

/// `espeak_EVENT`.
#[repr(C)]
struct EspeakEvent {
    /// espeak_EVENT_TYPE.
    kind: c_int,
    unique_identifier: c_uint,
    text_position: c_int,
    length: c_int,
    /// Milliseconds from the start of the output.
    audio_position: c_int,
    /// Samples from the start of the output.
    sample: c_int,
    user_data: *mut c_void,
    id: EspeakEventId,
}

/// `t_espeak_callback`: return 0 to go on, 1 to abort.
type SynthCallback = unsafe extern "C" fn(*mut c_short, c_int, *mut EspeakEvent) -> c_int;

#[link(name = "espeak-ng")]
unsafe extern "C" {
    fn espeak_Initialize(
        output: c_int,
        buflength: c_int,
        path: *const c_char,
        options: c_int,
    ) -> c_int;
    fn espeak_SetSynthCallback(callback: SynthCallback);
    fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
    fn espeak_Synth(
        text: *const c_void,
        size: usize,
        position: c_uint,
        position_type: c_int,
        end_position: c_uint,
        flags: c_uint,
        unique_identifier: *mut c_uint,
        user_data: *mut c_void,
    ) -> c_int;
    fn espeak_Synchronize() -> c_int;
    fn espeak_Terminate() -> c_int;
}

/// espeak-ng's global state: the sample rate once initialised. Every call into the
/// library holds this lock.
static ESPEAK: Mutex<Option<u32>> = Mutex::new(None);
/// Set when the callback caught a panic (it must not unwind into C).
static CALLBACK_FAILED: AtomicBool = AtomicBool::new(false);

#[derive(Default)]
struct Collect {
    samples: Vec<i16>,
    /// (start sample, mnemonic).
    phonemes: Vec<(i64, String)>,
}

thread_local! {
    // In AUDIO_OUTPUT_SYNCHRONOUS mode espeak_Synth calls the callback on the
    // calling thread, before it returns.
    static COLLECT: RefCell<Option<Collect>> = const { RefCell::new(None) };
}

unsafe extern "C" fn synth_callback(
    wav: *mut c_short,
    n: c_int,
    events: *mut EspeakEvent,
) -> c_int {
    let run = std::panic::AssertUnwindSafe(|| {
        let _ = COLLECT.try_with(|c| {
            let Ok(mut c) = c.try_borrow_mut() else {
                return;
            };
            let Some(c) = c.as_mut() else {
                return;
            };
            if !wav.is_null() && n > 0 {
                // SAFETY: espeak passes n samples at wav for this call.
                let s = unsafe { std::slice::from_raw_parts(wav, n as usize) };
                c.samples.extend_from_slice(s);
            }
            if events.is_null() {
                return;
            }
            // The list ends with an espeakEVENT_LIST_TERMINATED entry.
            for k in 0..100_000 {
                // SAFETY: the entries up to the terminator are valid events.
                let ev = unsafe { &*events.add(k) };
                if ev.kind == ESPEAK_EVENT_LIST_TERMINATED {
                    break;
                }
                if ev.kind == ESPEAK_EVENT_PHONEME {
                    // SAFETY: phoneme events carry the mnemonic in id.string.
                    let raw = unsafe { ev.id.string };
                    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
                    let name = String::from_utf8_lossy(&raw[..end]).into_owned();
                    c.phonemes.push((ev.sample as i64, name));
                }
            }
        });
    });
    match std::panic::catch_unwind(run) {
        Ok(()) => 0,
        Err(_) => {
            CALLBACK_FAILED.store(true, Ordering::SeqCst);
            1
        }
    }
}

/// Synthesizes `text` with espeak-ng voice `voice` (e.g. "en", "en-us"). Each phoneme
/// starts at the sample of its espeakEVENT_PHONEME event and ends where the next one
/// starts; the last one ends at the end of the audio. Events of zero length are
/// dropped. The audio before the first phoneme (~13 ms) is silence with no event.
pub fn espeak_synth(text: &str, voice: &str) -> Synth {
    let ctext = CString::new(text).expect("text without NUL");
    let cvoice = CString::new(voice).expect("voice without NUL");
    let mut guard = ESPEAK.lock().unwrap_or_else(|e| e.into_inner());
    let rate = match *guard {
        Some(rate) => rate,
        None => {
            // SAFETY: serialised by ESPEAK; a NULL path means the default data dir.
            let rate = unsafe {
                espeak_Initialize(
                    AUDIO_OUTPUT_SYNCHRONOUS,
                    0,
                    std::ptr::null(),
                    ESPEAK_INITIALIZE_PHONEME_EVENTS | ESPEAK_INITIALIZE_DONT_EXIT,
                )
            };
            assert!(
                rate > 0,
                "espeak_Initialize failed ({rate}): install espeak-ng (scripts/setup.sh)"
            );
            // SAFETY: as above; synth_callback never unwinds.
            unsafe { espeak_SetSynthCallback(synth_callback) };
            *guard = Some(rate as u32);
            rate as u32
        }
    };
    // SAFETY: serialised by ESPEAK; cvoice is a valid C string.
    let r = unsafe { espeak_SetVoiceByName(cvoice.as_ptr()) };
    assert_eq!(r, EE_OK, "espeak_SetVoiceByName({voice:?}) failed");

    COLLECT.with(|c| *c.borrow_mut() = Some(Collect::default()));
    CALLBACK_FAILED.store(false, Ordering::SeqCst);
    // SAFETY: serialised by ESPEAK; synchronous mode: the callback runs on this
    // thread and is done when espeak_Synth returns.
    let r = unsafe {
        espeak_Synth(
            ctext.as_ptr().cast(),
            text.len() + 1,
            0,
            POS_CHARACTER,
            0,
            ESPEAK_CHARS_UTF8,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    // SAFETY: as above.
    let r2 = unsafe { espeak_Synchronize() };
    let got = COLLECT.with(|c| c.borrow_mut().take()).unwrap_or_default();
    drop(guard);
    assert_eq!(r, EE_OK, "espeak_Synth failed");
    assert_eq!(r2, EE_OK, "espeak_Synchronize failed");
    assert!(
        !CALLBACK_FAILED.load(Ordering::SeqCst),
        "the espeak synth callback panicked"
    );

    let total = got.samples.len() as f64 / rate as f64;
    let starts: Vec<f64> = got
        .phonemes
        .iter()
        .map(|(s, _)| *s as f64 / rate as f64)
        .collect();
    let phones = got
        .phonemes
        .into_iter()
        .enumerate()
        .map(|(k, (_, label))| Phone {
            label,
            start: starts[k],
            end: starts.get(k + 1).copied().unwrap_or(total),
        })
        // Several events at one sample (e.g. the pauses at the very end of the audio):
        // the last of them is the phoneme that sounds there.
        .filter(|p| p.end > p.start)
        .collect();
    Synth {
        rate,
        samples: got.samples,
        phones,
    }
}
