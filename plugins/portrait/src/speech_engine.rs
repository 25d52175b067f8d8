// SPDX-License-Identifier: MIT

//! Speech → mouth over running time, for `lipsync`: the pure analysis of
//! `portrait_vision::speech` fed through Silero VAD, or a user's neural audio-to-mouth
//! ONNX model, with the clock bookkeeping (running time ↔ 10 ms hops, gaps and
//! discontinuities) in one place.
//!
//! # Neural audio-to-mouth model contract (`lipsync audio-model=`)
//! - one float32 input `[1, S]` (S fixed in the model, 1 ≤ S ≤ 160000): the last S
//!   samples of the audio at 16 kHz mono, in [-1, 1], ending 16 ms after the hop the
//!   result is for (zeros before the stream starts);
//! - first output float32 with 1 to 3 values (any shape, e.g. `[1, 3]`): mouth open,
//!   spread, round, each 0..1 (clamped; missing ones are 0). Open uses
//!   `Expression::mouth_open`'s scale (1 = inner-lip gap of 0.6 × mouth width).
//! - It runs every 40 ms (each result holds for four 10 ms hops) and replaces the
//!   weight-free mapping; the smoothing and look-ahead are the same. Silero VAD is not
//!   used with it.

use std::path::Path;
use std::sync::Arc;

use portrait_infer::ort::value::TensorRef;
use portrait_infer::{Device, InferError, Loaded, SharedSession};
use portrait_vision::speech::{
    Analyzer, HOP, Hop, Mouth, MouthMapper, MouthParams, RATE, Resampler, Track, Vad, WINDOW,
    lookahead_hops,
};

/// Sample formats `lipsync` takes (interleaved, little-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFormat {
    F32,
    S16,
}

/// Decodes interleaved PCM `bytes` into samples in [-1, 1] in `out` (cleared first,
/// its allocation reused). Non-finite floats read as 0, others are clamped; a trailing
/// partial sample is ignored.
pub fn decode_pcm(bytes: &[u8], format: SampleFormat, out: &mut Vec<f32>) {
    out.clear();
    match format {
        SampleFormat::F32 => out.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .map(|v| {
                    if v.is_finite() {
                        v.clamp(-1.0, 1.0)
                    } else {
                        0.0
                    }
                }),
        ),
        SampleFormat::S16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0),
        ),
    }
}

/// File of Silero VAD in the models directory.
pub const SILERO_VAD: &str = "silero_vad.onnx";
const CONTEXT: usize = 64;
/// Hops per neural-model run.
const MODEL_STRIDE: u64 = 4;

fn run_err(e: portrait_infer::ort::Error) -> InferError {
    InferError::Run(e.to_string())
}

/// Silero VAD v5/v6: `input [1, 64 + 512]`, `state [2, 1, 128]`, `sr` → `output [1, 1]`,
/// `stateN`.
pub struct SileroVad {
    session: Arc<SharedSession>,
    input: Vec<f32>,
    state: Vec<f32>,
    /// The first run error, kept for the element to report (the VAD then reads 1).
    error: Option<String>,
}

impl SileroVad {
    pub fn load(path: &Path, threads: usize) -> Result<Self, InferError> {
        let session = portrait_infer::load(path, Device::Cpu, threads)?.model;
        let sig = session.signature();
        let names = |v: &[(String, Vec<i64>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        let (ins, outs) = (names(&sig.inputs), names(&sig.outputs));
        let want_in = ["input", "state", "sr"];
        if !want_in.iter().all(|n| ins.iter().any(|i| i == n))
            || !["output", "stateN"]
                .iter()
                .all(|n| outs.iter().any(|o| o == n))
        {
            return Err(InferError::ModelInvalid(
                path.to_path_buf(),
                format!(
                    "inputs {ins:?} → outputs {outs:?} are not Silero VAD (input, state, sr → output, stateN)"
                ),
            ));
        }
        Ok(SileroVad {
            session,
            input: vec![0.0; CONTEXT + WINDOW],
            state: vec![0.0; 2 * 128],
            error: None,
        })
    }

    fn run(&mut self) -> Result<f32, InferError> {
        let mut session = self.session.lock();
        let input = TensorRef::from_array_view(([1usize, CONTEXT + WINDOW], &self.input[..]))
            .map_err(run_err)?;
        let state =
            TensorRef::from_array_view(([2usize, 1, 128], &self.state[..])).map_err(run_err)?;
        let sr_data = [RATE as i64];
        let sr = TensorRef::from_array_view(([0usize; 0], &sr_data[..])).map_err(run_err)?;
        let out = session
            .run(portrait_infer::ort::inputs!["input" => input, "state" => state, "sr" => sr])
            .map_err(run_err)?;
        let (_, p) = out["output"].try_extract_tensor::<f32>().map_err(run_err)?;
        let p = p.first().copied().unwrap_or(0.0);
        let (_, s) = out["stateN"].try_extract_tensor::<f32>().map_err(run_err)?;
        if s.len() == self.state.len() {
            self.state.copy_from_slice(s);
        }
        Ok(p)
    }
}

impl Vad for SileroVad {
    fn chunk(&mut self, samples: &[f32]) -> f32 {
        // Context: the last 64 samples of the previous chunk.
        self.input.copy_within(WINDOW.., 0);
        let n = samples.len().min(WINDOW);
        self.input[CONTEXT..CONTEXT + n].copy_from_slice(&samples[..n]);
        match self.run() {
            Ok(p) => p,
            Err(e) => {
                self.error.get_or_insert(format!("Silero VAD: {e}"));
                1.0
            }
        }
    }

    fn reset(&mut self) {
        self.input.fill(0.0);
        self.state.fill(0.0);
    }

    fn take_error(&mut self) -> Option<String> {
        self.error.take()
    }
}

/// A user's audio-to-mouth model (see the module docs for its contract).
pub struct AudioModel {
    session: Arc<SharedSession>,
    input: String,
    output: String,
    window: usize,
    buf: Vec<f32>,
    last: Mouth,
}

impl AudioModel {
    pub fn load(path: &Path, device: Device, threads: usize) -> Result<Loaded<Self>, InferError> {
        let loaded = portrait_infer::load(path, device, threads)?;
        let sig = loaded.model.signature();
        let bad = |why: &str| {
            InferError::ModelInvalid(
                path.to_path_buf(),
                format!(
                    "{why}: inputs {:?} → outputs {:?}; an audio-to-mouth model takes one float32 [1, S] input of 16 kHz samples and returns 1–3 values (open, spread, round)",
                    sig.inputs, sig.outputs
                ),
            )
        };
        let (input, shape) = match sig.inputs.as_slice() {
            [one] => one.clone(),
            _ => return Err(bad("not exactly one input")),
        };
        let window = match shape.as_slice() {
            [1, s] if *s >= 1 && *s <= 160_000 => *s as usize,
            _ => return Err(bad("input is not [1, S] with a fixed S")),
        };
        let (output, oshape) = sig
            .outputs
            .first()
            .cloned()
            .ok_or_else(|| bad("no output"))?;
        let count: i64 = oshape.iter().product();
        if oshape.iter().any(|&d| d < 0) || !(1..=3).contains(&count) {
            return Err(bad("output does not hold 1 to 3 values"));
        }
        Ok(loaded.map(|session| AudioModel {
            session,
            input,
            output,
            window,
            buf: vec![0.0; window],
            last: Mouth::default(),
        }))
    }

    fn run(&mut self, history: &History, end: u64) -> Result<Mouth, InferError> {
        history.copy_ending_at(end, &mut self.buf);
        let mut session = self.session.lock();
        let t =
            TensorRef::from_array_view(([1usize, self.window], &self.buf[..])).map_err(run_err)?;
        let out = session
            .run(portrait_infer::ort::inputs![self.input.as_str() => t])
            .map_err(run_err)?;
        let (_, v) = out[self.output.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(run_err)?;
        let g = |i: usize| {
            v.get(i)
                .copied()
                .filter(|x| x.is_finite())
                .unwrap_or(0.0)
                .clamp(0.0, 1.0)
        };
        Ok(Mouth {
            open: g(0),
            spread: g(1),
            round: g(2),
        })
    }
}

/// The last samples of the 16 kHz stream, for the neural model.
#[derive(Default)]
pub struct History {
    samples: Vec<f32>,
    /// Stream index of `samples[0]`.
    base: u64,
    keep: usize,
}

impl History {
    fn push(&mut self, s: &[f32]) {
        self.samples.extend_from_slice(s);
        let excess = self.samples.len().saturating_sub(self.keep + 16_000);
        if excess > 16_000 {
            self.samples.drain(..excess);
            self.base += excess as u64;
        }
    }

    /// Stream samples [end - out.len(), end) into `out`, zeros where not held.
    fn copy_ending_at(&self, end: u64, out: &mut [f32]) {
        let start = end as i64 - out.len() as i64;
        for (k, o) in out.iter_mut().enumerate() {
            let i = start + k as i64 - self.base as i64;
            *o = if i >= 0 {
                self.samples.get(i as usize).copied().unwrap_or(0.0)
            } else {
                0.0
            };
        }
    }

    fn reset(&mut self) {
        self.samples.clear();
        self.base = 0;
    }
}

/// Settings the engine is built from.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineParams {
    /// Smoothing (Gaussian sigma), seconds.
    pub smoothing: f64,
    /// Look-ahead, seconds.
    pub lookahead: f64,
    pub mouth: MouthParams,
}

/// Largest audio gap (ns) filled with silence; a longer jump restarts the analysis.
const MAX_GAP_NS: u64 = 10_000_000_000;
/// Timestamp jitter tolerated before a buffer counts as a discontinuity.
const JITTER_NS: u64 = 20_000_000;
const HOP_NS: u64 = 10_000_000;

/// Delay between a sound and the mouth it moves being final, for a look-ahead of
/// `lookahead` seconds: the look-ahead (in 10 ms hops), plus the analysis window's
/// second half and the VAD chunk it waits for (at most 32 ms).
pub fn latency_ns(lookahead: f64) -> u64 {
    latency_for_hops(lookahead_hops(lookahead))
}

fn latency_for_hops(ahead: usize) -> u64 {
    ahead as u64 * HOP_NS + WINDOW as u64 * 1_000_000_000 / RATE as u64
}

/// Audio in, mouth by running time out.
pub struct Engine {
    resampler: Option<Resampler>,
    analyzer: Analyzer,
    vad: Box<dyn Vad + Send>,
    mapper: MouthMapper,
    model: Option<AudioModel>,
    history: History,
    track: Track,
    /// Running time (ns) of hop 0, set by the first audio.
    origin: Option<u64>,
    /// Track hop of the analyser's hop 0 (moves on each restart).
    hop_offset: i64,
    /// Running time (ns) where the next audio sample is expected.
    expected: Option<u64>,
    /// Samples (input rate) pushed since the last restart, and that restart's time.
    since_restart: u64,
    restart_rt: u64,
    rate: u32,
    mono: Vec<f32>,
    hops: Vec<Hop>,
    /// Set by `finish`: every hop of the audio is in the track.
    finished: bool,
    /// A model run error, for the element to report once.
    error: Option<String>,
}

impl Engine {
    pub fn new(params: &EngineParams, vad: Box<dyn Vad + Send>, model: Option<AudioModel>) -> Self {
        let keep = model.as_ref().map(|m| m.window).unwrap_or(0);
        Engine {
            resampler: None,
            analyzer: Analyzer::new(),
            vad,
            mapper: MouthMapper::new(params.mouth),
            model,
            history: History {
                keep,
                ..Default::default()
            },
            track: Track::new(params.smoothing, params.lookahead),
            origin: None,
            hop_offset: 0,
            expected: None,
            since_restart: 0,
            restart_rt: 0,
            rate: 0,
            mono: Vec::new(),
            hops: Vec::new(),
            finished: false,
            error: None,
        }
    }

    /// This engine's [`latency_ns`].
    pub fn latency_ns(&self) -> u64 {
        latency_for_hops(self.track.ahead())
    }

    /// New audio format: the resampler restarts (the time line does not).
    pub fn set_format(&mut self, rate: u32, channels: usize) {
        self.resampler = Resampler::new(rate, channels);
        self.rate = rate;
        self.expected = None;
    }

    /// Forgets all audio (flush, new segment after a seek, stop).
    pub fn reset(&mut self) {
        if let Some(r) = &mut self.resampler {
            r.reset();
        }
        self.analyzer.reset();
        self.vad.reset();
        self.mapper.reset();
        self.history.reset();
        self.track.reset(0);
        self.origin = None;
        self.hop_offset = 0;
        self.expected = None;
        self.since_restart = 0;
        self.finished = false;
    }

    fn hop_of(&self, rt: u64) -> i64 {
        let o = self.origin.unwrap_or(rt);
        ((rt as i128 - o as i128) / HOP_NS as i128) as i64
    }

    /// True once any audio has arrived (since the last reset).
    pub fn has_audio(&self) -> bool {
        self.origin.is_some()
    }

    /// Running time of track hop `h`.
    pub fn hop_time(&self, h: i64) -> Option<u64> {
        let o = self.origin? as i128 + h as i128 * HOP_NS as i128;
        u64::try_from(o).ok()
    }

    /// Appends interleaved samples whose first one plays at running time `rt` (None:
    /// right after the previous buffer). A jump in time restarts the analysis and
    /// fills the gap with a closed mouth.
    pub fn push(&mut self, rt: Option<u64>, interleaved: &[f32], discont: bool) {
        if self.resampler.is_none() {
            return;
        }
        self.finished = false;
        let rt = rt.or(self.expected);
        let start = rt.unwrap_or(0);
        if self.origin.is_none() {
            self.origin = Some(start);
            self.restart_rt = start;
        }
        if let Some(exp) = self.expected {
            let jump = start.abs_diff(exp) > JITTER_NS;
            if (jump || discont) && start != exp {
                self.restart(start);
            }
        } else if self.since_restart > 0 {
            self.restart(start);
        }
        let frames = (interleaved.len() / self.channels().max(1)) as u64;
        if let Some(r) = self.resampler.as_mut() {
            self.mono.clear();
            r.process(interleaved, &mut self.mono);
        }
        self.since_restart += frames;
        self.expected =
            Some(self.restart_rt + self.since_restart * 1_000_000_000 / self.rate.max(1) as u64);
        self.feed();
    }

    fn channels(&self) -> usize {
        self.resampler.as_ref().map(|r| r.channels()).unwrap_or(1)
    }

    /// Finishes the current run of audio and starts a new one at `rt`.
    fn restart(&mut self, rt: u64) {
        self.flush_analysis();
        let h = self.hop_of(rt);
        if h >= self.track.end()
            && rt.saturating_sub(self.hop_time(self.track.end()).unwrap_or(rt)) <= MAX_GAP_NS
        {
            self.track.fill_silence(h);
        } else {
            // Backwards or a long jump: start the track afresh there.
            self.track.reset(h);
        }
        if let Some(r) = &mut self.resampler {
            r.reset();
        }
        self.analyzer.reset();
        self.vad.reset();
        self.history.reset();
        self.hop_offset = h;
        self.since_restart = 0;
        self.restart_rt = rt;
    }

    fn flush_analysis(&mut self) {
        if let Some(r) = &mut self.resampler {
            self.mono.clear();
            r.finish(&mut self.mono);
            self.feed();
        }
        self.hops.clear();
        self.analyzer.finish(self.vad.as_mut(), &mut self.hops);
        self.map_hops();
    }

    /// End of the audio: every remaining hop goes into the track.
    pub fn finish(&mut self) {
        if !self.finished {
            self.flush_analysis();
            self.finished = true;
        }
    }

    fn feed(&mut self) {
        self.hops.clear();
        if self.model.is_some() {
            self.history.push(&self.mono);
        }
        self.analyzer
            .push(&self.mono, self.vad.as_mut(), &mut self.hops);
        self.map_hops();
    }

    fn map_hops(&mut self) {
        let first = self.analyzer.next_hop() - self.hops.len() as u64;
        for (k, hop) in self.hops.iter().enumerate() {
            let n = first + k as u64;
            let mouth = match &mut self.model {
                Some(model) => {
                    if n.is_multiple_of(MODEL_STRIDE) {
                        let end = n * HOP as u64 + WINDOW as u64 / 2;
                        match model.run(&self.history, end) {
                            Ok(m) => model.last = m,
                            Err(e) => {
                                self.error.get_or_insert(format!("audio-model: {e}"));
                            }
                        }
                    }
                    model.last
                }
                None => self.mapper.map(hop),
            };
            let t = self.hop_offset + n as i64;
            if t >= self.track.end() {
                self.track.fill_silence(t);
                self.track.push(mouth);
            }
        }
    }

    /// True when the mouth at running time `rt` is final (its look-ahead has arrived)
    /// or no more audio will come.
    pub fn ready(&self, rt: u64) -> bool {
        self.finished || (self.origin.is_some() && self.track.ready(self.hop_of(rt)))
    }

    /// Running time up to which the mouth is final.
    pub fn ready_until(&self) -> Option<u64> {
        self.hop_time(self.track.end() - 1 - self.track.ahead() as i64)
    }

    /// The smoothed mouth at running time `rt` (closed before and after the audio);
    /// forgets what earlier times needed.
    pub fn mouth_at(&mut self, rt: u64) -> Mouth {
        if self.origin.is_none() {
            return Mouth::default();
        }
        let h = self.hop_of(rt);
        let m = self.track.at(h);
        self.track.forget_before(h);
        m
    }

    /// Any model/VAD run error since the last call.
    pub fn take_error(&mut self) -> Option<String> {
        self.error.take().or_else(|| self.vad.take_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_decodes_to_clamped_samples() {
        let mut out = vec![9.0; 10];
        let mut bytes: Vec<u8> = [0.5f32, -2.0, f32::NAN, f32::INFINITY]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        bytes.push(7); // a partial sample
        decode_pcm(&bytes, SampleFormat::F32, &mut out);
        assert_eq!(out, [0.5, -1.0, 0.0, 0.0]);
        let bytes: Vec<u8> = [i16::MIN, -16384, 0, 16384, i16::MAX]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        decode_pcm(&bytes[..9], SampleFormat::S16, &mut out);
        assert_eq!(out, [-1.0, -0.5, 0.0, 0.5]);
        decode_pcm(&[], SampleFormat::S16, &mut out);
        assert!(out.is_empty());
    }
    use portrait_vision::speech::EnergyVad;

    const MS: u64 = 1_000_000;

    fn engine() -> Engine {
        let p = EngineParams {
            smoothing: 0.03,
            lookahead: 0.06,
            mouth: MouthParams::default(),
        };
        let mut e = Engine::new(&p, Box::new(EnergyVad), None);
        e.set_format(48000, 2);
        e
    }

    /// `secs` of a 500 Hz tone (or silence), 48 kHz stereo.
    fn tone(secs: f64, amp: f32) -> Vec<f32> {
        (0..(48000.0 * secs) as usize)
            .flat_map(|i| {
                let v = amp * (std::f32::consts::TAU * 500.0 * i as f32 / 48000.0).sin();
                [v, v]
            })
            .collect()
    }

    #[test]
    fn latency_and_readiness_follow_the_audio() {
        let mut e = engine();
        assert_eq!(e.latency_ns(), 92 * MS);
        assert!(!e.ready(0));
        e.push(Some(1000 * MS), &tone(1.0, 0.3), false);
        // Final up to the end of the audio minus at most the reported latency (the
        // analysis part is 16–32 ms depending on where the VAD chunks fall).
        let until = e.ready_until().unwrap();
        assert!(
            ((2000 - 92) * MS..=(2000 - 60) * MS).contains(&until),
            "{until}"
        );
        assert!(e.ready(1500 * MS) && !e.ready(1950 * MS));
        assert!(e.mouth_at(1500 * MS).open > 0.2);
        e.finish();
        assert!(e.ready(1990 * MS));
    }

    #[test]
    fn a_gap_reads_as_silence_and_timing_continues() {
        let mut e = engine();
        e.push(Some(0), &tone(1.0, 0.3), false);
        // 0.5 s later than expected: a gap.
        e.push(Some(1500 * MS), &tone(1.0, 0.3), false);
        e.finish();
        assert!(e.mouth_at(500 * MS).open > 0.2);
        assert!(
            e.mouth_at(1250 * MS).open < 0.01,
            "{:?}",
            e.mouth_at(1250 * MS)
        );
        assert!(e.mouth_at(2000 * MS).open > 0.2);
        // After the end: closed.
        assert!(e.mouth_at(2700 * MS).open < 0.01);
    }

    #[test]
    fn small_jitter_is_not_a_gap_and_untimed_buffers_follow_on() {
        let mut e = engine();
        let half = tone(0.5, 0.3);
        e.push(Some(0), &half, false);
        e.push(Some(505 * MS), &half, false); // 5 ms of jitter
        e.push(None, &half, false);
        e.finish();
        for t in [250, 500, 750, 1000, 1250] {
            assert!(e.mouth_at(t * MS).open > 0.2, "{t} ms");
        }
    }

    #[test]
    fn jumping_back_restarts_and_reset_forgets() {
        let mut e = engine();
        e.push(Some(5000 * MS), &tone(1.0, 0.3), false);
        e.push(Some(1000 * MS), &tone(0.5, 0.0), false);
        e.finish();
        assert!(e.mouth_at(1200 * MS).open < 0.01);
        e.reset();
        assert!(!e.has_audio() && !e.ready(0));
    }
}
