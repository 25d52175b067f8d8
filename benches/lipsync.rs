// SPDX-License-Identifier: MIT

//! lipsync benchmark: 45 s of real read speech (the LibriVox clips in `$MEDIA/librivox`,
//! concatenated, repeated as needed, cut at 45.0 s, one 16 kHz mono WAV in a temporary
//! directory), one run.
//!
//! 1. Offline render, in-process (`gst::parse::launch`, elements registered statically):
//!    wall time from `set_state(PLAYING)` to EOS, next to the speech's 45 s, for
//!    - `lipsync ! fakesink` (the audio analysis and the avatar's motion alone),
//!    - `lipsync ! portraitanimate ! fakesink` (+ the render, no encoding),
//!    - the whole MP4 render `lipsync ! portraitanimate ! videoconvert ! x264enc
//!      speed-preset=P ! mp4mux` + `l.audio_src ! … ! avenc_aac ! m.` with P = medium
//!      (x264enc's default), veryfast, superfast and ultrafast, so the encoder's share
//!      shows, with and without a `queue` after portraitanimate (rendering and encoding
//!      on two threads).
//!
//!    Every case has the audio branch (`l.audio_src ! queue ! …`) and a queue on the
//!    video branch; portraitanimate runs `threads=2` (its default, 0, is one per core),
//!    512×512, `source=astronaut.png`. `BENCH_ROUNDS` (default 2) runs per case, the
//!    cases taking turns; best and median reported. Also: the time to the first frame
//!    out of the last timed element (start-up: Silero VAD, the portrait's preparation)
//!    and the steady frames/s after it.
//! 2. Live latency: an `appsrc is-live=true min-latency=10ms` pushed in real time with
//!    the same speech in 10 ms buffers (each pushed when the clock reaches its end, as a
//!    capture device would, timestamped with its running time) `! audioconvert !
//!    audioresample ! lipsync lookahead=L ! queue name=vq ! fakesink sync=true
//!    name=vs`, `l.audio_src ! queue name=aq ! fakesink sync=true`, for L = 0, 60
//!    (default), 120, and L = 60 with `queue ! portraitanimate` before `vq`. Reported:
//!    the pipeline's latency (its latency query once PLAYING, which is what it
//!    configured: upstream + lipsync + the sink's 20 ms processing-deadline), what
//!    lipsync adds (its src pad's latency query minus its upstream's), and the lateness
//!    of each frame on its way to the video sink, clock time − (base time + the
//!    buffer's running time), p50 / p95 / max, and how many arrive later than the
//!    configured latency. It is taken where the frame enters `vq`, in front of the sink:
//!    the sink's own pad sees a frame only once the sink has rendered the previous one
//!    (at its running time + the latency), a floor of latency − 40 ms (also in the JSON).
//!    `BENCH_LIVE_S` (default 45) sets the seconds of speech played.
//!
//! Output: JSON on stdout and in `$CARGO_TARGET_DIR/bench-lipsync.json`, tables on
//! stderr. Run it with `BENCHES=lipsync scripts/bench.sh`.

// Not every shared helper is used here.
#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use gst::prelude::*;

use common::{Json, Noise, env_usize, percentile};

const RATE: u32 = 16_000;
const SPEECH_S: f64 = 45.0;
const FPS: u64 = 25;
const SOURCE: &str = "astronaut.png";
const PA_THREADS: usize = 2;
/// The live source's buffer length.
const CHUNK_MS: u64 = 10;
const LOOKAHEADS: [u32; 3] = [0, 60, 120];

// ---- speech -------------------------------------------------------------------------

/// The 16-bit mono 16 kHz samples of a PCM WAV file.
fn read_wav(path: &Path) -> anyhow::Result<Vec<i16>> {
    let d = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        d.len() >= 12 && &d[..4] == b"RIFF" && &d[8..12] == b"WAVE",
        "{}: not a RIFF WAVE file",
        path.display()
    );
    let (mut pos, mut fmt_ok, mut data) = (12, false, None);
    while pos + 8 <= d.len() {
        let id = &d[pos..pos + 4];
        let len = u32::from_le_bytes(d[pos + 4..pos + 8].try_into()?) as usize;
        let body = d
            .get(pos + 8..(pos + 8 + len).min(d.len()))
            .context("bad chunk")?;
        match id {
            b"fmt " => {
                ensure!(body.len() >= 16, "{}: short fmt chunk", path.display());
                let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
                let rate = u32::from_le_bytes(body[4..8].try_into()?);
                fmt_ok = u16_at(0) == 1 && u16_at(2) == 1 && rate == RATE && u16_at(14) == 16;
                ensure!(fmt_ok, "{}: not 16-bit PCM mono {RATE} Hz", path.display());
            }
            b"data" => data = Some(body),
            _ => {}
        }
        pos += 8 + len + (len & 1);
    }
    ensure!(fmt_ok, "{}: no fmt chunk", path.display());
    let data = data.with_context(|| format!("{}: no data chunk", path.display()))?;
    Ok(data
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect())
}

fn write_wav(path: &Path, samples: &[i16]) -> anyhow::Result<()> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    common::write_file(path, &out)
}

/// The clips of `dir` (sorted by name), concatenated and repeated to `SPEECH_S`.
fn speech(dir: &Path) -> anyhow::Result<(Vec<i16>, Vec<String>, usize)> {
    let mut clips: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: run scripts/setup.sh", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    clips.sort();
    ensure!(!clips.is_empty(), "no .wav in {}", dir.display());
    let parts = clips
        .iter()
        .map(|p| read_wav(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let total: usize = parts.iter().map(Vec::len).sum();
    ensure!(total > 0, "{}: empty clips", dir.display());
    let want = (SPEECH_S * RATE as f64).round() as usize;
    let mut out = Vec::with_capacity(want);
    let mut passes = 0;
    while out.len() < want {
        passes += 1;
        for p in &parts {
            out.extend_from_slice(&p[..p.len().min(want - out.len())]);
        }
    }
    let names = clips
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    Ok((out, names, passes))
}

// ---- helpers ------------------------------------------------------------------------

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn best(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn pipeline(line: &str) -> anyhow::Result<gst::Pipeline> {
    gst::parse::launch(line)
        .with_context(|| format!("parsing {line}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("not a pipeline: {line}"))
}

fn pad_of(p: &gst::Pipeline, element: &str, pad: &str) -> anyhow::Result<gst::Pad> {
    p.by_name(element)
        .with_context(|| format!("no element {element}"))?
        .static_pad(pad)
        .with_context(|| format!("{element} has no pad {pad}"))
}

// ---- 1. offline ---------------------------------------------------------------------

#[derive(Default)]
struct Offline {
    label: String,
    line: String,
    /// (element, pad) whose buffers are the frames counted.
    probe: (&'static str, &'static str),
    output: Option<PathBuf>,
    wall: Vec<f64>,
    first: Vec<f64>,
    steady_fps: Vec<f64>,
    frames: Vec<usize>,
    out_bytes: u64,
}

struct RunTimes {
    wall: f64,
    first: f64,
    steady_fps: f64,
    frames: usize,
}

fn run_offline(case: &Offline) -> anyhow::Result<RunTimes> {
    if let Some(o) = &case.output {
        let _ = std::fs::remove_file(o);
    }
    let p = pipeline(&case.line)?;
    let times = Arc::new(Mutex::new(Vec::<Instant>::with_capacity(2000)));
    let t = Arc::clone(&times);
    pad_of(&p, case.probe.0, case.probe.1)?.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        t.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Instant::now());
        gst::PadProbeReturn::Ok
    });
    let t0 = Instant::now();
    let wall = common::run_to_end(&p, &case.label, Duration::from_secs(900), || false)?;
    let times = times.lock().unwrap_or_else(|e| e.into_inner());
    let (Some(first), Some(last)) = (times.first(), times.last()) else {
        bail!("{}: no frames", case.label);
    };
    let span = last.duration_since(*first).as_secs_f64();
    Ok(RunTimes {
        wall: wall.as_secs_f64(),
        first: first.duration_since(t0).as_secs_f64(),
        steady_fps: if span > 0.0 {
            (times.len() - 1) as f64 / span
        } else {
            f64::NAN
        },
        frames: times.len(),
    })
}

fn offline_cases(wav: &Path, source: &str, dir: &Path) -> Vec<Offline> {
    let src = format!(
        "filesrc location=\"{}\" ! wavparse ! audioconvert ! audioresample ! lipsync name=l",
        wav.display()
    );
    let big_queue = "queue max-size-time=5000000000 max-size-bytes=0 max-size-buffers=0";
    let pa = format!(
        "portraitanimate name=pa source=\"{source}\" device=cpu threads={PA_THREADS} width=512 height=512"
    );
    let mut v = vec![
        Offline {
            label: "lipsync ! fakesink".into(),
            line: format!(
                "{src} ! queue ! fakesink sync=false  l.audio_src ! {big_queue} ! fakesink sync=false"
            ),
            probe: ("l", "src"),
            ..Default::default()
        },
        Offline {
            label: "lipsync ! portraitanimate ! fakesink".into(),
            line: format!(
                "{src} ! queue ! {pa} ! fakesink sync=false  l.audio_src ! {big_queue} ! fakesink sync=false"
            ),
            probe: ("pa", "src"),
            ..Default::default()
        },
    ];
    // With "queue !" after portraitanimate, rendering and encoding run on two threads.
    for (preset, overlap) in [
        ("medium", false),
        ("medium", true),
        ("veryfast", true),
        ("superfast", false),
        ("superfast", true),
        ("ultrafast", false),
    ] {
        let q = if overlap { "queue ! " } else { "" };
        let out = dir.join(format!("avatar-{preset}-{overlap}.mp4"));
        v.push(Offline {
            label: format!("… ! {q}x264enc speed-preset={preset} ! mp4mux"),
            line: format!(
                "{src} ! queue ! {pa} ! {q}videoconvert ! x264enc speed-preset={preset} ! mp4mux name=m \
                 ! filesink location=\"{}\"  l.audio_src ! {big_queue} ! audioconvert ! avenc_aac ! m.",
                out.display()
            ),
            probe: ("pa", "src"),
            output: Some(out),
            ..Default::default()
        });
    }
    v
}

// ---- 2. live ------------------------------------------------------------------------

struct Live {
    label: String,
    lookahead: u32,
    animate: bool,
    /// Pipeline latency query once PLAYING: (live, min, max).
    pipeline_latency: Option<(bool, gst::ClockTime, Option<gst::ClockTime>)>,
    /// lipsync's src latency minus its sink peer's (upstream) min latency.
    lipsync_adds: Option<gst::ClockTime>,
    upstream: Option<gst::ClockTime>,
    video_late_ms: Vec<f64>,
    audio_late_ms: Vec<f64>,
    /// The same frames seen at the video fakesink's own pad (after the queue).
    sink_pad_late_ms: Vec<f64>,
    chunks: usize,
}

fn latency_of(
    q: impl FnOnce(&mut gst::QueryRef) -> bool,
) -> Option<(bool, gst::ClockTime, Option<gst::ClockTime>)> {
    let mut query = gst::query::Latency::new();
    q(&mut query).then(|| query.result())
}

/// Lateness (ms) of each buffer reaching `pad`: now − (base time + running time).
fn lateness_probe(pad: &gst::Pad, pipeline: gst::Element, out: Arc<Mutex<Vec<f64>>>) {
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let now = pipeline.current_running_time();
        let pts = info.buffer().and_then(|b| b.pts());
        let rt = pad.sticky_event::<gst::event::Segment>(0).and_then(|e| {
            e.segment()
                .downcast_ref::<gst::ClockTime>()
                .and_then(|s| pts.and_then(|p| s.to_running_time(p)))
        });
        if let (Some(now), Some(rt)) = (now, rt) {
            let late = now.nseconds() as f64 - rt.nseconds() as f64;
            out.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(late / 1e6);
        }
        gst::PadProbeReturn::Ok
    });
}

fn run_live(case: &mut Live, samples: Arc<Vec<i16>>, source: &str) -> anyhow::Result<()> {
    let pa = if case.animate {
        format!(
            "queue ! portraitanimate source=\"{source}\" device=cpu threads={PA_THREADS} width=512 height=512 ! "
        )
    } else {
        String::new()
    };
    let line = format!(
        "appsrc name=asrc is-live=true format=time min-latency={} \
         caps=audio/x-raw,format=S16LE,layout=interleaved,rate={RATE},channels=1 \
         ! audioconvert ! audioresample ! lipsync name=l lookahead={} \
         ! {pa}queue name=vq ! fakesink name=vs sync=true \
         l.audio_src ! queue name=aq ! fakesink name=as sync=true",
        CHUNK_MS * 1_000_000,
        case.lookahead
    );
    let p = pipeline(&line)?;
    // Measured where the frames enter the queue in front of the sink: the sink's own
    // pad sees a buffer only once the sink has rendered (waited for) the previous one.
    let vlate = Arc::new(Mutex::new(Vec::new()));
    let alate = Arc::new(Mutex::new(Vec::new()));
    let slate = Arc::new(Mutex::new(Vec::new()));
    for (name, out) in [("vq", &vlate), ("aq", &alate), ("vs", &slate)] {
        lateness_probe(
            &pad_of(&p, name, "sink")?,
            p.clone().upcast(),
            Arc::clone(out),
        );
    }
    let appsrc = p.by_name("asrc").context("no appsrc")?;
    let lipsync = p.by_name("l").context("no lipsync")?;

    p.set_state(gst::State::Playing)?;
    let clock = p.clock().context("no clock")?;
    let base = p.base_time().context("no base time")?;
    let stop = Arc::new(AtomicBool::new(false));
    let pusher = {
        let stop = Arc::clone(&stop);
        let clock = clock.clone();
        std::thread::spawn(move || -> anyhow::Result<usize> {
            let chunk = (RATE as u64 * CHUNK_MS / 1000) as usize;
            let dur = gst::ClockTime::from_mseconds(CHUNK_MS);
            // Start on a 10 ms boundary just ahead.
            let now_rt = clock.time().saturating_sub(base);
            let start = gst::ClockTime::from_nseconds(
                now_rt.nseconds().div_ceil(dur.nseconds()) * dur.nseconds(),
            );
            let mut n = 0;
            for (i, s) in samples.chunks(chunk).enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let pts = start + dur * i as u64;
                // Pushed when the clock reaches the chunk's end, as captured.
                let _ = clock.new_single_shot_id(base + pts + dur).wait();
                let bytes: Vec<u8> = s.iter().flat_map(|v| v.to_le_bytes()).collect();
                let mut buf = gst::Buffer::from_mut_slice(bytes);
                {
                    let b = buf.get_mut().context("buffer")?;
                    b.set_pts(pts);
                    b.set_duration(dur);
                    b.set_offset((i * chunk) as u64);
                    if i == 0 {
                        b.set_flags(gst::BufferFlags::DISCONT);
                    }
                }
                let r = appsrc.emit_by_name::<gst::FlowReturn>("push-buffer", &[&buf]);
                if r != gst::FlowReturn::Ok {
                    bail!("push-buffer: {r:?}");
                }
                n += 1;
            }
            let _ = appsrc.emit_by_name::<gst::FlowReturn>("end-of-stream", &[]);
            Ok(n)
        })
    };

    let bus = p.bus().context("no bus")?;
    let t0 = Instant::now();
    let mut queried = false;
    let outcome = loop {
        if t0.elapsed() > Duration::from_secs(SPEECH_S as u64 + 60) {
            break Err(anyhow!("{}: timed out", case.label));
        }
        if !queried
            && p.current_state() == gst::State::Playing
            && t0.elapsed() > Duration::from_secs(1)
        {
            queried = true;
            case.pipeline_latency = latency_of(|q| p.query(q));
            let src = latency_of(|q| lipsync.static_pad("src").is_some_and(|pd| pd.query(q)));
            let up = latency_of(|q| {
                lipsync
                    .static_pad("sink")
                    .is_some_and(|pd| pd.peer_query(q))
            });
            if let (Some(s), Some(u)) = (src, up) {
                case.lipsync_adds = Some(s.1.saturating_sub(u.1));
                case.upstream = Some(u.1);
            }
        }
        let msg = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(20),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        match msg.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => break Ok(()),
            Some(gst::MessageView::Error(e)) => {
                break Err(anyhow!("{}: {} ({:?})", case.label, e.error(), e.debug()));
            }
            _ => {}
        }
    };
    stop.store(true, Ordering::Relaxed);
    p.set_state(gst::State::Null)?;
    let pushed = pusher.join().map_err(|_| anyhow!("pusher panicked"))?;
    outcome?;
    case.chunks = pushed?;
    ensure!(queried, "{}: never reached PLAYING", case.label);
    case.video_late_ms = std::mem::take(&mut *vlate.lock().unwrap_or_else(|e| e.into_inner()));
    case.audio_late_ms = std::mem::take(&mut *alate.lock().unwrap_or_else(|e| e.into_inner()));
    case.sink_pad_late_ms = std::mem::take(&mut *slate.lock().unwrap_or_else(|e| e.into_inner()));
    ensure!(!case.video_late_ms.is_empty(), "{}: no frames", case.label);
    Ok(())
}

// ---- main ---------------------------------------------------------------------------

fn ms(t: Option<gst::ClockTime>) -> f64 {
    t.map_or(f64::NAN, |t| t.nseconds() as f64 / 1e6)
}

fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let rounds = env_usize("BENCH_ROUNDS", 2)?.max(1);
    let live_s = env_usize("BENCH_LIVE_S", SPEECH_S as usize)?.clamp(1, SPEECH_S as usize);
    common::init()?;
    let media = common::media_dir();
    let source = media.join(SOURCE);
    ensure!(
        source.is_file(),
        "{} missing: run scripts/setup.sh",
        source.display()
    );
    let source = source.to_str().context("non-UTF-8 media path")?.to_string();
    for f in ["x264enc", "mp4mux", "avenc_aac", "wavparse", "appsrc"] {
        ensure!(
            gst::ElementFactory::find(f).is_some(),
            "GStreamer element {f} missing: run scripts/setup.sh"
        );
    }

    let (samples, clips, passes) = speech(&media.join("librivox"))?;
    let dir = common::scratch_dir("lipsync-bench")?;
    let wav = dir.join("speech-45s.wav");
    write_wav(&wav, &samples)?;
    let speech_s = samples.len() as f64 / RATE as f64;
    eprintln!(
        "bench: {speech_s:.1} s of speech from {} clips ({passes} passes) in {}",
        clips.len(),
        wav.display()
    );

    let mut noise = Noise::start();

    // 1. Offline: the cases take turns, `rounds` times.
    let mut cases = offline_cases(&wav, &source, &dir);
    // Untimed warm-up (page cache, the portrait's landmark cache on disk).
    run_offline(&cases[1])?;
    for round in 0..rounds {
        for c in cases.iter_mut() {
            let r = run_offline(c)?;
            eprintln!(
                "bench: round {}/{rounds} {:<45} {:6.2} s (first frame {:.2} s, {} frames)",
                round + 1,
                c.label,
                r.wall,
                r.first,
                r.frames
            );
            c.wall.push(r.wall);
            c.first.push(r.first);
            c.steady_fps.push(r.steady_fps);
            c.frames.push(r.frames);
            if let Some(o) = &c.output {
                c.out_bytes = std::fs::metadata(o).map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    noise.phase("offline");

    // 2. Live.
    let live_samples = Arc::new(samples[..live_s * RATE as usize].to_vec());
    let mut live: Vec<Live> = LOOKAHEADS
        .iter()
        .map(|&l| (l, false))
        .chain([(60, true)])
        .map(|(lookahead, animate)| Live {
            label: if animate {
                format!("lookahead={lookahead} + portraitanimate")
            } else {
                format!("lookahead={lookahead}")
            },
            lookahead,
            animate,
            pipeline_latency: None,
            lipsync_adds: None,
            upstream: None,
            video_late_ms: vec![],
            audio_late_ms: vec![],
            sink_pad_late_ms: vec![],
            chunks: 0,
        })
        .collect();
    for c in live.iter_mut() {
        run_live(c, Arc::clone(&live_samples), &source)?;
        eprintln!(
            "bench: live {:<32} {} frames, latency {:.0} ms, lateness p50 {:.1} ms",
            c.label,
            c.video_late_ms.len(),
            ms(c.pipeline_latency.map(|l| l.1)),
            percentile(&c.video_late_ms, 50.0)
        );
    }
    noise.phase("live");
    let _ = std::fs::remove_dir_all(&dir);

    // JSON.
    let cpus = common::cpus();
    let offline_json = cases
        .iter()
        .map(|c| {
            Json::Obj(vec![
                ("label", Json::s(&c.label)),
                ("pipeline", Json::s(&c.line)),
                (
                    "wall_s",
                    Json::Arr(c.wall.iter().map(|&v| Json::Num(v)).collect()),
                ),
                ("best_s", Json::Num(best(&c.wall))),
                ("median_s", Json::Num(median(&c.wall))),
                ("rtf_best", Json::Num(best(&c.wall) / speech_s)),
                ("first_frame_s", Json::Num(median(&c.first))),
                ("steady_fps", Json::Num(median(&c.steady_fps))),
                ("frames", Json::Int(c.frames.first().copied().unwrap_or(0))),
                ("output_bytes", Json::Int(c.out_bytes as usize)),
            ])
        })
        .collect();
    let lat = |v: &[f64]| {
        Json::Obj(vec![
            ("n", Json::Int(v.len())),
            ("p50_ms", Json::Num(percentile(v, 50.0))),
            ("p95_ms", Json::Num(percentile(v, 95.0))),
            ("max_ms", Json::Num(percentile(v, 100.0))),
        ])
    };
    // Frames later than upstream + lipsync's latency (without the sink's deadline).
    let over_own = |c: &Live| {
        let lim = ms(c.upstream) + ms(c.lipsync_adds);
        c.video_late_ms.iter().filter(|&&v| v > lim).count()
    };
    let late_count = |c: &Live| {
        let lim = ms(c.pipeline_latency.map(|l| l.1));
        c.video_late_ms.iter().filter(|&&v| v > lim).count()
    };
    let live_json = live
        .iter()
        .map(|c| {
            Json::Obj(vec![
                ("label", Json::s(&c.label)),
                ("lookahead_ms", Json::Int(c.lookahead as usize)),
                (
                    "portraitanimate",
                    Json::s(if c.animate { "yes" } else { "no" }),
                ),
                (
                    "pipeline_latency_ms",
                    Json::Num(ms(c.pipeline_latency.map(|l| l.1))),
                ),
                ("upstream_latency_ms", Json::Num(ms(c.upstream))),
                ("lipsync_adds_ms", Json::Num(ms(c.lipsync_adds))),
                ("video_lateness", lat(&c.video_late_ms)),
                ("frames_later_than_latency", Json::Int(late_count(c))),
                (
                    "frames_later_than_upstream_plus_lipsync",
                    Json::Int(over_own(c)),
                ),
                ("audio_lateness", lat(&c.audio_late_ms)),
                ("video_lateness_at_sink_pad", lat(&c.sink_pad_late_ms)),
                ("chunks_pushed", Json::Int(c.chunks)),
            ])
        })
        .collect();
    let doc = Json::Obj(vec![
        ("bench", Json::s("lipsync")),
        ("cpus", Json::Int(cpus)),
        ("cpu_used_by_others_pct", noise.json()),
        (
            "speech",
            Json::Obj(vec![
                ("clips", Json::Arr(clips.iter().map(Json::s).collect())),
                ("passes", Json::Int(passes)),
                ("seconds", Json::Num(speech_s)),
                ("live_seconds", Json::Int(live_s)),
            ]),
        ),
        ("source", Json::s(&source)),
        ("rounds", Json::Int(rounds)),
        ("offline", Json::Arr(offline_json)),
        ("live", Json::Arr(live_json)),
        ("wall_s", Json::Num(started.elapsed().as_secs_f64())),
    ]);
    let out = common::emit_json(&doc, "lipsync")?;

    // Tables.
    let mut t = format!(
        "\nlipsync bench: {speech_s:.1} s of LibriVox speech ({} clips, 16 kHz mono), avatar 512x512 @ {FPS} fps, source {SOURCE}, portraitanimate threads={PA_THREADS}, {cpus} CPUs, {rounds} rounds\n\n\
         offline render (wall from PLAYING to EOS)\n",
        clips.len()
    );
    t.push_str(&format!(
        "  {:<42} {:>7} {:>7} {:>6} {:>7} {:>8} {:>8} {:>7}\n",
        "case", "best s", "med s", "clip s", "RTF", "x realtm", "1st fr s", "fps"
    ));
    for c in &cases {
        let b = best(&c.wall);
        t.push_str(&format!(
            "  {:<42} {:>7.2} {:>7.2} {:>6.1} {:>7.3} {:>8.1} {:>8.2} {:>7.1}\n",
            c.label,
            b,
            median(&c.wall),
            speech_s,
            b / speech_s,
            speech_s / b,
            median(&c.first),
            median(&c.steady_fps)
        ));
    }
    t.push_str(&format!(
        "  RTF = best wall / clip duration; 1st fr = PLAYING → first frame out of the last timed element (lipsync or portraitanimate); fps = frames/s after it ({} frames).\n\n",
        cases[0].frames.first().copied().unwrap_or(0)
    ));
    t.push_str(&format!(
        "live ({live_s} s of the speech pushed in real time, {CHUNK_MS} ms buffers, appsrc min-latency {CHUNK_MS} ms; lateness = clock − (base + running time) as a frame enters the queue in front of the video sink)\n"
    ));
    t.push_str(&format!(
        "  {:<34} {:>8} {:>8} {:>8} {:>6} {:>7} {:>7} {:>7} {:>6} {:>6} {:>10} {:>12}\n",
        "case",
        "pipe ms",
        "upstr ms",
        "lips ms",
        "frames",
        "p50 ms",
        "p95 ms",
        "max ms",
        ">lat",
        ">u+l",
        "audio p95",
        "sinkpad p50"
    ));
    for c in &live {
        t.push_str(&format!(
            "  {:<34} {:>8.1} {:>8.1} {:>8.1} {:>6} {:>7.1} {:>7.1} {:>7.1} {:>6} {:>6} {:>10.1} {:>12.1}\n",
            c.label,
            ms(c.pipeline_latency.map(|l| l.1)),
            ms(c.upstream),
            ms(c.lipsync_adds),
            c.video_late_ms.len(),
            percentile(&c.video_late_ms, 50.0),
            percentile(&c.video_late_ms, 95.0),
            percentile(&c.video_late_ms, 100.0),
            late_count(c),
            over_own(c),
            percentile(&c.audio_late_ms, 95.0),
            percentile(&c.sink_pad_late_ms, 50.0)
        ));
    }
    t.push_str(&format!(
        "  pipe = pipeline latency query once PLAYING (the configured latency); lips = lipsync src latency − its upstream's; >lat = frames later than pipe (which includes fakesink's 20 ms processing-deadline), >u+l = later than upstr + lips;\n  audio = the same at the audio sink's queue; sinkpad = video lateness at the fakesink's own pad, held back by its sync on the previous frame.\n\
         \nCPU used by other processes: {}. Wall {:.1} s; JSON in {}\n",
        noise.text(),
        started.elapsed().as_secs_f64(),
        out.display()
    ));
    eprint!("{t}");
    Ok(())
}
