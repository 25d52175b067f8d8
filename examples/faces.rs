// SPDX-License-Identifier: MIT

//! Runs `facedetect` on an image or video and prints every face of every frame, read
//! from the typed `FaceMeta` in a pad probe; optionally writes annotated PNG frames.
//!
//! cargo run --example faces -- MEDIA [--props "model=blazeface threshold=0.5"] [--png OUTDIR]

use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use gst::prelude::*;
use gst_portrait_meta::FaceMeta;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut media = None;
    let mut props = String::new();
    let mut png = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--props" => props = args.next().context("--props needs a value")?,
            "--png" => png = Some(args.next().context("--png needs a directory")?),
            _ if media.is_none() => media = Some(a),
            _ => bail!("unexpected argument {a}"),
        }
    }
    let media = media.context("usage: faces MEDIA [--props \"k=v ...\"] [--png OUTDIR]")?;

    gst::init()?;
    // Register this build's elements in-process: the names then mean ours, whatever
    // else is installed.
    gstportrait::plugin_register_static()?;

    let tail = match &png {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            format!("faceoverlay ! videoconvert ! pngenc ! multifilesink location={dir}/%05d.png")
        }
        None => "fakesink".into(),
    };
    let line = format!(
        "filesrc location=\"{media}\" ! decodebin ! videoconvert ! facedetect name=det {props} ! {tail}"
    );
    let pipeline = gst::parse::launch(&line)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow::anyhow!("not a pipeline"))?;
    let det = pipeline.by_name("det").context("no facedetect")?;
    let frame = Arc::new(Mutex::new(0u64));
    let src = det.static_pad("src").context("no src pad")?;
    src.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buf) = info.buffer() {
            let mut n = frame.lock().unwrap_or_else(|e| e.into_inner());
            for m in buf.iter_meta::<FaceMeta>() {
                println!(
                    "frame {:5} id {:3} box {:7.1} {:7.1} {:7.1} {:7.1} score {:.3} {}",
                    *n,
                    m.track_id,
                    m.x,
                    m.y,
                    m.width,
                    m.height,
                    m.score,
                    if m.detected { "detected" } else { "carried" }
                );
            }
            *n += 1;
        }
        gst::PadProbeReturn::Ok
    });

    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().context("no bus")?;
    let mut result = Ok(());
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(..) => break,
            gst::MessageView::Error(e) => {
                result = Err(anyhow::anyhow!("{} ({:?})", e.error(), e.debug()));
                break;
            }
            gst::MessageView::Warning(w) => eprintln!("warning: {}", w.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null)?;
    result
}
