// SPDX-License-Identifier: MIT

//! Staying live (issue 11): per-stage telemetry that adds up to what is measured
//! outside the elements, and a live chain far too heavy for the machine (48 faces at
//! 1280×960, 25 fps) that stays bounded in lateness, drops and counts frames, steps its
//! degradation tiers up and back down when the load is taken away. Its own test
//! binary: the live test needs the machine to itself (cargo runs test binaries one
//! after the other; the tests here take a lock).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

static SERIAL: Mutex<()> = Mutex::new(());

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Wall time each element spends per frame, from a probe on its sink pad (the frame
/// arrives) to one on its source pad (it leaves), by timestamp.
fn time_outside(el: &gst::Element) -> Arc<Mutex<Vec<f64>>> {
    let arrivals: Arc<Mutex<HashMap<u64, Instant>>> = Default::default();
    let spent: Arc<Mutex<Vec<f64>>> = Default::default();
    let a = arrivals.clone();
    el.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(pts) = info.buffer().and_then(|b| b.pts()) {
                a.lock().unwrap().insert(pts.nseconds(), Instant::now());
            }
            gst::PadProbeReturn::Ok
        });
    let s = spent.clone();
    el.static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(pts) = info.buffer().and_then(|b| b.pts())
                && let Some(t) = arrivals.lock().unwrap().remove(&pts.nseconds())
            {
                s.lock().unwrap().push(t.elapsed().as_secs_f64() * 1e3);
            }
            gst::PadProbeReturn::Ok
        });
    spent
}

#[test]
fn stats_add_up_to_the_time_measured_outside() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::init();
    let line = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! identity eos-after=60 ! facedetect name=fd stats-interval=300 ! motionextract name=me stats-interval=300 ! portraitanimate name=pa source=\"{}\" stats-interval=300 ! fakesink name=sink",
        common::media("single_face.mp4").display(),
        common::media("astronaut.png").display()
    );
    let pipeline = gst::parse::launch(&line)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let names = ["fd", "me", "pa"];
    let outside: Vec<_> = names
        .iter()
        .map(|n| time_outside(&pipeline.by_name(n).unwrap()))
        .collect();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut messages: HashMap<String, Vec<gst::Structure>> = HashMap::new();
    for msg in pipeline
        .bus()
        .unwrap()
        .iter_timed(gst::ClockTime::from_seconds(120))
    {
        match msg.view() {
            gst::MessageView::Eos(..) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            gst::MessageView::Element(m) => {
                if let (Some(s), Some(src)) = (m.structure(), m.src())
                    && s.name() == "portrait-stats"
                {
                    messages
                        .entry(src.name().to_string())
                        .or_default()
                        .push(s.to_owned());
                }
            }
            _ => {}
        }
    }
    for (name, outside) in names.iter().zip(&outside) {
        let el = pipeline.by_name(name).unwrap();
        let s = el.property::<gst::Structure>("stats");
        let f = |k: &str| {
            s.get::<f64>(k)
                .unwrap_or_else(|e| panic!("{name} {k}: {e}"))
        };
        let n = |k: &str| {
            s.get::<u64>(k)
                .unwrap_or_else(|e| panic!("{name} {k}: {e}"))
        };
        let mut outside = outside.lock().unwrap().clone();
        let frames = outside.len() as u64;
        let out_p50 = median(&mut outside);
        let total = f("total-p50-ms");
        let stages: f64 = ["pre", "inference", "post", "render"]
            .iter()
            .map(|st| f(&format!("{st}-p50-ms")))
            .sum();
        println!(
            "{name}: {frames} frames; outside p50 {out_p50:.2} ms, total p50 {total:.2} ms, stage p50s sum {stages:.2} ms (pre {:.2}, inference {:.2}, post {:.2}, render {:.2}); {} stats messages",
            f("pre-p50-ms"),
            f("inference-p50-ms"),
            f("post-p50-ms"),
            f("render-p50-ms"),
            messages.get(*name).map_or(0, Vec::len)
        );
        assert!(frames >= 50, "{name}: {frames} frames");
        assert_eq!(
            (n("frames-in"), n("frames-out")),
            (frames, frames),
            "{name}: {s}"
        );
        assert_eq!(
            n("dropped-late") + n("dropped-degraded") + n("lost-upstream"),
            0,
            "{name}: nothing dropped in a file render: {s}"
        );
        assert_eq!(s.get::<u32>("tier").unwrap(), 0);
        assert!(!s.get::<bool>("live").unwrap());
        // The element's own clock agrees with the probes around it (which also see
        // the base class's work and, for portraitanimate, the output allocation).
        assert!(
            (total - out_p50).abs() <= 0.15 * out_p50 + 0.5,
            "{name}: total p50 {total} vs outside {out_p50}"
        );
        assert!(
            (stages - total).abs() <= 0.25 * total + 1.0,
            "{name}: stages sum {stages} vs total {total}"
        );
        assert!(f("total-p95-ms") >= total && f("total-p99-ms") >= f("total-p95-ms"));
        let msgs = messages.get(*name).map_or(&[][..], Vec::as_slice);
        assert!(!msgs.is_empty(), "{name}: no portrait-stats message");
        assert!(
            msgs.iter()
                .all(|m| m.get::<String>("element").unwrap() == *name)
        );
    }
    // Where each element's time goes.
    let stats = |n: &str| {
        pipeline
            .by_name(n)
            .unwrap()
            .property::<gst::Structure>("stats")
    };
    let f = |s: &gst::Structure, k: &str| s.get::<f64>(k).unwrap();
    let (fd, me, pa) = (stats("fd"), stats("me"), stats("pa"));
    assert!(f(&fd, "inference-p50-ms") > f(&fd, "post-p50-ms"), "{fd}");
    assert!(
        f(&me, "inference-p50-ms") > 0.5 && f(&me, "pre-p50-ms") > 0.0,
        "{me}"
    );
    assert_eq!(f(&fd, "render-p50-ms") + f(&me, "render-p50-ms"), 0.0);
    assert!(
        f(&pa, "render-p50-ms") > 0.5 && f(&pa, "inference-p50-ms") == 0.0,
        "{pa}"
    );
    pipeline.set_state(gst::State::Null).unwrap();
}

/// A 1280×960 picture of 48 faces (Grace Hopper's portrait, 8×6 times at 160×160).
fn group_photo() -> std::path::PathBuf {
    let out = std::env::temp_dir().join(format!(
        "gst-portrait-live-group-{}.png",
        std::process::id()
    ));
    let m = common::media("grace_hopper.jpg");
    let mut line = String::from("compositor name=c background=black");
    for i in 0..FACES {
        line += &format!(
            " sink_{i}::xpos={} sink_{i}::ypos={}",
            (i % 8) * 160,
            (i / 8) * 160
        );
    }
    line += &format!(
        " ! video/x-raw,width=1280,height=960 ! videoconvert ! pngenc snapshot=true ! filesink location=\"{}\"",
        out.display()
    );
    for i in 0..FACES {
        line += &format!(
            " filesrc location=\"{}\" ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=160,height=160 ! imagefreeze num-buffers=1 ! c.sink_{i}",
            m.display()
        );
    }
    let p = gst::parse::launch(&line).unwrap();
    common::play_to_eos(&p, &line, 60);
    out
}

/// Faces in the heavy phase's picture.
const FACES: usize = 48;

/// The live source's frame rate. The faces must overload the chain even at its first
/// degradation tier: 24 faces once did (tier 1 took 33 ms a frame in a fresh-clone
/// run, against 40 at 25 fps), but after the AVX2 crop and warp tier 1 kept up (26-36
/// ms) and never stepped further; 48 faces take 46-62 ms a frame even at tiers 2-3.
/// The frame rate stays at 25: with no queue before the sink (its clock wait holds the
/// chain) one face did not recover at 40 or 60 fps, the pipeline latency exceeding a
/// frame, as the README says of that line.
const FPS: u32 = 25;

#[derive(Default)]
struct Seen {
    /// (seconds in, lateness ms) of each frame reaching the sink.
    arrivals: Vec<(f64, f64)>,
    /// (seconds in, element, tier) of each tier change.
    tiers: Vec<(f64, String, u32)>,
    qos_messages: usize,
}

/// The recommended live placement: a leaky queue after the source (the newest
/// frame), a queue before the sink (its clock wait does not hold the chain).
#[test]
fn an_overloaded_live_chain_stays_bounded_degrades_and_recovers() {
    overload("queue max-size-buffers=1 leaky=downstream !", "! queue");
}

/// The issue's own lines: no queue at all, and the usual plain queue after the source.
#[test]
fn without_a_queue_too() {
    overload("", "");
}

#[test]
fn with_a_plain_queue_after_the_source_too() {
    overload("queue !", "");
}

/// 15 s of [`FACES`] faces at 1280×960, live at [`FPS`] (`after_source` and `before_sink` put
/// around the chain), then one face: lateness at the sink flat and under twice the
/// chain's per-frame time plus a frame, frames dropped and counted, every element degraded to tier 2
/// or more, then back at tier 0 and 20+ fps once the load is gone.
fn overload(after_source: &str, before_sink: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::init();
    let photo = group_photo();
    let line = format!(
        "filesrc location=\"{}\" ! pngdec ! videoconvert ! imagefreeze is-live=true ! video/x-raw,framerate={FPS}/1 ! {after_source} facedetect name=fd max-faces={FACES} ! motionextract name=me ! portraitanimate name=pa source=\"{}\" {before_sink} ! fakesink name=sink sync=true",
        photo.display(),
        common::media("astronaut.png").display()
    );
    println!("{line}");
    let pipeline = gst::parse::launch(&line)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let start = Instant::now();
    let seen: Arc<Mutex<Seen>> = Default::default();
    let sink = pipeline.by_name("sink").unwrap();
    let (s, el) = (seen.clone(), sink.clone());
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let rt = info.buffer().and_then(|b| {
                pad.sticky_event::<gst::event::Segment>(0).and_then(|e| {
                    e.segment()
                        .downcast_ref::<gst::ClockTime>()
                        .and_then(|seg| seg.to_running_time(b.pts()))
                })
            });
            if let (Some(rt), Some(now)) = (rt, el.current_running_time()) {
                let late = (now.nseconds() as f64 - rt.nseconds() as f64) / 1e6;
                s.lock()
                    .unwrap()
                    .arrivals
                    .push((start.elapsed().as_secs_f64(), late));
            }
            gst::PadProbeReturn::Ok
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    const HEAVY: f64 = 15.0;
    let mut light_since = None;
    let mut heavy_stats = Vec::new();
    let mut all_back = None;
    // Room for the slowest recovery the degrader allows: 75 calm frames per tier step,
    // doubled up to 8× after recoveries the heavy phase undid, for three steps, the
    // elements one after the other. (60 s was once too short at 25 fps: a run whose
    // heavy phase flapped twice had the last element back at tier 0 after ~61 s.)
    while start.elapsed() < Duration::from_secs(100) {
        let t = start.elapsed().as_secs_f64();
        if t >= HEAVY && light_since.is_none() {
            for n in ["fd", "me", "pa"] {
                heavy_stats.push(
                    pipeline
                        .by_name(n)
                        .unwrap()
                        .property::<gst::Structure>("stats"),
                );
            }
            // Take the load away: one face instead of FACES.
            pipeline
                .by_name("fd")
                .unwrap()
                .set_property("max-faces", 1u32);
            light_since = Some(t);
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            gst::MessageView::Qos(_) => seen.lock().unwrap().qos_messages += 1,
            // As gst-launch-1.0 and every live application must.
            gst::MessageView::Latency(_) => {
                let _ = pipeline.recalculate_latency();
            }
            gst::MessageView::Element(m) => {
                if let (Some(s), Some(src)) = (m.structure(), m.src())
                    && s.name() == "portrait-degradation"
                {
                    let tier = s.get::<u32>("tier").unwrap();
                    let mut seen = seen.lock().unwrap();
                    seen.tiers.push((t, src.name().to_string(), tier));
                    println!(
                        "{t:5.1} s {}: tier {tier}: {}",
                        src.name(),
                        s.get::<String>("reason").unwrap()
                    );
                }
            }
            _ => {}
        }
        let tiers_now = |seen: &Seen| {
            ["fd", "me", "pa"].map(|n| {
                seen.tiers
                    .iter()
                    .rev()
                    .find(|(_, e, _)| e == n)
                    .map_or(0, |x| x.2)
            })
        };
        if light_since.is_some() && all_back.is_none() && tiers_now(&seen.lock().unwrap()) == [0; 3]
        {
            all_back = Some(t);
        }
        if let Some(b) = all_back
            && t > b + 3.0
        {
            break;
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let _ = std::fs::remove_file(&photo);
    let seen = seen.lock().unwrap();
    let light_since = light_since.expect("ran past the heavy phase");

    // Heavy phase: per-frame time of the chain (p50s of the three), lateness at the sink.
    let per_frame: f64 = heavy_stats
        .iter()
        .map(|s| s.get::<f64>("total-p50-ms").unwrap())
        .sum();
    let count = |keys: &[&str]| -> u64 {
        heavy_stats
            .iter()
            .map(|s| keys.iter().map(|k| s.get::<u64>(*k).unwrap()).sum::<u64>())
            .sum()
    };
    let own_drops = count(&["dropped-late", "dropped-degraded"]);
    let dropped = own_drops + count(&["lost-upstream"]);
    let late_in = |a: f64, b: f64| {
        let mut v: Vec<f64> = seen
            .arrivals
            .iter()
            .filter(|(t, _)| *t >= a && *t < b)
            .map(|x| x.1)
            .collect();
        let n = v.len();
        if n == 0 {
            return (0, f64::NAN, f64::NAN);
        }
        v.sort_by(|a, b| a.total_cmp(b));
        (n, v[n / 2], v[(n * 95).div_ceil(100).clamp(1, n) - 1])
    };
    for (a, b) in [(4.0, 6.0), (9.0, 11.0), (13.0, 15.0)] {
        let (n, p50, p95) = late_in(a, b);
        println!(
            "heavy {a}-{b} s: {n} frames at the sink, lateness p50 {p50:.0} ms p95 {p95:.0} ms (chain per frame {per_frame:.0} ms)"
        );
    }
    let (n, p50, _) = late_in(8.0, HEAVY);
    assert!(n > 0, "frames keep reaching the sink");
    // Each element lets a frame wait up to one frame duration past the latency it and
    // upstream report before dropping it: once degraded, that frame is a large part of
    // the lateness.
    const FRAME_MS: f64 = 1000.0 / FPS as f64;
    assert!(
        p50 < 2.0 * per_frame + FRAME_MS,
        "lateness p50 {p50:.0} ms vs per-frame {per_frame:.0} ms"
    );
    let (_, early, _) = late_in(4.0, 8.0);
    assert!(
        (p50 - early).abs() < per_frame,
        "flat: {early:.0} then {p50:.0} ms"
    );
    assert!(dropped > 0, "frames dropped and counted");
    // The elements' own drops are announced. With a leaky queue in front, the queue may
    // do all the dropping (frames never reach the chain late) and there is none.
    println!(
        "dropped by the elements: {own_drops}, QoS messages: {}",
        seen.qos_messages
    );
    assert!(
        own_drops == 0 || seen.qos_messages > 0,
        "drops announced with QoS messages"
    );
    for n in ["fd", "me", "pa"] {
        let top = seen
            .tiers
            .iter()
            .filter(|(t, e, _)| e == n && *t < light_since)
            .map(|x| x.2)
            .max();
        assert!(
            top >= Some(2),
            "{n} degraded under the load: {:?}",
            seen.tiers
        );
    }
    // Light phase: every element back at full quality, at the full frame rate.
    let back = all_back.unwrap_or_else(|| panic!("tiers did not recover: {:?}", seen.tiers));
    println!("recovered {:.1} s after the load went", back - light_since);
    let (n, p50, p95) = late_in(back, back + 3.0);
    println!(
        "after recovery: {:.0} fps at the sink, lateness p50 {p50:.0} ms p95 {p95:.0} ms",
        n as f64 / 3.0
    );
    assert!(n as f64 / 3.0 >= 20.0, "{n} frames in 3 s after recovering");
}
