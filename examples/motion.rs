// SPDX-License-Identifier: MIT

//! Runs `facedetect ! motionextract` on an image or video and prints each face's head
//! pose and expression controls per frame, read from the typed `MotionMeta`.
//!
//! cargo run --example motion -- MEDIA [--props "interval=5"] [--png OUTDIR]

use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use gst::prelude::*;
use gst_portrait_meta::MotionMeta;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut media, mut props, mut png) = (None, String::new(), None);
    // Properties for motionextract, e.g. ME_PROPS="smoothing=false".
    let me_props = std::env::var("ME_PROPS").unwrap_or_default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--props" => props = args.next().context("--props needs a value")?,
            "--png" => png = Some(args.next().context("--png needs a directory")?),
            _ if media.is_none() => media = Some(a),
            _ => bail!("unexpected argument {a}"),
        }
    }
    let media =
        media.context("usage: motion MEDIA [--props \"facedetect props\"] [--png OUTDIR]")?;
    gst::init()?;
    gstportrait::plugin_register_static()?;
    let tail = match &png {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            format!("faceoverlay ! videoconvert ! pngenc ! multifilesink location={dir}/%05d.png")
        }
        None => "fakesink".into(),
    };
    let line = format!(
        "filesrc location=\"{media}\" ! decodebin ! videoconvert ! facedetect {props} ! motionextract name=me {me_props} ! {tail}"
    );
    let pipeline = gst::parse::launch(&line)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow::anyhow!("not a pipeline"))?;
    let me = pipeline.by_name("me").context("no motionextract")?;
    let n = Arc::new(Mutex::new(0u64));
    me.static_pad("src").context("src pad")?.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buf) = info.buffer() {
            let mut n = n.lock().unwrap_or_else(|e| e.into_inner());
            for m in buf.iter_meta::<MotionMeta>() {
                let (p, e) = (&m.pose, &m.expression);
                println!(
                    "frame {:4} id {} {} pitch {:6.1} yaw {:6.1} roll {:6.1} scale {:6.2} | rel roll {:6.1} | mouth {:.2} width {:.2} blink {:.2} {:.2} brow {:+.2} eyes {:.3} {:.3}",
                    *n, m.track_id, if m.tracked { "T" } else { "D" }, p.pitch, p.yaw, p.roll, p.scale,
                    m.relative.roll, e.mouth_open, e.mouth_width, e.eye_blink_left, e.eye_blink_right,
                    e.brow_raise, e.eye_open_ratio_left, e.eye_open_ratio_right
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
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null)?;
    result
}
