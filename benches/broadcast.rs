// SPDX-License-Identifier: MIT

//! Live latency over RTMP on loopback (issue 10): a live 640×480 source at 25 fps (a
//! real face photo through `imagefreeze is-live=true`) → `facedetect interval=5 !
//! motionextract ! portraitanimate` (512²) → H.264 (`x264enc tune=zerolatency
//! speed-preset=veryfast`) in FLV → `rtmp2sink` to a real nginx-rtmp on 127.0.0.1 →
//! read back by `rtmp2src ! flvdemux ! h264parse ! avdec_h264`.
//!
//! Capture-to-receive latency of each frame: the wall time the decoded frame reaches
//! the reader minus the wall time it left the source. Frames are matched by their
//! timestamps: FLV carries the publisher's running time in ms, which `flvdemux` gives
//! back as the frame's timestamp (so no marker is drawn into the picture). Next to it,
//! the same line with the three elements replaced by `videoscale` to 512² (the
//! encoder, muxer, server and decoder alone): the difference is what the chain adds.
//! The two take turns, `BENCH_ROUNDS` (default 3) × `BENCH_SECONDS` (default 10 s).
//!
//! Output: JSON on stdout and in `$CARGO_TARGET_DIR/bench-broadcast.json`, a table on
//! stderr. Run it with `BENCHES=broadcast scripts/bench.sh`.

#[allow(dead_code)]
mod common;
#[path = "../tests/common/nginx.rs"]
mod nginx;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

use common::{Json, emit_json, env_usize, percentile};

struct Case {
    label: &'static str,
    middle: String,
    latencies: Vec<f64>,
    received: usize,
    captured: usize,
}

/// One run of `middle` for `seconds`: the latencies (ms) of the frames that arrived.
fn run(url: &str, middle: &str, seconds: u64) -> anyhow::Result<(Vec<f64>, usize, usize)> {
    let media = common::media_dir();
    let publisher = gst::parse::launch(&format!(
        "filesrc location=\"{}/grace_hopper.jpg\" ! decodebin ! videoconvert ! videoscale \
         ! video/x-raw,width=640,height=480,pixel-aspect-ratio=1/1 ! imagefreeze is-live=true name=src \
         ! video/x-raw,framerate=25/1 ! queue max-size-buffers=1 leaky=downstream ! {middle} \
         ! queue ! videoconvert ! video/x-raw,format=I420 \
         ! x264enc tune=zerolatency speed-preset=veryfast key-int-max=25 ! h264parse \
         ! flvmux streamable=true ! rtmp2sink location={url}",
        media.display()
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| anyhow::anyhow!("not a pipeline"))?;
    let reader = gst::parse::launch(&format!(
        "rtmp2src location={url} ! flvdemux ! h264parse ! avdec_h264 ! fakesink name=sink sync=false"
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| anyhow::anyhow!("not a pipeline"))?;
    // Running time (ms) → when the frame left the source.
    let captured: Arc<Mutex<HashMap<u64, Instant>>> = Default::default();
    let c = captured.clone();
    let src = publisher.by_name("src").unwrap();
    src.static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let rt = info.buffer().and_then(|b| {
                pad.sticky_event::<gst::event::Segment>(0).and_then(|e| {
                    e.segment()
                        .downcast_ref::<gst::ClockTime>()
                        .and_then(|s| s.to_running_time(b.pts()))
                })
            });
            if let Some(rt) = rt {
                c.lock().unwrap().insert(rt.mseconds(), Instant::now());
            }
            gst::PadProbeReturn::Ok
        });
    let arrived: Arc<Mutex<Vec<(u64, Instant)>>> = Default::default();
    let a = arrived.clone();
    reader
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(pts) = info.buffer().and_then(|b| b.pts()) {
                a.lock().unwrap().push((pts.mseconds(), Instant::now()));
            }
            gst::PadProbeReturn::Ok
        });
    reader.set_state(gst::State::Playing)?;
    publisher.set_state(gst::State::Playing)?;
    let bus = publisher.bus().unwrap();
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
    reader.set_state(gst::State::Null)?;
    let captured = captured.lock().unwrap();
    let arrived = arrived.lock().unwrap();
    // FLV rounds to ms: match within one.
    let lat: Vec<f64> = arrived
        .iter()
        .filter_map(|(ms, at)| {
            let cap = [*ms, ms.saturating_sub(1), ms + 1]
                .iter()
                .find_map(|k| captured.get(k))?;
            Some(at.duration_since(*cap).as_secs_f64() * 1e3)
        })
        .collect();
    Ok((lat, arrived.len(), captured.len()))
}

fn main() -> anyhow::Result<()> {
    common::init()?;
    let rounds = env_usize("BENCH_ROUNDS", 3)?;
    let seconds = env_usize("BENCH_SECONDS", 10)? as u64;
    let media = common::media_dir();
    let server = nginx::Nginx::start();
    let mut cases = vec![
        Case {
            label: "facedetect ! motionextract ! portraitanimate",
            middle: format!(
                "facedetect interval=5 ! motionextract ! portraitanimate source=\"{}/astronaut.png\" width=512 height=512",
                media.display()
            ),
            latencies: Vec::new(),
            received: 0,
            captured: 0,
        },
        Case {
            label: "videoscale only (transport and codec)",
            middle: "videoscale ! video/x-raw,width=512,height=512".into(),
            latencies: Vec::new(),
            received: 0,
            captured: 0,
        },
    ];
    for round in 0..rounds {
        for (i, case) in cases.iter_mut().enumerate() {
            let url = server.url(&format!("r{round}c{i}"));
            let (lat, received, captured) = run(&url, &case.middle, seconds)?;
            eprintln!(
                "bench: round {}/{rounds} {:45} {} of {} frames matched, p50 {:.0} ms",
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
        "\nRTMP on loopback, live 640x480@25, {rounds} × {seconds} s each, taking turns; capture→receive per frame"
    );
    eprintln!(
        "{:45} {:>7} {:>8} {:>8}",
        "chain", "frames", "p50 ms", "p95 ms"
    );
    let mut rows = Vec::new();
    for c in &cases {
        let (p50, p95) = (
            percentile(&c.latencies, 50.0),
            percentile(&c.latencies, 95.0),
        );
        eprintln!(
            "{:45} {:>7} {:>8.1} {:>8.1}",
            c.label,
            c.latencies.len(),
            p50,
            p95
        );
        rows.push(Json::Obj(vec![
            ("chain", Json::s(c.label)),
            ("frames", Json::Int(c.latencies.len())),
            ("received", Json::Int(c.received)),
            ("captured", Json::Int(c.captured)),
            ("p50_ms", Json::Num(p50)),
            ("p95_ms", Json::Num(p95)),
        ]));
    }
    let added = percentile(&cases[0].latencies, 50.0) - percentile(&cases[1].latencies, 50.0);
    eprintln!("added by the chain (p50 difference): {added:.1} ms");
    let doc = Json::Obj(vec![
        ("bench", Json::s("broadcast")),
        ("transport", Json::s("RTMP to nginx-rtmp on 127.0.0.1")),
        ("rounds", Json::Int(rounds)),
        ("seconds", Json::Int(seconds as usize)),
        ("cases", Json::Arr(rows)),
        ("added_p50_ms", Json::Num(added)),
    ]);
    let out = emit_json(&doc, "broadcast")?;
    eprintln!("JSON in {}", out.display());
    Ok(())
}
