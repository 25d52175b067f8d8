// SPDX-License-Identifier: MIT

//! ONNX Runtime for gst-portrait: one environment per process (the library is loaded
//! dynamically from a known path, never through `ORT_DYLIB_PATH`, which panics on a
//! bad path), and sessions cached by (model file, execution provider, threads) and
//! shared by element instances.
//!
//! Paths, in order of precedence:
//! - ONNX Runtime library: `$GST_PORTRAIT_ORT_LIBRARY`, else
//!   `<cache>/onnxruntime/libonnxruntime.so.1.31.1`
//! - built-in models: `$GST_PORTRAIT_MODEL_DIR`, else `<cache>/models`
//! - `<cache>` is `$GST_PORTRAIT_CACHE_DIR`, else `$XDG_CACHE_HOME/gst-portrait`, else
//!   `$HOME/.cache/gst-portrait`. `scripts/setup.sh` fills it.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use once_cell::sync::OnceCell;
pub use ort;
use ort::ep::{self, ExecutionProvider};
use ort::session::Session;

pub mod stages;

/// The ONNX Runtime version the project pins (PyPI `onnxruntime==1.31.1`).
pub const ORT_VERSION: &str = "1.31.1";
/// What a user runs to install the runtime and models.
pub const SETUP_HINT: &str = "run scripts/setup.sh from the gst-portrait source tree";

/// Where a session runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    /// CUDA (TensorRT first) when usable, else CPU with a warning.
    Auto,
    Cpu,
    Cuda,
    TensorRt,
}

impl Device {
    pub fn name(self) -> &'static str {
        match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
            Device::TensorRt => "tensorrt",
        }
    }
}

/// Failures a user can act on; each message names the file or setting involved.
#[derive(Debug, Clone)]
pub enum InferError {
    /// The ONNX Runtime library could not be loaded (missing, not a library, too old).
    Runtime(String),
    /// The model file does not exist.
    ModelMissing(PathBuf),
    /// ONNX Runtime rejected the model file.
    ModelInvalid(PathBuf, String),
    /// The requested device cannot be used.
    Device(String),
    /// Running the model failed.
    Run(String),
}

impl fmt::Display for InferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InferError::Runtime(m) => write!(f, "ONNX Runtime unavailable: {m}"),
            InferError::ModelMissing(p) => write!(
                f,
                "model file {} does not exist ({SETUP_HINT}, or set the model property to an existing .onnx file)",
                p.display()
            ),
            InferError::ModelInvalid(p, m) => write!(
                f,
                "model file {} is not a valid ONNX model ({m}); re-fetch it with scripts/setup.sh or point the model property at a valid file",
                p.display()
            ),
            InferError::Device(m) => f.write_str(m),
            InferError::Run(m) => write!(f, "inference failed: {m}"),
        }
    }
}

impl std::error::Error for InferError {}

/// The project's cache directory.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("GST_PORTRAIT_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("gst-portrait");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    PathBuf::from(home).join(".cache").join("gst-portrait")
}

/// Directory of the built-in models.
pub fn models_dir() -> PathBuf {
    std::env::var_os("GST_PORTRAIT_MODEL_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("models"))
}

/// Path of the ONNX Runtime shared library that will be loaded.
pub fn library_path() -> PathBuf {
    std::env::var_os("GST_PORTRAIT_ORT_LIBRARY")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            cache_dir()
                .join("onnxruntime")
                .join(format!("libonnxruntime.so.{ORT_VERSION}"))
        })
}

static ENV: OnceCell<Result<ort::environment::Environment, String>> = OnceCell::new();

/// Loads the library and creates the process-wide environment, once. Every later call
/// returns the same outcome: a failed load is not retried, because ort keeps no
/// handle on failure and any other ort call would then try `ORT_DYLIB_PATH`.
pub fn environment() -> Result<&'static ort::environment::Environment, InferError> {
    ENV.get_or_init(|| {
        let path = library_path();
        if !path.exists() {
            return Err(format!(
                "library {} not found ({SETUP_HINT}, or set GST_PORTRAIT_ORT_LIBRARY to libonnxruntime.so ≥ 1.31)",
                path.display()
            ));
        }
        let builder = ort::init_from(&path).map_err(|e| {
            format!("{e} (gst-portrait needs ONNX Runtime ≥ 1.31; {SETUP_HINT} or set GST_PORTRAIT_ORT_LIBRARY)")
        })?;
        builder
            .with_name("gst-portrait")
            .with_telemetry(false)
            .build()
            .map_err(|e| format!("creating the environment from {}: {e}", path.display()))
    })
    .as_ref()
    .map_err(|e| InferError::Runtime(e.clone()))
}

/// A session shared by element instances. `run` needs exclusive access, hence the lock.
pub struct SharedSession {
    pub session: Mutex<Session>,
    /// The execution provider actually used: "cpu", "cuda" or "tensorrt".
    pub provider: &'static str,
    pub path: PathBuf,
}

impl SharedSession {
    /// Exclusive access for a run (a poisoned lock is taken over: the session itself
    /// holds no state a panic could have left half-written). The time it is held
    /// counts as [`stages::Stage::Inference`] on a thread that times its frames.
    pub fn lock(&self) -> RunGuard<'_> {
        let span = stages::InferenceSpan::start();
        RunGuard {
            session: self.session.lock().unwrap_or_else(|e| e.into_inner()),
            _span: span,
        }
    }

    /// The model's input/output signature.
    pub fn signature(&self) -> Signature {
        Signature::of(&self.lock())
    }
}

/// A locked session; its lifetime is timed as inference.
pub struct RunGuard<'a> {
    session: std::sync::MutexGuard<'a, Session>,
    _span: stages::InferenceSpan,
}

impl std::ops::Deref for RunGuard<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.session
    }
}

impl std::ops::DerefMut for RunGuard<'_> {
    fn deref_mut(&mut self) -> &mut Session {
        &mut self.session
    }
}

impl fmt::Debug for SharedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSession")
            .field("path", &self.path)
            .field("provider", &self.provider)
            .finish()
    }
}

type CacheKey = (PathBuf, &'static str, usize, Option<std::time::SystemTime>);
static CACHE: OnceCell<Mutex<HashMap<CacheKey, Weak<SharedSession>>>> = OnceCell::new();

/// A loaded model (a session, or a model type built on one) and, when the requested
/// device could not be used and CPU was taken instead, the reason (for a warning).
#[derive(Debug)]
pub struct Loaded<T = Arc<SharedSession>> {
    pub model: T,
    pub fallback: Option<String>,
}

impl<T> Loaded<T> {
    /// The same fallback with the model turned into another (a session into the model
    /// type that wraps it).
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Loaded<U> {
        Loaded {
            model: f(self.model),
            fallback: self.fallback,
        }
    }

    /// As [`Loaded::map`], for a conversion that can fail (a signature check).
    pub fn try_map<U, E>(self, f: impl FnOnce(T) -> Result<U, E>) -> Result<Loaded<U>, E> {
        Ok(Loaded {
            model: f(self.model)?,
            fallback: self.fallback,
        })
    }
}

fn gpu_provider_status<E: ExecutionProvider>(name: &str) -> Result<(), String> {
    match E::is_available() {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "the ONNX Runtime library at {} was built without the {name} execution provider (install the onnxruntime-gpu {ORT_VERSION} library and point GST_PORTRAIT_ORT_LIBRARY at it)",
            library_path().display()
        )),
        Err(e) => Err(format!(
            "checking the {name} execution provider failed: {e}"
        )),
    }
}

/// Opens (or reuses) a session for `path` on `device` with `threads` intra-op threads
/// (0 = ONNX Runtime's default, one per core, but no more than the CPUs this process
/// may run on).
pub fn load(path: &Path, device: Device, threads: usize) -> Result<Loaded, InferError> {
    let env = environment()?;
    if !path.is_file() {
        return Err(InferError::ModelMissing(path.to_path_buf()));
    }
    // Which GPU provider to try, if any; failures are fatal only when explicitly asked.
    let mut fallback = None;
    let provider: &'static str = match device {
        Device::Cpu => "cpu",
        Device::Cuda | Device::TensorRt | Device::Auto => {
            let (name, status) = match device {
                Device::TensorRt => ("tensorrt", gpu_provider_status::<ep::TensorRT>("TensorRT")),
                _ => ("cuda", gpu_provider_status::<ep::CUDA>("CUDA")),
            };
            match status.and_then(|_| gpu_usable()) {
                Ok(()) => name,
                Err(why) if device == Device::Auto => {
                    fallback = Some(why);
                    "cpu"
                }
                Err(why) => {
                    return Err(InferError::Device(format!(
                        "device={}: {why}",
                        device.name()
                    )));
                }
            }
        }
    };
    let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let key: CacheKey = (path.to_path_buf(), provider, threads, mtime);
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = cache.get(&key).and_then(Weak::upgrade) {
        return Ok(Loaded { model: s, fallback });
    }
    let session = build_session(env, path, provider, threads)?;
    let shared = Arc::new(SharedSession {
        session: Mutex::new(session),
        provider,
        path: path.to_path_buf(),
    });
    cache.retain(|_, w| w.strong_count() > 0);
    cache.insert(key, Arc::downgrade(&shared));
    Ok(Loaded {
        model: shared,
        fallback,
    })
}

/// A GPU provider compiled in is not enough: the CUDA driver must be present too.
/// Whether this machine has an NVIDIA GPU and driver at all (`device=auto` on a
/// machine without one runs on the CPU as expected, not as a fallback worth a warning).
pub fn gpu_present() -> bool {
    gpu_usable().is_ok()
}

fn gpu_usable() -> Result<(), String> {
    let found = ["/dev/nvidiactl", "/proc/driver/nvidia/version"]
        .iter()
        .any(|p| Path::new(p).exists());
    if found {
        Ok(())
    } else {
        Err("no NVIDIA GPU/driver found on this machine".into())
    }
}

/// Intra-op threads for `threads=0`: the CPUs this process may run on, when that is
/// fewer than the machine's (a `taskset`, cgroup quota or container limit); `None`
/// leaves ONNX Runtime's default, one per core of the machine, which ignores such limits
/// and then runs threads that wait for each other: RetinaFace over WolfgangLanger at
/// 640×480 pinned to one of two cores, 8.5 s on two threads, 7.6-7.8 s on one (472
/// frames; with spinning threads, as Python's onnxruntime has them, 24.5 against 12.5
/// ms a frame).
fn default_threads() -> Option<usize> {
    let allowed = std::thread::available_parallelism().ok()?.get();
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    (allowed < cpu_list_len(&online)?).then_some(allowed)
}

/// How many CPUs a kernel CPU list such as "0-3,6,8-9" names.
fn cpu_list_len(list: &str) -> Option<usize> {
    list.trim().split(',').try_fold(0usize, |n, part| {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b) = (
            a.trim().parse::<usize>().ok()?,
            b.trim().parse::<usize>().ok()?,
        );
        Some(n + b.checked_sub(a)? + 1)
    })
}

fn build_session(
    env: &ort::environment::Environment,
    path: &Path,
    provider: &str,
    threads: usize,
) -> Result<Session, InferError> {
    let err = |e: String| InferError::ModelInvalid(path.to_path_buf(), e);
    let mut b = Session::builder(env).map_err(|e| err(e.to_string()))?;
    // No spinning: several sessions share 2 cores, and spinning pools fight each other.
    let opt = |r: ort::session::builder::BuilderResult| r.map_err(|e| err(e.to_string()));
    b = opt(b.with_intra_op_spinning(false))?;
    b = opt(b.with_inter_op_spinning(false))?;
    b = opt(b.with_inter_threads(1))?;
    let threads = match threads {
        0 => default_threads().unwrap_or(0),
        n => n,
    };
    if threads > 0 {
        b = b
            .with_intra_threads(threads)
            .map_err(|e| err(e.to_string()))?;
    }
    match provider {
        "cuda" => {
            b = b
                .with_execution_providers([ep::CUDA::default().build().error_on_failure()])
                .map_err(|e| InferError::Device(format!("registering CUDA: {e}")))?;
        }
        "tensorrt" => {
            b = b
                .with_execution_providers([
                    ep::TensorRT::default().build().error_on_failure(),
                    ep::CUDA::default().build(),
                ])
                .map_err(|e| InferError::Device(format!("registering TensorRT: {e}")))?;
        }
        _ => {}
    }
    b.commit_from_file(path).map_err(|e| err(e.to_string()))
}

/// Input/output signature of a model, for recognising its family.
#[derive(Clone, Debug, PartialEq)]
pub struct Signature {
    /// (name, shape with -1 for symbolic dims)
    pub inputs: Vec<(String, Vec<i64>)>,
    pub outputs: Vec<(String, Vec<i64>)>,
}

impl Signature {
    pub fn of(session: &Session) -> Self {
        let conv = |o: &ort::value::Outlet| {
            let shape = o
                .dtype()
                .tensor_shape()
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            (o.name().to_string(), shape)
        };
        Signature {
            inputs: session.inputs().iter().map(conv).collect(),
            outputs: session.outputs().iter().map(conv).collect(),
        }
    }

    /// "inputs [name [dims], …] → outputs [name [dims], …]", for an error that says
    /// what a model looks like next to what was expected.
    pub fn describe(&self) -> String {
        let io = |v: &[(String, Vec<i64>)]| {
            v.iter()
                .map(|(n, s)| format!("{n} {s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "inputs [{}] → outputs [{}]",
            io(&self.inputs),
            io(&self.outputs)
        )
    }

    pub fn output(&self, name: &str) -> Option<&[i64]> {
        self.outputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_environment() {
        // Only reads: other tests in this process may rely on the defaults.
        let lib = library_path();
        assert!(lib.to_string_lossy().contains("onnxruntime"));
        assert!(models_dir().is_absolute() || std::env::var_os("GST_PORTRAIT_MODEL_DIR").is_some());
    }

    #[test]
    fn cpu_lists_are_counted() {
        assert_eq!(cpu_list_len("0-1\n"), Some(2));
        assert_eq!(cpu_list_len("0"), Some(1));
        assert_eq!(cpu_list_len("0-3,6,8-9"), Some(7));
        assert_eq!(cpu_list_len("3-1"), None);
        assert_eq!(cpu_list_len("x"), None);
    }
}
