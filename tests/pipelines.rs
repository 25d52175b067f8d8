// SPDX-License-Identifier: MIT

//! Every launch line in pipelines/ runs to EOS with the real media and writes output.

mod common;

use std::path::Path;

#[test]
fn every_documented_pipeline_runs() {
    common::init();
    let media = common::cache_dir().join("media");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let out = std::env::temp_dir().join(format!("gst-portrait-pipelines-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let mut n = 0;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for p in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
    {
        let line = std::fs::read_to_string(p).unwrap();
        let line = line
            .trim()
            .replace("$MEDIA", media.to_str().unwrap())
            .replace("$OUT", out.to_str().unwrap());
        let target = line
            .rsplit("location=")
            .next()
            .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
            .unwrap();
        let (code, text) = common::gst_launch(&format!("-e {line}"), &[]);
        assert_eq!(code, 0, "{}: {text}", p.display());
        let size = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "{}: {target} is {size} bytes", p.display());
        n += 1;
    }
    assert!(n >= 4, "only {n} pipelines found");
}
