// SPDX-License-Identifier: MIT

//! Live latency over RTMP and WebRTC on loopback (issue 10): a live 640×480 source at
//! 25 fps (a real face photo through `imagefreeze is-live=true`) → `facedetect
//! interval=5 ! motionextract ! portraitanimate` (512²) → the transport → a receiver:
//!
//! - RTMP: H.264 (`x264enc tune=zerolatency speed-preset=veryfast`) in FLV →
//!   `rtmp2sink` to a real nginx-rtmp on 127.0.0.1 → `rtmp2src ! flvdemux ! h264parse !
//!   avdec_h264`;
//! - WebRTC: `webrtcsink` (its own encoder choice, its signalling server on 127.0.0.1) →
//!   the aiortc viewer (`scripts/webrtc_receiver.py`, another process, decoding).
//!
//! Capture-to-receive latency of each frame: the wall time the decoded frame reaches
//! the receiver minus the wall time it left the source. How frames are matched: the
//! frame's running time in ms is drawn into its top row (26 cells of 16×16 luma: white,
//! black, then 24 bits) just before the encoder, and the receiver reads it back from
//! the decoded picture (both transports, so the same thing is measured; RTMP's FLV
//! timestamps would do too, WebRTC's RTP timestamps would need the RTCP mapping).
//! Next to each, the same line with the three elements replaced by `videoscale` to
//! 512² (encoder, transport and decoder alone): the difference is what the chain adds.
//! The four cases take turns, `BENCH_ROUNDS` (default 3) × `BENCH_SECONDS` (10 s).
//!
//! Output: JSON on stdout and in `$CARGO_TARGET_DIR/bench-broadcast.json`, a table on
//! stderr. Run it with `BENCHES=broadcast scripts/bench.sh`.

#[allow(dead_code)]
mod common;
#[path = "../tests/common/nginx.rs"]
mod nginx;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use gst::prelude::*;

use common::{Json, emit_json, env_usize, percentile};

/// Marker geometry, as `scripts/webrtc_receiver.py` reads it.
const CELL: usize = 16;
const BITS: usize = 24;

#[derive(Clone, Copy, PartialEq)]
enum Transport {
    Rtmp,
    WebRtc,
}

struct Case {
    transport: Transport,
    label: &'static str,
    middle: String,
    latencies: Vec<f64>,
    received: usize,
    captured: usize,
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn running_ms(pad: &gst::Pad, buffer: &gst::BufferRef) -> Option<u64> {
    pad.sticky_event::<gst::event::Segment>(0).and_then(|e| {
        e.segment()
            .downcast_ref::<gst::ClockTime>()
            .and_then(|s| s.to_running_time(buffer.pts()))
            .map(|rt| rt.mseconds())
    })
}

/// The frame width of `pad`'s negotiated caps (0 before they are set).
fn caps_width(pad: &gst::Pad) -> usize {
    pad.current_caps()
        .and_then(|c| c.structure(0).and_then(|s| s.get::<i32>("width").ok()))
        .map_or(0, |w| w.max(0) as usize)
}

/// Draws `code` into the top row of an I420 frame's luma plane.
fn draw_marker(buffer: &mut gst::BufferRef, width: usize, code: u64) {
    let stride = width.next_multiple_of(4);
    let Ok(mut map) = buffer.map_writable() else {
        return;
    };
    let luma = map.as_mut_slice();
    for i in 0..BITS + 2 {
        let white = match i {
            0 => true,
            1 => false,
            _ => (code >> (BITS - 1 - (i - 2))) & 1 == 1,
        };
        let v = if white { 235 } else { 16 };
        for y in 0..CELL {
            let row = y * stride + i * CELL;
            if let Some(cells) = luma.get_mut(row..row + CELL) {
                cells.fill(v);
            }
        }
    }
}

/// One run of `middle` over `transport` for `seconds`: the latencies (ms) of the
/// frames that arrived, how many arrived, how many were captured.
fn run(
    transport: Transport,
    server: &nginx::Nginx,
    name: &str,
    middle: &str,
    seconds: u64,
) -> anyhow::Result<(Vec<f64>, usize, usize)> {
    let media = common::media_dir();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = server.url(name);
    let tail = match transport {
        Transport::Rtmp => format!(
            "x264enc tune=zerolatency speed-preset=veryfast key-int-max=25 ! h264parse \
             ! flvmux streamable=true ! rtmp2sink location={url}"
        ),
        Transport::WebRtc => format!(
            "webrtcsink congestion-control=disabled run-signalling-server=true \
             signalling-server-host=127.0.0.1 signalling-server-port={port} \
             signaller::uri=ws://127.0.0.1:{port}"
        ),
    };
    let publisher = gst::parse::launch(&format!(
        "filesrc location=\"{}/grace_hopper.jpg\" ! decodebin ! videoconvert ! videoscale \
         ! video/x-raw,width=640,height=480,pixel-aspect-ratio=1/1 ! imagefreeze is-live=true name=src \
         ! video/x-raw,framerate=25/1 ! queue max-size-buffers=1 leaky=downstream ! {middle} \
         ! queue ! videoconvert ! video/x-raw,format=I420 ! identity name=mark ! {tail}",
        media.display()
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| anyhow!("not a pipeline"))?;
    // Running time (ms) → when the frame left the source (Unix seconds: the receiver
    // may be another process).
    let captured: Arc<Mutex<HashMap<u64, f64>>> = Default::default();
    let c = captured.clone();
    let src = publisher.by_name("src").context("src")?;
    src.static_pad("src").context("src pad")?.add_probe(
        gst::PadProbeType::BUFFER,
        move |pad, info| {
            if let Some(ms) = info.buffer().and_then(|b| running_ms(pad, b)) {
                c.lock().unwrap().insert(ms, now_s());
            }
            gst::PadProbeReturn::Ok
        },
    );
    let mark = publisher.by_name("mark").context("mark")?;
    mark.static_pad("src").context("mark pad")?.add_probe(
        gst::PadProbeType::BUFFER,
        move |pad, info| {
            let width = caps_width(pad);
            let ms = info.buffer().and_then(|b| running_ms(pad, b));
            if let (Some(ms), Some(gst::PadProbeData::Buffer(buffer))) = (ms, info.data.as_mut())
                && width >= (BITS + 2) * CELL
            {
                draw_marker(buffer.make_mut(), width, ms);
            }
            gst::PadProbeReturn::Ok
        },
    );
    // (code ms, arrival Unix seconds) as the receiver saw them.
    let arrived: Arc<Mutex<Vec<(u64, f64)>>> = Default::default();
    let markers = std::env::temp_dir().join(format!("gst-portrait-markers-{name}.tsv"));
    let mut reader = None;
    let mut viewer = None;
    match transport {
        Transport::Rtmp => {
            let r = gst::parse::launch(&format!(
                "rtmp2src location={url} ! flvdemux ! h264parse ! avdec_h264 ! videoconvert \
                 ! video/x-raw,format=I420 ! fakesink name=sink sync=false"
            ))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| anyhow!("not a pipeline"))?;
            let a = arrived.clone();
            r.by_name("sink")
                .context("sink")?
                .static_pad("sink")
                .context("sink pad")?
                .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                    let width = caps_width(pad);
                    if let Some(code) = info.buffer().and_then(|b| read_marker(b, width)) {
                        a.lock().unwrap().push((code, now_s()));
                    }
                    gst::PadProbeReturn::Ok
                });
            r.set_state(gst::State::Playing)?;
            reader = Some(r);
        }
        Transport::WebRtc => {
            let python = gstportrait::infer::cache_dir().join("webrtc-venv/bin/python");
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/webrtc_receiver.py");
            viewer = Some(
                Command::new(&python)
                    .arg(script)
                    .arg("--signalling")
                    .arg(format!("ws://127.0.0.1:{port}"))
                    .arg("--markers")
                    .arg(&markers)
                    .arg("--seconds")
                    .arg((seconds + 20).to_string())
                    .stdout(Stdio::null())
                    .spawn()
                    .with_context(|| format!("{} (scripts/setup.sh makes it)", python.display()))?,
            );
        }
    }
    publisher.set_state(gst::State::Playing)?;
    let bus = publisher.bus().context("bus")?;
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        if let Some(m) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(100),
            &[gst::MessageType::Error, gst::MessageType::Latency],
        ) {
            match m.view() {
                gst::MessageView::Error(e) => anyhow::bail!("{}: {}", middle, e.error()),
                _ => {
                    let _ = publisher.recalculate_latency();
                }
            }
        }
    }
    publisher.set_state(gst::State::Null)?;
    if let Some(r) = reader {
        r.set_state(gst::State::Null)?;
    }
    if let Some(mut v) = viewer {
        // The session ends with the publisher; the viewer then exits by itself.
        let t = Instant::now();
        while v.try_wait()?.is_none() && t.elapsed() < Duration::from_secs(15) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = v.kill();
        let _ = v.wait();
        let text = std::fs::read_to_string(&markers).unwrap_or_default();
        let _ = std::fs::remove_file(&markers);
        let mut a = arrived.lock().unwrap();
        for line in text.lines() {
            if let Some((code, at)) = line.split_once('\t')
                && let (Ok(code), Ok(at)) = (code.parse(), at.parse())
            {
                a.push((code, at));
            }
        }
    }
    let captured = captured.lock().unwrap();
    let arrived = arrived.lock().unwrap();
    let lat: Vec<f64> = arrived
        .iter()
        .filter_map(|(ms, at)| Some((at - captured.get(ms)?) * 1e3))
        .collect();
    Ok((lat, arrived.len(), captured.len()))
}

/// The code drawn by `draw_marker`, read from a decoded I420 frame (None if absent).
fn read_marker(buffer: &gst::BufferRef, width: usize) -> Option<u64> {
    if width < (BITS + 2) * CELL {
        return None;
    }
    let stride = width.next_multiple_of(4);
    let map = buffer.map_readable().ok()?;
    let luma = map.as_slice();
    let (lo, hi) = (CELL / 4, 3 * CELL / 4);
    let cell = |i: usize| -> Option<f64> {
        let mut sum = 0u32;
        for y in lo..hi {
            let row = y * stride + i * CELL;
            sum += luma
                .get(row + lo..row + hi)?
                .iter()
                .map(|&v| v as u32)
                .sum::<u32>();
        }
        Some(sum as f64 / ((hi - lo) * (hi - lo)) as f64)
    };
    let (white, black) = (cell(0)?, cell(1)?);
    if white - black < 100.0 {
        return None;
    }
    let mid = (white + black) / 2.0;
    let mut v = 0u64;
    for i in 0..BITS {
        v = (v << 1) | u64::from(cell(2 + i)? > mid);
    }
    Some(v)
}

fn main() -> anyhow::Result<()> {
    common::init()?;
    let rounds = env_usize("BENCH_ROUNDS", 3)?;
    let seconds = env_usize("BENCH_SECONDS", 10)? as u64;
    let media = common::media_dir();
    let server = nginx::Nginx::start();
    let chain = format!(
        "facedetect interval=5 ! motionextract ! portraitanimate source=\"{}/astronaut.png\" width=512 height=512",
        media.display()
    );
    // Square pixels like the portrait's: else the sender may rescale, moving the marker.
    let scale = "videoscale ! video/x-raw,width=512,height=512,pixel-aspect-ratio=1/1".to_string();
    let case = |transport, label, middle: &String| Case {
        transport,
        label,
        middle: middle.clone(),
        latencies: Vec::new(),
        received: 0,
        captured: 0,
    };
    let mut cases = vec![
        case(Transport::Rtmp, "RTMP: the chain", &chain),
        case(Transport::Rtmp, "RTMP: videoscale only", &scale),
        case(Transport::WebRtc, "WebRTC: the chain", &chain),
        case(Transport::WebRtc, "WebRTC: videoscale only", &scale),
    ];
    for round in 0..rounds {
        for (i, case) in cases.iter_mut().enumerate() {
            let (lat, received, captured) = run(
                case.transport,
                &server,
                &format!("r{round}c{i}"),
                &case.middle,
                seconds,
            )?;
            eprintln!(
                "bench: round {}/{rounds} {:26} {} of {} frames matched, p50 {:.0} ms",
                round + 1,
                case.label,
                lat.len(),
                captured,
                percentile(&lat, 50.0)
            );
            // The first second settles (latency messages, the first key frame).
            case.latencies.extend(lat.iter().skip(25));
            case.received += received;
            case.captured += captured;
        }
    }
    eprintln!(
        "\nloopback, live 640x480@25 → 512², {rounds} × {seconds} s each, taking turns; capture→receive per frame (marker drawn in the frame)"
    );
    eprintln!(
        "{:26} {:>7} {:>8} {:>8}",
        "case", "frames", "p50 ms", "p95 ms"
    );
    let mut rows = Vec::new();
    for c in &cases {
        let (p50, p95) = (
            percentile(&c.latencies, 50.0),
            percentile(&c.latencies, 95.0),
        );
        eprintln!(
            "{:26} {:>7} {:>8.1} {:>8.1}",
            c.label,
            c.latencies.len(),
            p50,
            p95
        );
        rows.push(Json::Obj(vec![
            ("case", Json::s(c.label)),
            ("frames", Json::Int(c.latencies.len())),
            ("received", Json::Int(c.received)),
            ("captured", Json::Int(c.captured)),
            ("p50_ms", Json::Num(p50)),
            ("p95_ms", Json::Num(p95)),
        ]));
    }
    let added = |a: usize, b: usize| {
        percentile(&cases[a].latencies, 50.0) - percentile(&cases[b].latencies, 50.0)
    };
    let (rtmp_added, webrtc_added) = (added(0, 1), added(2, 3));
    eprintln!(
        "added by the chain (p50 difference): RTMP {rtmp_added:.1} ms, WebRTC {webrtc_added:.1} ms"
    );
    let doc = Json::Obj(vec![
        ("bench", Json::s("broadcast")),
        (
            "transports",
            Json::s("RTMP to nginx-rtmp; WebRTC webrtcsink to aiortc; all on 127.0.0.1"),
        ),
        ("rounds", Json::Int(rounds)),
        ("seconds", Json::Int(seconds as usize)),
        ("cases", Json::Arr(rows)),
        ("rtmp_added_p50_ms", Json::Num(rtmp_added)),
        ("webrtc_added_p50_ms", Json::Num(webrtc_added)),
    ]);
    let out = emit_json(&doc, "broadcast")?;
    eprintln!("JSON in {}", out.display());
    Ok(())
}
