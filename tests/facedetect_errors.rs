// SPDX-License-Identifier: MIT

//! Bad input: each failure is a clear element error at start (device=auto: a warning
//! and CPU), no panic, and the pipeline stops cleanly.

mod common;

use common::{gst_launch, media, onnx, run};

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("gst-portrait-errors-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs facedetect with `props` on a short test pattern and returns the error text.
fn start_error(props: &str) -> String {
    let r = run(&format!(
        "videotestsrc num-buffers=3 ! facedetect {props} ! fakesink name=sink"
    ));
    assert!(r.frames.is_empty(), "no buffer may pass a failed start");
    r.error
        .unwrap_or_else(|| panic!("{props}: expected an error"))
}

#[test]
fn missing_model_file() {
    let e = start_error("model=/nonexistent/dir/face.onnx");
    assert!(
        e.contains("/nonexistent/dir/face.onnx") && e.contains("does not exist"),
        "{e}"
    );
}

#[test]
fn corrupt_model_file() {
    let d = tmpdir("corrupt");
    let p = d.join("corrupt.onnx");
    // A real model, truncated: what an interrupted download leaves.
    let bytes = std::fs::read(common::cache_dir().join("models/retinaface-mnet025.onnx")).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 3]).unwrap();
    let e = start_error(&format!("model={}", p.display()));
    assert!(
        e.contains("not a valid ONNX model") && e.contains("corrupt.onnx"),
        "{e}"
    );
    // The user's file is left as it was.
    assert_eq!(std::fs::read(&p).unwrap().len(), bytes.len() / 3);
}

#[test]
fn unknown_model_family() {
    let d = tmpdir("family");
    let p = d.join("classifier.onnx");
    onnx::write(
        &p,
        &onnx::identity_model(("x", &[1, 3, 224, 224]), &[("y", &[1, 3, 224, 224])]),
    );
    let e = start_error(&format!("model={}", p.display()));
    assert!(
        e.contains("no supported face-detector family") && e.contains("x [1, 3, 224, 224]"),
        "{e}"
    );
}

#[test]
fn device_cuda_without_gpu_is_an_error() {
    let e = start_error("device=cuda");
    assert!(e.contains("device=cuda"), "{e}");
    let e = start_error("device=tensorrt");
    assert!(e.contains("device=tensorrt"), "{e}");
}

/// `device=auto` runs on the CPU quietly where there is no GPU at all, and warns
/// where a GPU is present but unusable (here: the CPU-only ONNX Runtime library).
#[test]
fn device_auto_on_cpu_warns_only_when_a_gpu_is_there() {
    let r = run(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! facedetect device=auto ! fakesink name=sink",
        media("astronaut.png").display()
    ));
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.frames[0].len(), 1);
    let warned = r
        .warnings
        .iter()
        .any(|w| w.contains("device=auto is running on CPU"));
    assert_eq!(
        warned,
        gstportrait::infer::gpu_present(),
        "GPU present: {}; warnings: {:?}",
        gstportrait::infer::gpu_present(),
        r.warnings
    );
}

/// The ONNX Runtime library is loaded once per process, so its failures are tested
/// in gst-launch-1.0 processes, the way a user meets them.
fn launch_with_library(lib: &str) -> (i32, String) {
    gst_launch(
        "videotestsrc num-buffers=3 ! facedetect device=cpu ! fakesink",
        &[("GST_PORTRAIT_ORT_LIBRARY", lib)],
    )
}

fn assert_clean_failure(code: i32, out: &str, wants: &[&str]) {
    // gst-launch-1.0 exits with 255 on a failed preroll; a signal (crash) gives no code.
    assert!(
        code > 0 && code != 101,
        "gst-launch must fail normally (not crash): {code} {out}"
    );
    assert!(!out.contains("panicked"), "{out}");
    for w in wants {
        assert!(out.contains(w), "missing {w:?} in: {out}");
    }
}

#[test]
fn onnx_runtime_library_missing() {
    let (code, out) = launch_with_library("/nonexistent/libonnxruntime.so.1.31.1");
    assert_clean_failure(
        code,
        &out,
        &[
            "ONNX Runtime unavailable",
            "/nonexistent/libonnxruntime.so.1.31.1",
            "not found",
        ],
    );
}

#[test]
fn onnx_runtime_library_not_a_library() {
    let d = tmpdir("notlib");
    let p = d.join("libonnxruntime.so");
    std::fs::write(&p, b"this is not an ELF file").unwrap();
    let (code, out) = launch_with_library(p.to_str().unwrap());
    assert_clean_failure(code, &out, &["ONNX Runtime unavailable", "failed to load"]);
}

#[test]
fn onnx_runtime_library_too_old() {
    // The real ONNX Runtime 1.20.1 library from its PyPI wheel (scripts/setup.sh).
    let old = common::testdata("libonnxruntime.so.1.20.1");
    let (code, out) = launch_with_library(old.to_str().unwrap());
    assert_clean_failure(
        code,
        &out,
        &["ONNX Runtime unavailable", "1.20.1", "≥ 1.31"],
    );
}

#[test]
fn gst_launch_reports_a_missing_model_and_exits() {
    let (code, out) = gst_launch(
        "videotestsrc num-buffers=3 ! facedetect model=/nope.onnx ! fakesink",
        &[],
    );
    assert_clean_failure(
        code,
        &out,
        &["/nope.onnx does not exist", "scripts/setup.sh"],
    );
}

#[test]
fn gst_launch_uses_our_element_for_both_names() {
    for name in ["facedetect", "portraitfacedetect"] {
        let (code, out) = gst_launch(
            &format!(
                "videotestsrc num-buffers=2 ! {name} device=cpu post-messages=true ! fakesink"
            ),
            &[],
        );
        assert_eq!(code, 0, "{name}: {out}");
    }
}

/// A RetinaFace-signature fixture for 64×64 frames (168 priors): no face anywhere,
/// and a run error on demand, when the frame's mean is over 0.8 of the input range's
/// top (a white frame): it reshapes its input to [7, −1] (3·64² is not a multiple of 7).
fn faulty_detector_fixture() -> Vec<u8> {
    let n = 168;
    let mut nodes = vec![
        onnx::constant("loc0", &[1, n, 4], &vec![0.0; n as usize * 4]),
        onnx::constant("conf0", &[1, n, 2], &[1.0, 0.0].repeat(n as usize)),
        onnx::constant("lm0", &[1, n, 10], &vec![0.0; n as usize * 10]),
    ];
    nodes.extend(onnx::fail_when_mean_over(
        "input", 100.0, "input", "f_", "nothing",
    ));
    nodes.extend([
        onnx::node_with("Add", &["loc0", "nothing"], &["loc"], &[]),
        onnx::node_with("Add", &["conf0", "nothing"], &["conf"], &[]),
        onnx::node_with("Add", &["lm0", "nothing"], &["landmarks"], &[]),
    ]);
    onnx::graph_model(
        &[("input", &[1, 3, 64, 64])],
        &nodes,
        &[
            ("loc", &[1, n, 4]),
            ("conf", &[1, n, 2]),
            ("landmarks", &[1, n, 10]),
        ],
    )
}

/// A detector whose runs fail on demand: with the default fallback=skip the frames
/// pass on without faces and the stream stays up (a warning per fault, an info message
/// when runs work again); fallback=error stops with a stream error.
#[test]
fn a_failing_detector_skips_faces_and_recovers() {
    let model = tmpdir("faulty-detector").join("faulty.onnx");
    onnx::write(&model, &faulty_detector_fixture());
    // Grey, white (failing), then grey again after the 1 s back-off.
    let line = |fallback: &str| {
        format!(
            "videotestsrc pattern=solid-color foreground-color=0xff808080 num-buffers=5 ! video/x-raw,format=RGB,width=64,height=64,framerate=5/1 ! identity sleep-time=400000 ! facedetect name=fd model=\"{}\" fallback={fallback} ! fakesink name=sink",
            model.display()
        )
    };
    // The second of the grey frames is made white from a probe; frames come every
    // 0.4 s, so the fifth comes after the 1 s back-off.
    let run_with_white = |fallback: &str| {
        common::init();
        use gst::prelude::*;
        let p = gst::parse::launch(&line(fallback))
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
        let fd = p.by_name("fd").unwrap();
        let n = std::sync::atomic::AtomicUsize::new(0);
        fd.static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if (1..=1).contains(&i)
                    && let Some(gst::PadProbeData::Buffer(b)) = info.data.as_mut()
                {
                    let b = b.make_mut();
                    b.map_writable().unwrap().as_mut_slice().fill(255);
                }
                gst::PadProbeReturn::Ok
            });
        let (mut warnings, mut infos, mut error) = (vec![], vec![], None);
        let sink = p.by_name("sink").unwrap();
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = count.clone();
        sink.static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                gst::PadProbeReturn::Ok
            });
        p.set_state(gst::State::Playing).unwrap();
        for msg in p
            .bus()
            .unwrap()
            .iter_timed(gst::ClockTime::from_seconds(30))
        {
            match msg.view() {
                gst::MessageView::Eos(..) => break,
                gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
                gst::MessageView::Info(i) => infos.push(i.error().to_string()),
                gst::MessageView::Error(e) => {
                    error = Some(e.error().to_string());
                    break;
                }
                _ => {}
            }
        }
        p.set_state(gst::State::Null).unwrap();
        let frames = count.load(std::sync::atomic::Ordering::SeqCst);
        (warnings, infos, error, frames)
    };
    let (warnings, infos, error, frames) = run_with_white("skip");
    assert!(error.is_none(), "{error:?}");
    assert_eq!(frames, 5, "every frame passed on");
    assert!(
        warnings.len() == 1
            && warnings[0].contains("frames pass on without faces and retrying in 1000 ms"),
        "{warnings:?}"
    );
    assert!(
        infos
            .iter()
            .any(|m| m.contains("facedetect: detection recovered")),
        "{infos:?}"
    );
    let (_, _, error, _) = run_with_white("error");
    assert!(
        error.is_some_and(|e| e.contains("facedetect")),
        "a stream error"
    );
}
