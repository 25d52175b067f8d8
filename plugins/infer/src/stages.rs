// SPDX-License-Identifier: MIT

//! Per-frame stage timing on the calling thread: an element starts a frame with
//! [`begin`], library code marks where pre-processing starts ([`enter`]), every model
//! run counts as inference (the session lock does it, see
//! [`crate::SharedSession::lock`]), and [`finish`] returns the time spent in each
//! stage. Cheap (two clock reads per switch, no allocation) and a no-op on threads
//! that did not call [`begin`], so tests and benchmarks pay nothing.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// Where a frame's time goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Crops, scaling, tensor filling.
    Pre = 0,
    /// Model runs (including the wait for a session shared by two elements).
    Inference = 1,
    /// Decoding model outputs: boxes, landmarks, pose, smoothing, metas.
    Post = 2,
    /// Drawing output pixels: the warp, mouth, eyelids, paste-back.
    Render = 3,
}

pub const STAGES: [Stage; 4] = [Stage::Pre, Stage::Inference, Stage::Post, Stage::Render];

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Pre => "pre",
            Stage::Inference => "inference",
            Stage::Post => "post",
            Stage::Render => "render",
        }
    }
}

thread_local! {
    static CURRENT: Cell<Option<(Stage, Instant)>> = const { Cell::new(None) };
    static SPENT: Cell<[Duration; 4]> = const { Cell::new([Duration::ZERO; 4]) };
}

/// Starts timing a frame on this thread in `stage`.
pub fn begin(stage: Stage) {
    SPENT.with(|s| s.set([Duration::ZERO; 4]));
    CURRENT.with(|c| c.set(Some((stage, Instant::now()))));
}

/// Switches to `stage`; returns the stage left (`None` when this thread is not timing).
pub fn enter(stage: Stage) -> Option<Stage> {
    CURRENT.with(|c| {
        let (prev, since) = c.get()?;
        let now = Instant::now();
        SPENT.with(|s| {
            let mut v = s.get();
            v[prev as usize] += now - since;
            s.set(v);
        });
        c.set(Some((stage, now)));
        Some(prev)
    })
}

/// Ends the frame: the time spent in each stage (indexed by `Stage as usize`), all
/// zero when this thread was not timing.
pub fn finish() -> [Duration; 4] {
    enter(Stage::Post);
    CURRENT.with(|c| c.set(None));
    SPENT.with(|s| s.get())
}

/// Counts the time it lives as inference, then returns to the stage before it (to
/// post-processing when that was pre-processing).
pub(crate) struct InferenceSpan(Option<Stage>);

impl InferenceSpan {
    pub(crate) fn start() -> Self {
        InferenceSpan(enter(Stage::Inference))
    }
}

impl Drop for InferenceSpan {
    fn drop(&mut self) {
        match self.0 {
            Some(Stage::Pre) | Some(Stage::Inference) => {
                enter(Stage::Post);
            }
            Some(s) => {
                enter(s);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(d: Duration) {
        let t = Instant::now();
        while t.elapsed() < d {}
    }

    #[test]
    fn stages_add_up_to_the_frame() {
        let t = Instant::now();
        begin(Stage::Pre);
        spin(Duration::from_millis(3));
        {
            let _run = InferenceSpan::start();
            spin(Duration::from_millis(5));
        }
        spin(Duration::from_millis(2));
        enter(Stage::Render);
        {
            let _run = InferenceSpan::start();
            spin(Duration::from_millis(1));
        }
        spin(Duration::from_millis(4));
        let s = finish();
        let total = t.elapsed();
        // Each stage holds at least its own spins; what a busy machine adds (the
        // thread preempted) is in the total too, so no stage can exceed its spins by
        // more than the whole frame exceeds all of them.
        let spun = [3, 6, 2, 4].map(Duration::from_millis);
        let slack = total.saturating_sub(spun.iter().sum());
        for (got, want) in s.iter().zip(spun) {
            assert!(*got >= want && *got <= want + slack, "{s:?} in {total:?}");
        }
        // And together they cover the frame (but for what preemption added around it).
        let sum: Duration = s.iter().sum();
        assert!(
            sum <= total && total - sum <= slack + Duration::from_millis(1),
            "{s:?} in {total:?}"
        );
    }

    #[test]
    fn nothing_is_timed_without_begin() {
        assert_eq!(enter(Stage::Render), None);
        drop(InferenceSpan::start());
        assert_eq!(finish(), [Duration::ZERO; 4]);
    }
}
