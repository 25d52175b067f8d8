// SPDX-License-Identifier: MIT

//! Runs a launch line and prints a one-line live summary each second: for the sink
//! named `sink` (when there is one) the frames that reached it and how late they were
//! (clock − running time on arrival, p50/p95), and for each gst-portrait video element
//! its frames in/out, drops, degradation tier and per-frame time (from its
//! `portrait-stats` messages).
//!
//! ```shell
//! source scripts/env.sh   # the models and runtime
//! cargo run --release --example livestats -- --seconds 60 --set 30:fd.max-faces=1 \
//!     'v4l2src ! queue max-size-buffers=1 leaky=downstream ! videoconvert ! facedetect name=fd \
//!      ! motionextract ! portraitanimate source=face.png ! queue ! fakesink name=sink sync=true'
//! ```
//!
//! `--set T:ELEMENT.PROPERTY=VALUE` changes a property T seconds in (e.g. to take a load
//! away); `--json FILE` writes each second's figures as JSON lines.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

const ELEMENTS: [&str; 4] = [
    "facedetect",
    "portraitfacedetect",
    "motionextract",
    "portraitanimate",
];

struct Args {
    seconds: u64,
    sets: Vec<(u64, String, String, String)>,
    json: Option<String>,
    line: String,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        seconds: 0,
        sets: Vec::new(),
        json: None,
        line: String::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--seconds" => {
                a.seconds = value("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?
            }
            "--set" => {
                let v = value("--set")?;
                let (t, rest) = v.split_once(':').ok_or("--set T:ELEMENT.PROPERTY=VALUE")?;
                let (target, val) = rest
                    .split_once('=')
                    .ok_or("--set T:ELEMENT.PROPERTY=VALUE")?;
                let (el, prop) = target
                    .split_once('.')
                    .ok_or("--set T:ELEMENT.PROPERTY=VALUE")?;
                let t = t.parse().map_err(|e| format!("--set time: {e}"))?;
                a.sets.push((t, el.into(), prop.into(), val.into()));
            }
            "--json" => a.json = Some(value("--json")?),
            _ if a.line.is_empty() => a.line = arg,
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    if a.line.is_empty() {
        return Err("usage: livestats [--seconds N] [--set T:ELEMENT.PROPERTY=VALUE] [--json FILE] 'launch line'".into());
    }
    Ok(a)
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("livestats: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args) {
        eprintln!("livestats: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    gst::init().map_err(|e| e.to_string())?;
    // This build's elements, whatever plugin the registry holds.
    gstportrait::plugin_register_static().map_err(|e| e.to_string())?;
    let pipeline = gst::parse::launch(&args.line)
        .map_err(|e| format!("bad launch line: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "the launch line is not a pipeline")?;
    let ours: Vec<gst::Element> = pipeline
        .iterate_recurse()
        .into_iter()
        .flatten()
        .filter(|e| {
            e.factory()
                .is_some_and(|f| ELEMENTS.contains(&f.name().as_str()))
        })
        .collect();
    for e in &ours {
        e.set_property("stats-interval", 1000u32);
    }
    // Lateness of each frame reaching the sink, in ms.
    let arrivals: Arc<Mutex<Vec<f64>>> = Default::default();
    if let Some(sink) = pipeline.by_name("sink") {
        let a = arrivals.clone();
        let s = sink.clone();
        if let Some(pad) = sink.static_pad("sink") {
            pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                let Some(buf) = info.buffer() else {
                    return gst::PadProbeReturn::Ok;
                };
                let rt = pad.sticky_event::<gst::event::Segment>(0).and_then(|ev| {
                    ev.segment()
                        .downcast_ref::<gst::ClockTime>()
                        .and_then(|seg| seg.to_running_time(buf.pts()))
                });
                if let (Some(rt), Some(now)) = (rt, s.current_running_time()) {
                    let late = now.nseconds() as f64 - rt.nseconds() as f64;
                    a.lock().unwrap_or_else(|e| e.into_inner()).push(late / 1e6);
                }
                gst::PadProbeReturn::Ok
            });
        }
    }
    let mut json = match &args.json {
        Some(p) => Some(std::fs::File::create(p).map_err(|e| format!("{p}: {e}"))?),
        None => None,
    };
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot play: {e}"))?;
    let bus = pipeline.bus().ok_or("no bus")?;
    let start = Instant::now();
    let mut next = 1u64;
    let mut stats: Vec<(String, gst::Structure)> = Vec::new();
    let mut sets = args.sets.clone();
    let mut result = Ok(());
    'run: loop {
        while let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(50)) {
            match msg.view() {
                gst::MessageView::Eos(_) => break 'run,
                gst::MessageView::Error(e) => {
                    result = Err(format!("{} ({:?})", e.error(), e.debug()));
                    break 'run;
                }
                gst::MessageView::Warning(w) => eprintln!("\nwarning: {}", w.error()),
                // Elements report a changed latency; the application applies it (as
                // gst-launch-1.0 does).
                gst::MessageView::Latency(_) => {
                    let _ = pipeline.recalculate_latency();
                }
                gst::MessageView::Element(m) => {
                    let (Some(s), Some(src)) = (m.structure(), m.src()) else {
                        continue;
                    };
                    match s.name().as_str() {
                        "portrait-stats" => {
                            let name = src.name().to_string();
                            stats.retain(|(n, _)| *n != name);
                            stats.push((name, s.to_owned()));
                        }
                        "portrait-degradation" => eprintln!(
                            "\n{}: tier {} → {}: {}",
                            src.name(),
                            s.get::<u32>("previous").unwrap_or(0),
                            s.get::<u32>("tier").unwrap_or(0),
                            s.get::<String>("reason").unwrap_or_default()
                        ),
                        _ => {}
                    }
                }
                _ => {}
            }
            if start.elapsed() >= Duration::from_secs(next) {
                break;
            }
        }
        let t = start.elapsed().as_secs();
        sets.retain(|(at, el, prop, val)| {
            if *at > t {
                return true;
            }
            match pipeline.by_name(el) {
                Some(e) => {
                    e.set_property_from_str(prop, val);
                    eprintln!("\n{t} s: {el}.{prop}={val}");
                }
                None => eprintln!("\n--set: no element named {el}"),
            }
            false
        });
        if start.elapsed() < Duration::from_secs(next) {
            continue;
        }
        next += 1;
        let mut lat = std::mem::take(&mut *arrivals.lock().unwrap_or_else(|e| e.into_inner()));
        let n = lat.len();
        let (p50, p95) = (quantile(&mut lat, 0.5), quantile(&mut lat, 0.95));
        let mut q = gst::query::Latency::new();
        let latency = if pipeline.query(&mut q) {
            q.result().1.mseconds() as f64
        } else {
            f64::NAN
        };
        let mut line = format!(
            "{t:>4} s  sink {n:>3} fps, late p50 {p50:>6.0} p95 {p95:>6.0} ms, latency {latency:.0} ms"
        );
        let mut j = format!(
            "{{\"t\":{t},\"latency_ms\":{},\"sink_frames\":{n},\"late_p50_ms\":{},\"late_p95_ms\":{}",
            json_number(latency, 0),
            json_number(p50, 1),
            json_number(p95, 1)
        );
        for (name, s) in &stats {
            let g = |f: &str| s.get::<u64>(f).unwrap_or(0);
            let ms = |f: &str| s.get::<f64>(f).unwrap_or(f64::NAN);
            line += &format!(
                " | {name} {}→{} late {} skip {} tier {} {:.0}/{:.0} ms age {:.0} lat {:.0}",
                g("frames-in"),
                g("frames-out"),
                g("dropped-late"),
                g("dropped-degraded"),
                s.get::<u32>("tier").unwrap_or(0),
                ms("total-p50-ms"),
                ms("total-p95-ms"),
                ms("lateness-p50-ms"),
                ms("latency-ms"),
            );
            j += &format!(
                ",\"{name}\":{{\"in\":{},\"out\":{},\"dropped_late\":{},\"dropped_degraded\":{},\"tier\":{},\"total_p50_ms\":{},\"total_p95_ms\":{},\"latency_ms\":{}}}",
                g("frames-in"),
                g("frames-out"),
                g("dropped-late"),
                g("dropped-degraded"),
                s.get::<u32>("tier").unwrap_or(0),
                json_number(ms("total-p50-ms"), 2),
                json_number(ms("total-p95-ms"), 2),
                json_number(ms("latency-ms"), 1),
            );
        }
        j.push('}');
        eprint!("\r{line}");
        // Interactive (no --seconds): the one line keeps updating in place.
        if args.seconds > 0 {
            eprintln!();
        }
        if let Some(f) = json.as_mut() {
            let _ = writeln!(f, "{j}");
        }
        if args.seconds > 0 && t >= args.seconds {
            break;
        }
    }
    eprintln!();
    let _ = pipeline.set_state(gst::State::Null);
    result
}

/// `v` with `decimals` digits, or `null` where JSON has no number for it (a percentile
/// of no samples yet is NaN).
fn json_number(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "null".into()
    }
}
