// SPDX-License-Identifier: MIT

//! Speech → mouth, weight-free: the audio analysis behind `lipsync`.
//!
//! Audio of any rate and channel count is mixed down and resampled to 16 kHz mono
//! ([`Resampler`]); every 10 ms hop a 32 ms window gives the level of the voice band
//! (300–3000 Hz) and of the nasal-murmur band (80–300 Hz) from an FFT, and the first
//! two formants from an 18th-order LPC envelope ([`Analyzer`]). A voice-activity
//! probability per 32 ms chunk (Silero VAD in the element, anything implementing
//! [`Vad`] here) gates it all. [`MouthMapper`] turns those into raw mouth controls:
//! open from the voice-band level (against a decaying speech peak) and from F1 (open
//! vowels have a high F1), closed on the silence of a stop closure (/p b/) and on a
//! nasal murmur (/m/: energy below 300 Hz only), spread from F2 (high for /i e/),
//! rounded for a low F2 with a low F1 (/u o/, not the open /a/). [`Track`] keeps them per hop and smooths them over
//! a window that reaches `lookahead` into the future, which is what a live pipeline
//! pays in latency.

use std::collections::VecDeque;
use std::f32::consts::PI;

use crate::smoothstep;

/// Analysis sample rate.
pub const RATE: u32 = 16_000;
/// Hop between two analyses: 10 ms.
pub const HOP: usize = 160;
/// Analysis window (32 ms), centred on its hop; also the VAD chunk.
pub const WINDOW: usize = 512;
/// Seconds per hop.
pub const HOP_SECONDS: f64 = HOP as f64 / RATE as f64;
/// 2 + kHz of the rate, the usual rule: at 12, F1 and F2 of back vowels (/a/ 750 and
/// 1100 Hz, /u/ 300 and 900–1400) merged into one peak and F3 was read as F2, so
/// "ah" spread the lips and nothing ever rounded them (espeak-ng's vowels, measured).
const LPC_ORDER: usize = 18;

// ---------------------------------------------------------------------------------
// Resampling

/// Streaming mix-down and resampling to 16 kHz mono with a windowed-sinc low-pass
/// (exact rational positions, so no drift over hours; phases quantised to 512 for odd
/// rates, an error under 1/1000 of a sample).
pub struct Resampler {
    channels: usize,
    step_in: u64,
    step_out: u64,
    half: usize,
    phases: usize,
    table: Vec<f32>,
    /// Mono input; `input[0]` is absolute input sample `base`.
    input: Vec<f32>,
    base: u64,
    /// Next output sample.
    next: u64,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl Resampler {
    /// `rate` and `channels` of the interleaved input; `None` if either is 0.
    pub fn new(rate: u32, channels: usize) -> Option<Self> {
        if rate == 0 || channels == 0 {
            return None;
        }
        let g = gcd(rate as u64, RATE as u64);
        let (step_in, step_out) = (rate as u64 / g, RATE as u64 / g);
        // Cut-off at 0.9 × the lower Nyquist frequency, in input-sample units.
        let fc = 0.9 * (RATE as f32 / rate as f32).min(1.0);
        let half = if rate == RATE {
            1
        } else {
            (8.0 / fc).ceil() as usize
        };
        let phases = step_out.min(512) as usize;
        let mut table = vec![0.0; phases * 2 * half];
        for p in 0..phases {
            let frac = p as f32 / phases as f32;
            let row = &mut table[p * 2 * half..(p + 1) * 2 * half];
            if rate == RATE {
                row[half - 1] = 1.0;
                continue;
            }
            let mut sum = 0.0;
            for (k, v) in row.iter_mut().enumerate() {
                // Tap k is input sample q - half + 1 + k; its distance to the output
                // position q + frac.
                let u = frac + (half as f32 - 1.0 - k as f32);
                let x = fc * u;
                let sinc = if x.abs() < 1e-6 {
                    1.0
                } else {
                    (PI * x).sin() / (PI * x)
                };
                let w = 0.5 * (1.0 + (PI * u / half as f32).cos());
                *v = if u.abs() < half as f32 { sinc * w } else { 0.0 };
                sum += *v;
            }
            for v in row.iter_mut() {
                *v /= sum;
            }
        }
        Some(Resampler {
            channels,
            step_in,
            step_out,
            half,
            phases,
            table,
            input: vec![0.0; half],
            base: 0,
            next: 0,
        })
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Forgets the past (a discontinuity): the next input starts a new signal.
    pub fn reset(&mut self) {
        self.input.clear();
        self.input.resize(self.half, 0.0);
        self.base = 0;
        self.next = 0;
    }

    /// Appends the 16 kHz mono samples that `interleaved` completes to `out`.
    pub fn process(&mut self, interleaved: &[f32], out: &mut Vec<f32>) {
        let c = self.channels;
        let k = 1.0 / c as f32;
        self.input.extend(
            interleaved
                .chunks_exact(c)
                .map(|f| f.iter().sum::<f32>() * k),
        );
        // The input has `half` leading zeros: absolute input sample i is at i + half.
        let h = self.half as u64;
        let end = self.base + self.input.len() as u64;
        loop {
            let pos = self.next * self.step_in;
            let q = pos / self.step_out;
            let r = pos % self.step_out;
            // Taps q-half+1 ..= q+half (shifted by `half`): up to index q + 2·half.
            if q + 2 * h >= end {
                break;
            }
            let p = (r * self.phases as u64 / self.step_out) as usize;
            let taps = &self.table[p * 2 * self.half..(p + 1) * 2 * self.half];
            let start = (q + 1 - self.base) as usize;
            let x = &self.input[start..start + 2 * self.half];
            out.push(taps.iter().zip(x).map(|(a, b)| a * b).sum());
            self.next += 1;
        }
        // Drop what no later output needs.
        let keep_from = (self.next * self.step_in / self.step_out + 1).min(end);
        if keep_from > self.base {
            let n = (keep_from - self.base) as usize;
            self.input.drain(..n);
            self.base = keep_from;
        }
    }

    /// Flushes the tail (zeros after the end) so every input sample has its output.
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        let pad = vec![0.0; 2 * self.half * self.channels];
        let total_in = self.base + self.input.len() as u64 - self.half as u64;
        let total_out = total_in * self.step_out / self.step_in;
        let mut tail = Vec::new();
        self.process(&pad, &mut tail);
        let n = total_out.saturating_sub(self.next - tail.len() as u64) as usize;
        out.extend_from_slice(&tail[..n.min(tail.len())]);
    }
}

// ---------------------------------------------------------------------------------
// FFT, LPC

/// In-place radix-2 complex FFT of `re`/`im` (length a power of two).
fn fft(re: &mut [f32], im: &mut [f32]) {
    let n = re.len();
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let ang = -2.0 * PI / len as f32;
        let (ws, wc) = ang.sin_cos();
        for start in (0..n).step_by(len) {
            let (mut cr, mut ci) = (1.0f32, 0.0f32);
            for k in 0..len / 2 {
                let (a, b) = (start + k, start + k + len / 2);
                let tr = re[b] * cr - im[b] * ci;
                let ti = re[b] * ci + im[b] * cr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
                let nr = cr * wc - ci * ws;
                ci = cr * ws + ci * wc;
                cr = nr;
            }
        }
        len <<= 1;
    }
}

/// LPC coefficients a[0..=order] (a[0] = 1) from autocorrelation by Levinson–Durbin.
/// `None` for a silent or ill-conditioned frame.
fn levinson(r: &[f32], a: &mut [f32]) -> Option<()> {
    let p = a.len() - 1;
    if r[0] <= 1e-9 {
        return None;
    }
    a.fill(0.0);
    a[0] = 1.0;
    let mut err = r[0];
    let mut tmp = [0.0f32; LPC_ORDER + 1];
    for i in 1..=p {
        let mut acc = r[i];
        for j in 1..i {
            acc += a[j] * r[i - j];
        }
        let k = -acc / err;
        tmp[..=i].copy_from_slice(&a[..=i]);
        for j in 1..i {
            a[j] = tmp[j] + k * tmp[i - j];
        }
        a[i] = k;
        err *= 1.0 - k * k;
        if err <= 0.0 {
            return None;
        }
    }
    Some(())
}

// ---------------------------------------------------------------------------------
// Analysis

/// A voice-activity detector over consecutive 512-sample chunks of 16 kHz audio.
pub trait Vad {
    /// Speech probability (0..1) of the next chunk.
    fn chunk(&mut self, samples: &[f32]) -> f32;
    /// Forgets its state (a discontinuity).
    fn reset(&mut self);
    /// The first failure since the last call, if the detector can fail (it then
    /// reports speech everywhere rather than stopping).
    fn take_error(&mut self) -> Option<String> {
        None
    }
}

/// An energy threshold, for tests and as a fallback: RMS above −45 dBFS is speech.
#[derive(Default)]
pub struct EnergyVad;

impl Vad for EnergyVad {
    fn chunk(&mut self, s: &[f32]) -> f32 {
        let db = db(s.iter().map(|v| v * v).sum::<f32>() / s.len().max(1) as f32);
        ((db + 50.0) / 10.0).clamp(0.0, 1.0)
    }
    fn reset(&mut self) {}
}

/// What one 10 ms hop measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Hop {
    /// Level of the whole window, dBFS (power).
    pub level_db: f32,
    /// Level of the 300–3000 Hz band, dB.
    pub voice_db: f32,
    /// Level of the 80–300 Hz band, dB.
    pub low_db: f32,
    /// First two formants, Hz (0 when not found).
    pub f1: f32,
    pub f2: f32,
    /// Voice-activity probability of the chunk holding the hop's centre.
    pub vad: f32,
}

fn db(power: f32) -> f32 {
    10.0 * (power + 1e-10).log10()
}

/// Streaming analysis of 16 kHz mono audio: hop `n` is centred on sample `160·n` of
/// the stream (the window reaches 256 samples either side; zeros before the start).
pub struct Analyzer {
    /// Stream samples; `samples[0]` is stream sample `base`.
    samples: Vec<f32>,
    base: u64,
    next_hop: u64,
    /// VAD probability per chunk (chunk c = samples 512c..512c+512), from `vad_base`.
    vad: VecDeque<f32>,
    vad_base: u64,
    window: Vec<f32>,
    re: Vec<f32>,
    im: Vec<f32>,
    lpc_cos: Vec<f32>,
    lpc_sin: Vec<f32>,
}

/// LPC envelope grid: 0–4 kHz in 128 steps of 31.25 Hz.
const ENV_BINS: usize = 128;
const BIN_HZ: f32 = RATE as f32 / WINDOW as f32;

impl Default for Analyzer {
    fn default() -> Self {
        Self::new()
    }
}

impl Analyzer {
    pub fn new() -> Self {
        let window = (0..WINDOW)
            .map(|i| 0.54 - 0.46 * (2.0 * PI * i as f32 / (WINDOW - 1) as f32).cos())
            .collect();
        let mut lpc_cos = vec![0.0; ENV_BINS * (LPC_ORDER + 1)];
        let mut lpc_sin = vec![0.0; ENV_BINS * (LPC_ORDER + 1)];
        for b in 0..ENV_BINS {
            for n in 0..=LPC_ORDER {
                let w = 2.0 * PI * (b * n) as f32 / WINDOW as f32;
                lpc_cos[b * (LPC_ORDER + 1) + n] = w.cos();
                lpc_sin[b * (LPC_ORDER + 1) + n] = w.sin();
            }
        }
        Analyzer {
            samples: vec![0.0; WINDOW / 2],
            base: 0,
            next_hop: 0,
            vad: VecDeque::new(),
            vad_base: 0,
            window,
            re: vec![0.0; WINDOW],
            im: vec![0.0; WINDOW],
            lpc_cos,
            lpc_sin,
        }
    }

    /// Forgets everything: the next sample starts hop 0 again.
    pub fn reset(&mut self) {
        *self = Analyzer {
            samples: vec![0.0; WINDOW / 2],
            base: 0,
            next_hop: 0,
            vad: VecDeque::new(),
            vad_base: 0,
            window: std::mem::take(&mut self.window),
            re: std::mem::take(&mut self.re),
            im: std::mem::take(&mut self.im),
            lpc_cos: std::mem::take(&mut self.lpc_cos),
            lpc_sin: std::mem::take(&mut self.lpc_sin),
        };
    }

    /// Index of the next hop this analyser will produce.
    pub fn next_hop(&self) -> u64 {
        self.next_hop
    }

    /// Stream samples received so far.
    fn received(&self) -> u64 {
        (self.base + self.samples.len() as u64).saturating_sub(WINDOW as u64 / 2)
    }

    /// Appends 16 kHz mono samples and the hops they complete.
    pub fn push(&mut self, samples: &[f32], vad: &mut dyn Vad, out: &mut Vec<Hop>) {
        self.samples.extend_from_slice(samples);
        self.run(vad, out);
    }

    /// End of stream: pads with silence until every received sample's hop is out.
    pub fn finish(&mut self, vad: &mut dyn Vad, out: &mut Vec<Hop>) {
        let received = self.received();
        let last_hop = received.div_ceil(HOP as u64);
        while self.next_hop < last_hop {
            self.samples.extend(std::iter::repeat_n(0.0, WINDOW));
            self.run(vad, out);
        }
        // The padding may complete hops past the end: drop them.
        let extra = (self.next_hop - last_hop.min(self.next_hop)) as usize;
        out.truncate(out.len().saturating_sub(extra));
        self.next_hop -= extra as u64;
    }

    fn run(&mut self, vad: &mut dyn Vad, out: &mut Vec<Hop>) {
        let half = WINDOW as u64 / 2;
        loop {
            let received = self.received();
            // VAD chunks over the stream samples (absolute index + half).
            let next_chunk = self.vad_base + self.vad.len() as u64;
            if (next_chunk + 1) * WINDOW as u64 <= received {
                let s = (next_chunk * WINDOW as u64 + half - self.base) as usize;
                let p = vad.chunk(&self.samples[s..s + WINDOW]);
                self.vad.push_back(p);
                continue;
            }
            let centre = self.next_hop * HOP as u64;
            let chunk = centre / WINDOW as u64;
            if centre + half > received || chunk >= next_chunk {
                break;
            }
            let s = (centre - self.base) as usize; // window start: centre − half + half
            let p = self.vad[(chunk - self.vad_base) as usize];
            out.push(self.hop(s, p));
            self.next_hop += 1;
        }
        // Drop samples and VAD values no later hop or chunk needs. (The stream starts
        // with WINDOW/2 zeros so hop 0 has a full window: stream sample s is at index
        // s + WINDOW/2 - base of `samples`.)
        let centre = self.next_hop * HOP as u64;
        let next_chunk = self.vad_base + self.vad.len() as u64;
        let keep = centre
            .min(next_chunk * WINDOW as u64 + half)
            .min(self.base + self.samples.len() as u64);
        if keep > self.base + 4096 {
            let n = (keep - self.base) as usize;
            self.samples.drain(..n);
            self.base = keep;
        }
        let chunk = centre / WINDOW as u64;
        while self.vad_base < chunk && !self.vad.is_empty() {
            self.vad.pop_front();
            self.vad_base += 1;
        }
    }

    fn hop(&mut self, start: usize, vad: f32) -> Hop {
        let x = &self.samples[start..start + WINDOW];
        let power = x.iter().map(|v| v * v).sum::<f32>() / WINDOW as f32;
        // Spectrum for band levels.
        for ((re, w), v) in self.re.iter_mut().zip(&self.window).zip(x) {
            *re = v * w;
        }
        self.im.fill(0.0);
        fft(&mut self.re, &mut self.im);
        let band = |re: &[f32], im: &[f32], lo: f32, hi: f32| {
            let (a, b) = ((lo / BIN_HZ) as usize, (hi / BIN_HZ) as usize);
            let e: f32 = (a..b).map(|k| re[k] * re[k] + im[k] * im[k]).sum();
            // Normalised so a full-scale sine reads about 0 dB.
            db(e * 4.0 / (WINDOW as f32 * WINDOW as f32 * 0.54 * 0.54) / 2.0)
        };
        let voice_db = band(&self.re, &self.im, 300.0, 3000.0);
        let low_db = band(&self.re, &self.im, 80.0, 300.0);
        // LPC on the pre-emphasised, windowed frame for formants.
        let mut prev = if start > 0 {
            self.samples[start - 1]
        } else {
            0.0
        };
        for ((re, w), &v) in self.re.iter_mut().zip(&self.window).zip(x) {
            *re = (v - 0.97 * prev) * w;
            prev = v;
        }
        let mut r = [0.0f32; LPC_ORDER + 1];
        for (lag, rv) in r.iter_mut().enumerate() {
            *rv = (lag..WINDOW)
                .map(|i| self.re[i] * self.re[i - lag])
                .sum::<f32>();
        }
        r[0] *= 1.0001; // white-noise correction for conditioning
        let (mut f1, mut f2) = (0.0, 0.0);
        let mut a = [0.0f32; LPC_ORDER + 1];
        if power > 1e-8 && levinson(&r, &mut a).is_some() {
            let mut env = [0.0f32; ENV_BINS];
            for (b, e) in env.iter_mut().enumerate() {
                let row = b * (LPC_ORDER + 1);
                let (mut cr, mut ci) = (0.0, 0.0);
                let (cos, sin) = (&self.lpc_cos[row..], &self.lpc_sin[row..]);
                for ((an, c), s) in a.iter().zip(cos).zip(sin) {
                    cr += an * c;
                    ci -= an * s;
                }
                *e = 1.0 / (cr * cr + ci * ci).max(1e-12);
            }
            let mut peaks = (1..ENV_BINS - 1)
                .filter(|&b| env[b] > env[b - 1] && env[b] >= env[b + 1])
                .map(|b| {
                    // Parabolic interpolation on the log envelope.
                    let (l, c, r) = (env[b - 1].ln(), env[b].ln(), env[b + 1].ln());
                    let d = l - 2.0 * c + r;
                    let off = if d.abs() > 1e-9 {
                        0.5 * (l - r) / d
                    } else {
                        0.0
                    };
                    (b as f32 + off) * BIN_HZ
                })
                .filter(|&f| f >= 200.0);
            if let Some(p1) = peaks.next().filter(|&f| f <= 1100.0) {
                f1 = p1;
                f2 = peaks
                    .find(|&f| f >= p1 + 250.0 && f <= 3200.0)
                    .unwrap_or(0.0);
            }
        }
        Hop {
            level_db: db(power),
            voice_db,
            low_db,
            f1,
            f2,
            vad,
        }
    }
}

// ---------------------------------------------------------------------------------
// Hops → mouth

/// Mouth controls, each 0..1: open (jaw and lips apart), spread (lips stretched wide,
/// /i e/), round (lips pursed forward, /u o w/).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Mouth {
    pub open: f32,
    pub spread: f32,
    pub round: f32,
}

impl Mouth {
    fn add_scaled(&mut self, m: &Mouth, w: f32) {
        self.open += m.open * w;
        self.spread += m.spread * w;
        self.round += m.round * w;
    }
}

/// Tuning of the hop → mouth mapping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MouthParams {
    /// Voice-band dB below the running speech peak at which the mouth is closed.
    pub range_db: f32,
    /// How fast the speech peak decays, dB per second.
    pub peak_decay_db: f32,
    /// Largest `open` (the control's scale: 1 = very wide).
    pub max_open: f32,
}

impl Default for MouthParams {
    fn default() -> Self {
        MouthParams {
            range_db: 35.0,
            peak_decay_db: 2.0,
            max_open: 0.6,
        }
    }
}

/// Raw (unsmoothed) mouth per hop, with a running peak of the speech level.
pub struct MouthMapper {
    params: MouthParams,
    peak: f32,
}

/// Below this, a signal is digital silence whatever its peak.
const FLOOR_DB: f32 = -65.0;

impl MouthMapper {
    pub fn new(params: MouthParams) -> Self {
        MouthMapper {
            params,
            peak: f32::NEG_INFINITY,
        }
    }

    pub fn reset(&mut self) {
        self.peak = f32::NEG_INFINITY;
    }

    pub fn map(&mut self, h: &Hop) -> Mouth {
        let p = &self.params;
        let gate = smoothstep(0.2, 0.6, h.vad);
        self.peak -= p.peak_decay_db * HOP_SECONDS as f32;
        if gate > 0.5 {
            self.peak = self.peak.max(h.voice_db);
        }
        if gate <= 0.0 || h.voice_db < FLOOR_DB || !self.peak.is_finite() {
            return Mouth::default();
        }
        let level = ((h.voice_db - (self.peak - p.range_db)) / p.range_db).clamp(0.0, 1.0);
        // Nasal murmur (/m n/): the voice band far under the 80–300 Hz band.
        let oral = smoothstep(-18.0, -4.0, h.voice_db - h.low_db);
        // Open vowels have a high F1 (/a/ ~750 Hz, /i u/ ~300 Hz): a close vowel opens
        // about two thirds as much. (Weighted this lightly: the phone-timed ground
        // truth of the tests counts every vowel as open, and more F1 weight lowered
        // its correlation.)
        let f1 = if h.f1 > 0.0 {
            (0.45 + 0.55 * smoothstep(300.0, 750.0, h.f1)).sqrt()
        } else {
            0.77
        };
        let open = p.max_open * gate * level * oral * f1;
        let voiced = gate * level;
        // Spread: a front vowel's high F2 (/i/ ~2300 Hz, /e/ ~1900). Round: a back,
        // close or mid vowel, low F2 and F1 below an open vowel's (/u/ F2 900–1450
        // with English's fronted /u:/, /o/ ~1300; /a/ has F2 ~1150 but F1 ~800).
        let (spread, round) = if h.f2 > 0.0 {
            let s = smoothstep(1600.0, 2200.0, h.f2);
            let r =
                (1.0 - smoothstep(1300.0, 1700.0, h.f2)) * (1.0 - smoothstep(550.0, 700.0, h.f1));
            (voiced * s, voiced * r)
        } else {
            (0.0, 0.0)
        };
        Mouth {
            open,
            spread,
            round,
        }
    }
}

/// Hops of look-ahead for `lookahead` seconds (nearest 10 ms step).
pub fn lookahead_hops(lookahead: f64) -> usize {
    (lookahead.max(0.0) / HOP_SECONDS).round() as usize
}

/// Raw mouth per hop, smoothed on demand with a Gaussian that sees `ahead` hops into
/// the future (look-ahead) and `behind` hops into the past.
pub struct Track {
    hops: VecDeque<Mouth>,
    /// Hop index of `hops[0]`.
    first: i64,
    behind: usize,
    ahead: usize,
    weights: Vec<f32>,
}

impl Track {
    /// `sigma` and `lookahead` in seconds. With no look-ahead the window is one-sided,
    /// which delays the mouth by about `sigma`.
    pub fn new(sigma: f64, lookahead: f64) -> Self {
        let sigma_h = (sigma / HOP_SECONDS).max(0.1) as f32;
        let behind = (3.0 * sigma_h).ceil() as usize;
        let ahead = lookahead_hops(lookahead);
        let weights = (0..=behind + ahead)
            .map(|i| {
                let d = i as f32 - behind as f32;
                (-0.5 * (d / sigma_h).powi(2)).exp()
            })
            .collect();
        Track {
            hops: VecDeque::new(),
            first: 0,
            behind,
            ahead,
            weights,
        }
    }

    /// Hops of look-ahead the smoothing uses.
    pub fn ahead(&self) -> usize {
        self.ahead
    }

    /// Forgets all hops; the next pushed one is hop `first`.
    pub fn reset(&mut self, first: i64) {
        self.hops.clear();
        self.first = first;
    }

    /// Index of the next hop to push.
    pub fn end(&self) -> i64 {
        self.first + self.hops.len() as i64
    }

    pub fn push(&mut self, m: Mouth) {
        self.hops.push_back(m);
    }

    /// Fills hops up to (not including) `end` with a closed mouth (an audio gap).
    pub fn fill_silence(&mut self, end: i64) {
        while self.end() < end {
            self.hops.push_back(Mouth::default());
        }
    }

    /// True when hop `h`'s smoothing window is complete.
    pub fn ready(&self, h: i64) -> bool {
        h + (self.ahead as i64) < self.end()
    }

    /// Drops hops older than what hop `h` needs.
    pub fn forget_before(&mut self, h: i64) {
        while self.first < h - self.behind as i64 && !self.hops.is_empty() {
            self.hops.pop_front();
            self.first += 1;
        }
    }

    /// The smoothed mouth at hop `h` (missing hops count as closed). Within speech a
    /// stop closure or /m/ shows as a dip in the raw hops; it is kept as a closure:
    /// the result never exceeds the largest raw value within ±1 hop by more than half.
    pub fn at(&self, h: i64) -> Mouth {
        let mut acc = Mouth::default();
        let mut wsum = 0.0;
        for (i, w) in self.weights.iter().enumerate() {
            let k = h - self.behind as i64 + i as i64;
            if let Some(m) = self.get(k) {
                acc.add_scaled(&m, *w);
            }
            wsum += w;
        }
        let mut out = Mouth::default();
        out.add_scaled(&acc, 1.0 / wsum);
        let near = (-1..=1)
            .filter_map(|d| self.get(h + d))
            .map(|m| m.open)
            .fold(0.0f32, f32::max);
        out.open = out.open.min(near + 0.5 * (out.open - near).max(0.0));
        out
    }

    fn get(&self, k: i64) -> Option<Mouth> {
        if k < self.first {
            return None;
        }
        self.hops.get((k - self.first) as usize).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f32, secs: f32, amp: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| amp * (2.0 * PI * hz * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn resampler_keeps_a_tone_and_the_length() {
        for rate in [8000u32, 16000, 22050, 44100, 48000] {
            let x = sine(rate, 440.0, 1.0, 0.5);
            let mut r = Resampler::new(rate, 1).unwrap();
            let mut out = Vec::new();
            for c in x.chunks(997) {
                r.process(c, &mut out);
            }
            r.finish(&mut out);
            assert!(
                (out.len() as i64 - 16000).abs() <= 1,
                "{rate}: {}",
                out.len()
            );
            let want = sine(16000, 440.0, 1.0, 0.5);
            let err = out[200..15800]
                .iter()
                .zip(&want[200..15800])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(err < 0.01, "{rate}: max error {err}");
        }
    }

    #[test]
    fn resampler_mixes_down_and_filters_aliases() {
        // 3 kHz in both channels passes; 12 kHz (over 8 kHz) is removed.
        let a = sine(48000, 3000.0, 0.5, 0.5);
        let b = sine(48000, 12000.0, 0.5, 0.5);
        let stereo: Vec<f32> = a.iter().flat_map(|&v| [v, v]).collect();
        let mut r = Resampler::new(48000, 2).unwrap();
        let mut out = Vec::new();
        r.process(&stereo, &mut out);
        let rms = |v: &[f32]| (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
        assert!((rms(&out[100..7000]) - 0.3536).abs() < 0.02);
        let mut r = Resampler::new(48000, 1).unwrap();
        let mut out = Vec::new();
        r.process(&b, &mut out);
        assert!(rms(&out[100..7000]) < 0.01, "{}", rms(&out[100..7000]));
    }

    #[test]
    fn fft_of_a_bin_centred_tone() {
        let mut re: Vec<f32> = (0..64)
            .map(|i| (2.0 * PI * 5.0 * i as f32 / 64.0).cos())
            .collect();
        let mut im = vec![0.0; 64];
        fft(&mut re, &mut im);
        assert!((re[5] - 32.0).abs() < 1e-3 && (re[59] - 32.0).abs() < 1e-3);
        assert!(re[7].abs() < 1e-3 && im[5].abs() < 1e-3);
    }

    /// A vowel-like signal: pulses at `f0` through resonators at `f1`, `f2` and, as in
    /// a real voice, F3 and F4 above them (without these an 18th-order LPC spends its
    /// spare poles on single harmonics between F1 and F2).
    fn vowel(f0: f32, f1: f32, f2: f32, secs: f32) -> Vec<f32> {
        let n = (16000.0 * secs) as usize;
        let mut x: Vec<f32> = (0..n)
            .map(|i| {
                if i % (16000.0 / f0) as usize == 0 {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let f3 = (f2 + 600.0).max(2500.0);
        for f in [f1, f2, f3, f3 + 900.0] {
            let r = (-PI * 80.0 / 16000.0).exp();
            let c = 2.0 * r * (2.0 * PI * f / 16000.0).cos();
            let (mut y1, mut y2) = (0.0, 0.0);
            for v in x.iter_mut() {
                let y = *v + c * y1 - r * r * y2;
                y2 = y1;
                y1 = y;
                *v = y;
            }
        }
        let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        x.iter().map(|v| 0.3 * v / peak).collect()
    }

    fn analyse(x: &[f32]) -> Vec<Hop> {
        let mut a = Analyzer::new();
        let mut out = Vec::new();
        for c in x.chunks(333) {
            a.push(c, &mut EnergyVad, &mut out);
        }
        a.finish(&mut EnergyVad, &mut out);
        out
    }

    #[test]
    fn formants_of_synthetic_vowels() {
        // LPC pulls a formant towards a harmonic of f0, and reads a low F1 ~50 Hz high
        // (pre-emphasis): 20% + 40 Hz.
        for (f1, f2) in [(750.0, 1200.0), (300.0, 2300.0), (350.0, 800.0)] {
            let hops = analyse(&vowel(110.0, f1, f2, 0.5));
            assert_eq!(hops.len(), 50);
            let mid = &hops[20..30];
            let m1 = mid.iter().map(|h| h.f1).sum::<f32>() / 10.0;
            let m2 = mid.iter().map(|h| h.f2).sum::<f32>() / 10.0;
            assert!((m1 - f1).abs() < 0.2 * f1 + 40.0, "F1 {m1} for {f1}");
            assert!((m2 - f2).abs() < 0.15 * f2, "F2 {m2} for {f2}");
        }
    }

    #[test]
    fn hop_count_and_vad_alignment() {
        // 1 s of silence then 1 s of a vowel: hops 0..200, VAD rises near hop 100.
        let mut x = vec![0.0; 16000];
        x.extend(vowel(120.0, 700.0, 1200.0, 1.0));
        let hops = analyse(&x);
        assert_eq!(hops.len(), 200);
        let first = hops.iter().position(|h| h.vad > 0.5).unwrap();
        assert!((96..=104).contains(&first), "{first}");
    }

    #[test]
    fn mouth_opens_for_open_vowels_and_closes_in_silence() {
        let mut x = vowel(120.0, 750.0, 1200.0, 0.5); // /a/
        x.extend(vec![0.0; 8000]);
        x.extend(vowel(120.0, 300.0, 2300.0, 0.5)); // /i/
        x.extend(vowel(120.0, 350.0, 800.0, 0.5)); // /u/
        let hops = analyse(&x);
        let mut m = MouthMapper::new(MouthParams::default());
        let mouths: Vec<Mouth> = hops.iter().map(|h| m.map(h)).collect();
        let mean = |r: std::ops::Range<usize>, f: fn(&Mouth) -> f32| {
            mouths[r.clone()].iter().map(f).sum::<f32>() / r.len() as f32
        };
        let a = mean(10..40, |m| m.open);
        let sil = mean(60..90, |m| m.open);
        let i = mean(110..140, |m| m.open);
        assert!(
            a > 0.4 && sil == 0.0 && i < 0.8 * a,
            "a {a} sil {sil} i {i}"
        );
        assert!(mean(110..140, |m| m.spread) > 0.5);
        assert!(mean(160..190, |m| m.round) > 0.5);
        assert!(mean(160..190, |m| m.spread) < 0.2);
    }

    #[test]
    fn track_smooths_with_lookahead_and_keeps_closures() {
        let mut t = Track::new(0.03, 0.05);
        assert_eq!(t.ahead(), 5);
        for i in 0..100 {
            let open = if (40..45).contains(&i) { 0.0 } else { 0.5 };
            t.push(Mouth {
                open,
                ..Default::default()
            });
        }
        assert!(t.ready(94) && !t.ready(95));
        assert!((t.at(20).open - 0.5).abs() < 1e-4);
        assert!(t.at(42).open < 0.1, "{}", t.at(42).open);
        t.forget_before(60);
        assert!((t.at(70).open - 0.5).abs() < 1e-4);
        // Symmetric when look-ahead covers the kernel: a step is centred.
        let mut t = Track::new(0.02, 0.06);
        for i in 0..40 {
            t.push(Mouth {
                open: if i < 20 { 0.0 } else { 1.0 },
                ..Default::default()
            });
        }
        let (a, b) = (t.at(19).open, t.at(20).open);
        assert!(a < 0.5 && b > 0.4, "{a} {b}");
    }
}
