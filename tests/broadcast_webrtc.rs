// SPDX-License-Identifier: MIT

//! Broadcast over WebRTC (issue 10): the lines in `pipelines/broadcast/` stream through
//! `webrtcsink` (its built-in signalling and web servers, on 127.0.0.1 and free ports)
//! or `whipclientsink` to an independent viewer, aiortc (`scripts/webrtc_receiver.py`,
//! in the venv scripts/setup.sh makes), which the test starts and stops. The viewer
//! records what it decoded, timestamped in the sender's time through the RTCP sender
//! reports (what a browser uses for lip sync); the test then reads that recording with
//! the project's own `facedetect` and `motionextract`: frames received, the portrait's
//! face found, audio received, and the A/V offset against a reference made without
//! transport. Bounded in time; the tests take turns (real-time streams on 2 cores).

#[path = "common/broadcast.rs"]
mod broadcast;
mod common;
#[path = "common/speech.rs"]
mod speech;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_portrait_meta::FaceMeta;

use broadcast::{Received, Series, broadcast_line, record_series};

/// One stream at a time: two real-time pipelines on 2 cores would starve each other.
static TURN: Mutex<()> = Mutex::new(());

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How the sender reaches the viewer.
enum Via {
    /// `webrtcsink` with its own signalling server (and web server) on these ports.
    Signalling { port: u16, web_port: u16 },
    /// `whipclientsink` POSTing to the viewer's WHIP endpoint on this port.
    Whip { port: u16 },
}

/// The directory webrtcsink's web server serves (`$WEB`): gstwebrtc-api's page and
/// bundle, and watch.html, put there by the set-up.
fn web_dir() -> PathBuf {
    common::cache_dir().join("web/gstwebrtc-api")
}

impl Via {
    /// `file`'s line of `pipelines/broadcast/` with this way's `$NAME`s filled in.
    fn line(&self, file: &str) -> String {
        let vars: Vec<(&str, String)> = match self {
            Via::Signalling { port, web_port } => vec![
                ("SIGNALLING_PORT", port.to_string()),
                ("WEB_PORT", web_port.to_string()),
                ("WEB", web_dir().display().to_string()),
            ],
            Via::Whip { port } => vec![("WHIP_URL", format!("http://127.0.0.1:{port}/whip"))],
        };
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        broadcast_line(file, &vars)
    }
}

/// The aiortc viewer, killed if still running when dropped.
struct Viewer {
    child: Child,
    out: PathBuf,
}

impl Viewer {
    fn start(via: &Via, seconds: u64) -> Viewer {
        static N: AtomicUsize = AtomicUsize::new(0);
        let out = std::env::temp_dir().join(format!(
            "gst-portrait-webrtc-{}-{}.mkv",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let python = common::cache_dir().join("webrtc-venv/bin/python");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/webrtc_receiver.py");
        let mut cmd = Command::new(&python);
        cmd.arg(script);
        match via {
            Via::Signalling { port, .. } => cmd
                .arg("--signalling")
                .arg(format!("ws://127.0.0.1:{port}")),
            Via::Whip { port } => cmd.arg("--whip-port").arg(port.to_string()),
        };
        let child = cmd
            .arg("--out")
            .arg(&out)
            .arg("--seconds")
            .arg(seconds.to_string())
            .arg("--idle")
            .arg("3")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e} (scripts/setup.sh makes it)", python.display()));
        Viewer { child, out }
    }

    /// Waits (at most `secs`) for the viewer to finish; its JSON summary.
    fn finish(&mut self, secs: u64) -> String {
        let t = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                t.elapsed() < Duration::from_secs(secs),
                "the viewer did not finish"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut summary = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            o.read_to_string(&mut summary).unwrap();
        }
        assert!(self.child.wait().unwrap().success(), "viewer: {summary}");
        summary
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.out);
    }
}

/// Waits (at most 20 s) until something listens on 127.0.0.1:`port`.
fn wait_for_port(port: u16, what: &str) {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{what} on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET path` on 127.0.0.1:`port`: the status line and the body.
fn http_get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// What the viewer recorded, read back: frames, frames with a face, audio seconds, and
/// with `series` the mouth opening and the audio in the sender's time.
fn analyse(mkv: &Path, audio: bool, series: Option<&Arc<Mutex<Series>>>) -> Received {
    let motion = if series.is_some() {
        " ! motionextract"
    } else {
        ""
    };
    let mut line = format!(
        "filesrc location=\"{}\" ! matroskademux name=d d.video_0 ! queue ! h264parse ! avdec_h264 ! videoconvert ! facedetect{motion} ! fakesink name=vsink",
        mkv.display()
    );
    if audio {
        line += " d.audio_0 ! queue ! audioconvert ! audio/x-raw,format=F32LE,channels=1 ! fakesink name=asink";
    }
    let p = gst::parse::launch(&line)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let counts: Arc<Mutex<Received>> = Default::default();
    let c = counts.clone();
    p.by_name("vsink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(b) = info.buffer() {
                let mut c = c.lock().unwrap();
                c.video_frames += 1;
                c.with_face += usize::from(!FaceMeta::faces(b).is_empty());
            }
            gst::PadProbeReturn::Ok
        });
    if audio {
        let c = counts.clone();
        p.by_name("asink")
            .unwrap()
            .static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(d) = info.buffer().and_then(|b| b.duration()) {
                    c.lock().unwrap().audio_seconds += d.nseconds() as f64 / 1e9;
                }
                gst::PadProbeReturn::Ok
            });
    }
    if let Some(series) = series {
        record_series(&p, series);
    }
    common::play_to_eos(p.upcast_ref(), &line, 300);
    std::mem::take(&mut *counts.lock().unwrap())
}

/// What gst-plugin-webrtc 0.15.4 prints when it aborts the process: on rare runs its
/// session start fails (a stream not connected in time) and calls
/// `WhipClient::end_session` on its own tokio runtime, whose `block_on` then panics
/// across a non-unwinding boundary.
const WHIP_ABORT: &str = "Cannot start a runtime from within a runtime";

/// Runs of the WHIP line a test makes at most while each ends in [`WHIP_ABORT`]: one
/// fresh-clone run saw two in a row.
const WHIP_ATTEMPTS: usize = 4;

/// Runs `line` in a gst-launch-1.0 of its own (this process's plugin path and
/// registry), at most `secs` seconds; its output when it fails.
fn publish_in_child(line: &str, secs: u64) -> Result<(), String> {
    let log = std::env::temp_dir().join(format!("gst-portrait-whip-{}.log", std::process::id()));
    let file = std::fs::File::create(&log).unwrap();
    let mut child = Command::new("gst-launch-1.0")
        .args(common::shell_words(line))
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("gst-launch-1.0 runs");
    let t = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if t.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(format!("{s}: {out}")),
        None => Err(format!("still running after {secs} s: {out}")),
    }
}

/// Streams `file`'s line (its clip replaced by `wav`, when given) to a fresh aiortc
/// viewer; what the viewer received, and its summary. `whipclientsink` publishes from a
/// child process, and again (up to [`WHIP_ATTEMPTS`] runs) if that child hit [`WHIP_ABORT`] (in-process the abort
/// took the whole test binary down); any other failure fails the test.
fn stream(
    file: &str,
    mut via: Via,
    wav: Option<&Path>,
    audio: bool,
    series: Option<&Arc<Mutex<Series>>>,
) -> (Received, String) {
    common::init();
    for attempt in 0..WHIP_ATTEMPTS {
        let mut line = via.line(file);
        if let Some(wav) = wav {
            line = broadcast::with_speech(line, wav);
        }
        // The viewer waits for the signalling server (or is the WHIP endpoint) first.
        let mut viewer = Viewer::start(&via, 150);
        if let Via::Whip { port } = via {
            wait_for_port(port, "WHIP endpoint");
            match publish_in_child(&line, 300) {
                Ok(()) => {}
                Err(out) if attempt + 1 < WHIP_ATTEMPTS && out.contains(WHIP_ABORT) => {
                    println!(
                        "whipclientsink aborted in gst-plugin-webrtc ({WHIP_ABORT}): once more"
                    );
                    // The aborts come in runs: a pause before the next attempt.
                    std::thread::sleep(Duration::from_secs(3));
                    via = Via::Whip { port: free_port() };
                    continue;
                }
                Err(out) => panic!("streaming {file}: {out}"),
            }
            let summary = viewer.finish(60);
            return finish(&viewer, summary, audio, series);
        }
        let publisher = gst::parse::launch(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        publisher.set_state(gst::State::Playing).unwrap();
        if let Via::Signalling { web_port, .. } = via {
            // The viewer page webrtcsink serves while it streams.
            wait_for_port(web_port, "web server");
            let (status, body) = http_get(web_port, "/");
            assert!(status.contains("200"), "viewer page: {status}");
            assert!(body.contains("gstwebrtc-api-3.0.0.min.js"), "viewer page");
            let (status, body) = http_get(web_port, "/gstwebrtc-api-3.0.0.min.js");
            assert!(
                status.contains("200") && body.len() > 50_000,
                "gstwebrtc-api bundle: {status}, {} bytes",
                body.len()
            );
        }
        let ended = publisher.bus().unwrap().timed_pop_filtered(
            gst::ClockTime::from_seconds(300),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        match ended.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(..)) => {}
            // At EOS webrtcsink stops its signalling server while its own client still
            // says goodbye through it: that error (only then) ends the line.
            Some(gst::MessageView::Error(e))
                if e.debug().is_some_and(|d| d.contains("receiver is gone")) =>
            {
                println!("publisher ended with: {:?}", e.debug());
            }
            other => panic!("streaming {file}: {other:?}"),
        }
        let summary = viewer.finish(60);
        publisher.set_state(gst::State::Null).unwrap();
        return finish(&viewer, summary, audio, series);
    }
    panic!("streaming {file}: whipclientsink aborted {WHIP_ATTEMPTS} times ({WHIP_ABORT})")
}

/// The viewer's summary checked, and its recording read.
fn finish(
    viewer: &Viewer,
    summary: String,
    audio: bool,
    series: Option<&Arc<Mutex<Series>>>,
) -> (Received, String) {
    println!("viewer: {}", summary.trim());
    assert!(
        summary.contains("\"sync\": \"rtcp-sr\""),
        "every track mapped to the sender's time: {summary}"
    );
    (analyse(&viewer.out, audio, series), summary)
}

/// A driving video (WolfgangLanger, 19.7 s, played at its own pace as a camera would
/// deliver it) → facedetect → motionextract → portraitanimate → webrtcsink, whose web
/// server serves the gstwebrtc-api viewer page meanwhile.
#[test]
fn video_driven_portrait_reaches_a_webrtc_viewer() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let via = Via::Signalling {
        port: free_port(),
        web_port: free_port(),
    };
    let (r, _) = stream("webrtc-video-driven.txt", via, None, false, None);
    println!("received over WebRTC (webrtcsink): {r:?}");
    // 472 frames; the first second or two pass while the viewer negotiates.
    assert!(r.video_frames >= 350, "{r:?}");
    assert!(r.with_face as f64 >= 0.95 * r.video_frames as f64, "{r:?}");
}

/// The page a person opens: the video-driven line streams while headless Chromium
/// (Debian's, installed by the set-up) plays `watch.html` from webrtcsink's own web
/// server; its `getStats()` figures, logged to the console each second, must show the
/// 512² video decoding all along.
#[test]
fn video_driven_portrait_plays_in_chromium_from_the_served_page() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    common::init();
    let (port, web_port) = (free_port(), free_port());
    assert!(
        web_dir().join("watch.html").is_file(),
        "scripts/setup.sh puts watch.html there"
    );
    let line = Via::Signalling { port, web_port }.line("webrtc-video-driven.txt");
    let publisher = gst::parse::launch(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
    publisher.set_state(gst::State::Playing).unwrap();
    wait_for_port(web_port, "web server");
    let profile =
        std::env::temp_dir().join(format!("gst-portrait-chromium-{}", std::process::id()));
    let log = profile.with_extension("log");
    // The flags a closed network needs (no background connections, no GPU, no sandbox
    // as root); console messages go to stderr with --enable-logging.
    let mut chromium = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--autoplay-policy=no-user-gesture-required",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!(
            "http://127.0.0.1:{web_port}/watch.html?signalling={port}"
        ))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("chromium is installed (scripts/setup.sh)");
    let ended = publisher.bus().unwrap().timed_pop_filtered(
        gst::ClockTime::from_seconds(120),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    let _ = chromium.kill();
    let _ = chromium.wait();
    publisher.set_state(gst::State::Null).unwrap();
    let console = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_dir_all(&profile);
    assert!(ended.is_some(), "the line ended");
    // "watch: video framesDecoded=N size=WxH codec=…", once a second.
    let decoded: Vec<(u64, String)> = console
        .lines()
        .filter_map(|l| {
            let rest = l.split("watch: video framesDecoded=").nth(1)?;
            let (n, rest) = rest.split_once(' ')?;
            let size = rest.strip_prefix("size=")?.split(' ').next()?;
            Some((n.parse().ok()?, size.to_string()))
        })
        .collect();
    println!(
        "Chromium's framesDecoded, each second: {:?}",
        decoded.iter().map(|d| d.0).collect::<Vec<_>>()
    );
    let last = decoded.last().map_or(0, |d| d.0);
    // 472 frames at 23.98 fps; the page joins after a second or two.
    assert!(last >= 300, "frames decoded in Chromium: {last}\n{console}");
    assert!(
        decoded.windows(2).all(|w| w[1].0 >= w[0].0),
        "framesDecoded only grows"
    );
    // A second sampled before the first frame is decoded has no size yet.
    assert!(
        decoded.iter().filter(|d| d.0 > 0).all(|d| d.1 == "512x512"),
        "{decoded:?}"
    );
}

/// The talking avatar with its voice (LibriVox clip 0870, 7.1 s) → webrtcsink.
#[test]
fn talking_avatar_reaches_a_webrtc_viewer_with_its_audio() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let via = Via::Signalling {
        port: free_port(),
        web_port: free_port(),
    };
    let (r, summary) = stream("webrtc-talking-avatar.txt", via, None, true, None);
    println!("received over WebRTC (webrtcsink): {r:?}");
    assert!(summary.contains("opus"), "{summary}");
    assert!(r.video_frames >= 100, "{r:?}");
    assert!(r.with_face as f64 >= 0.95 * r.video_frames as f64, "{r:?}");
    assert!(r.audio_seconds >= 4.0, "the voice arrives: {r:?}");
}

/// The same talking avatar to a WHIP endpoint (the viewer) with whipclientsink, in
/// H.264.
#[test]
fn talking_avatar_reaches_a_whip_endpoint() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let via = Via::Whip { port: free_port() };
    let (r, summary) = stream("whip-talking-avatar.txt", via, None, true, None);
    println!("received over WebRTC (WHIP): {r:?}");
    // The line asks for H.264 (video-caps): webrtcsink's x264enc path, where the
    // webrtcsink tests get VP8.
    assert!(summary.contains("\"H264/90000\""), "{summary}");
    assert!(r.video_frames >= 100, "{r:?}");
    assert!(r.with_face as f64 >= 0.95 * r.video_frames as f64, "{r:?}");
    assert!(r.audio_seconds >= 4.0, "the voice arrives: {r:?}");
}

/// A/V sync over WebRTC: 65 s of real speech as a talking avatar through webrtcsink
/// (the viewer joins ~2 s in, so at least 60 s arrive);
/// at the viewer, the mouth opening against the audio's loudness in the first and last
/// 20 s, each within one frame (40 ms) of the reference made without transport, and
/// no drift between them.
#[test]
fn talking_avatar_keeps_audio_and_video_in_sync_over_webrtc() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    common::init();
    let wav = broadcast::long_speech(65.0);
    let reference = broadcast::reference_series(&wav);
    let received: Arc<Mutex<Series>> = Default::default();
    let via = Via::Signalling {
        port: free_port(),
        web_port: free_port(),
    };
    let (r, _) = stream(
        "webrtc-talking-avatar.txt",
        via,
        Some(&wav),
        true,
        Some(&received),
    );
    let _ = std::fs::remove_file(&wav);
    println!("received over WebRTC (webrtcsink): {r:?}");
    assert!(r.audio_seconds >= 60.0, "{r:?}");
    broadcast::assert_in_sync(&reference, &received.lock().unwrap(), "WebRTC", 60.0);
}
