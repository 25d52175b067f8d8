// SPDX-License-Identifier: MIT

//! The arithmetic of staying live, without GStreamer: rolling per-stage percentiles
//! ([`Window`], [`Telemetry`]), the degradation controller ([`Degrader`]) and the
//! fault circuit breaker ([`Breaker`]). `crate::live` wires them into the elements.

use std::time::Duration;

use portrait_infer::stages::STAGES;

/// The last `N` samples of a quantity (milliseconds), for percentiles. Fixed size:
/// recording never allocates.
#[derive(Debug, Clone)]
pub struct Window {
    samples: Box<[f32]>,
    next: usize,
    len: usize,
}

/// Samples a [`Window`] keeps: about 10 s of 25 fps video.
pub const WINDOW: usize = 256;

impl Default for Window {
    fn default() -> Self {
        Window {
            samples: vec![0.0; WINDOW].into_boxed_slice(),
            next: 0,
            len: 0,
        }
    }
}

impl Window {
    /// A window of the last `n` samples (at least one).
    pub fn with_capacity(n: usize) -> Self {
        Window {
            samples: vec![0.0; n.max(1)].into_boxed_slice(),
            next: 0,
            len: 0,
        }
    }

    pub fn push(&mut self, v: f32) {
        self.samples[self.next] = v;
        self.next = (self.next + 1) % self.samples.len();
        self.len = (self.len + 1).min(self.samples.len());
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `q` quantiles (each in 0..=1, nearest rank) of the samples kept; zeros when
    /// there are none. `scratch` is reused between calls.
    pub fn quantiles<const K: usize>(&self, q: [f32; K], scratch: &mut Vec<f32>) -> [f32; K] {
        let mut out = [0.0; K];
        if self.len == 0 {
            return out;
        }
        scratch.clear();
        scratch.extend_from_slice(&self.samples[..self.len]);
        scratch.sort_unstable_by(|a, b| a.total_cmp(b));
        for (o, q) in out.iter_mut().zip(q) {
            let rank = (q.clamp(0.0, 1.0) * self.len as f32).ceil() as usize;
            *o = scratch[rank.clamp(1, self.len) - 1];
        }
        out
    }
}

fn ms(d: Duration) -> f32 {
    d.as_secs_f32() * 1e3
}

/// What an element counts and times.
#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    pub frames_in: u64,
    pub frames_out: u64,
    /// Frames dropped because they would reach the sink late (deadline or QoS).
    pub dropped_late: u64,
    /// Frames skipped on purpose by a degradation tier.
    pub dropped_degraded: u64,
    /// Frames missing upstream of this element (gaps in the timestamps).
    pub lost_upstream: u64,
    /// Per-stage time of processed frames (ms), indexed by `Stage as usize`.
    pub stages: [Window; 4],
    /// Whole per-frame time of processed frames (ms).
    pub total: Window,
    /// Age of frames when they reach this element (clock − running time, ms; live only).
    pub lateness: Window,
}

impl Telemetry {
    /// A processed frame's stage times and its whole time.
    pub fn record(&mut self, stages: &[Duration; 4], total: Duration) {
        self.frames_out += 1;
        for (w, d) in self.stages.iter_mut().zip(stages) {
            w.push(ms(*d));
        }
        self.total.push(ms(total));
    }

    /// Named p50/p95/p99 of each stage and of the whole frame, in ms.
    pub fn percentiles(&self, scratch: &mut Vec<f32>) -> Vec<(&'static str, [f32; 3])> {
        let q = [0.5, 0.95, 0.99];
        let mut v: Vec<_> = STAGES
            .iter()
            .map(|s| (s.name(), self.stages[*s as usize].quantiles(q, scratch)))
            .collect();
        v.push(("total", self.total.quantiles(q, scratch)));
        v.push(("lateness", self.lateness.quantiles(q, scratch)));
        v
    }
}

/// How [`Degrader`] decides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DegradeParams {
    pub max_tier: u8,
    /// Frames (arrived + lost) per decision.
    pub window: u32,
    /// Share of frames lost in a window that steps a tier up.
    pub escalate: f32,
    /// Share at or under which a window counts as calm.
    pub calm: f32,
    /// Calm frames before stepping a tier down; doubled (up to 8×) each time a
    /// recovery had to be undone soon after.
    pub recover_after: u32,
}

impl Default for DegradeParams {
    fn default() -> Self {
        // At 25 fps: decide every second, step down after 3 s without losses.
        DegradeParams {
            max_tier: 3,
            window: 25,
            escalate: 0.2,
            calm: 0.02,
            recover_after: 75,
        }
    }
}

/// A tier change and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TierChange {
    pub from: u8,
    pub to: u8,
    /// Share of frames lost in the window that decided it.
    pub lost: f32,
}

/// Steps the degradation tier up when frames keep getting lost (dropped late, or
/// missing because upstream could not deliver them while the chain was busy) and
/// back down after a calm spell; a recovery that is soon undone makes the next calm
/// spell twice as long, so a load on the edge does not flap.
#[derive(Debug, Clone)]
pub struct Degrader {
    pub params: DegradeParams,
    tier: u8,
    seen: u32,
    lost: u32,
    /// Windows to let pass after a change before deciding again (its effect shows).
    cooldown: u32,
    calm_frames: u32,
    recover_wait: u32,
    /// Frames since the last step down (None: none yet).
    since_recovery: Option<u32>,
}

impl Degrader {
    pub fn new(params: DegradeParams) -> Self {
        Degrader {
            params,
            tier: 0,
            seen: 0,
            lost: 0,
            cooldown: 0,
            calm_frames: 0,
            recover_wait: params.recover_after,
            since_recovery: None,
        }
    }

    pub fn tier(&self) -> u8 {
        self.tier
    }

    /// Back to tier 0 (a flush, a new stream).
    pub fn reset(&mut self) {
        *self = Degrader::new(self.params);
    }

    /// One frame arrived after `missing` frames that never did (a gap upstream), and
    /// is itself `dropped` or not.
    pub fn observe(&mut self, missing: u32, dropped: bool) -> Option<TierChange> {
        let p = self.params;
        let n = missing.saturating_add(1);
        self.seen = self.seen.saturating_add(n);
        self.lost = self.lost.saturating_add(missing + u32::from(dropped));
        if let Some(s) = self.since_recovery.as_mut() {
            *s = s.saturating_add(n);
        }
        if self.seen < p.window {
            return None;
        }
        let share = self.lost as f32 / self.seen as f32;
        let seen = self.seen;
        self.seen = 0;
        self.lost = 0;
        if self.cooldown > 0 {
            self.cooldown -= 1;
            return None;
        }
        let from = self.tier;
        if share > p.escalate {
            self.calm_frames = 0;
            if self.tier >= p.max_tier {
                return None;
            }
            if self
                .since_recovery
                .is_some_and(|s| s < 2 * self.recover_wait)
            {
                self.recover_wait = (self.recover_wait * 2).min(8 * p.recover_after);
            }
            self.tier += 1;
            self.cooldown = 1;
            return Some(TierChange {
                from,
                to: self.tier,
                lost: share,
            });
        }
        if share > p.calm {
            self.calm_frames = 0;
            return None;
        }
        self.calm_frames += seen;
        if self.tier == 0 {
            // Long calm at full quality: forget past flapping.
            if self.calm_frames >= 4 * self.recover_wait {
                self.recover_wait = p.recover_after;
            }
            return None;
        }
        if self.calm_frames < self.recover_wait {
            return None;
        }
        self.calm_frames = 0;
        self.tier -= 1;
        self.since_recovery = Some(0);
        self.cooldown = 1;
        Some(TierChange {
            from,
            to: self.tier,
            lost: share,
        })
    }
}

/// The half-rate tier renders even frames (by index in the stream: running time over
/// frame duration) only, so every element of a chain skips the same ones.
pub fn half_rate_skips(index: u64) -> bool {
    index % 2 == 1
}

/// Frames strictly between indices `prev` and `cur` that should have arrived: all of
/// them, or at the half-rate tier only the even ones.
pub fn missing_between(prev: u64, cur: u64, half_rate: bool) -> u32 {
    if cur <= prev + 1 {
        return 0;
    }
    let (a, b) = (prev + 1, cur - 1);
    let n = if half_rate {
        // Even numbers in a..=b (none when a = b is odd).
        (b / 2 + 1).saturating_sub(a.div_ceil(2))
    } else {
        b - a + 1
    };
    n.min(u64::from(u32::MAX)) as u32
}

/// A circuit breaker for a model run: after a fault the run is skipped for a back-off
/// that doubles with each consecutive fault (from `base` up to `max`), then tried
/// again once; a success closes it. Times are on any monotonic clock.
#[derive(Debug, Clone)]
pub struct Breaker {
    pub base: Duration,
    pub max: Duration,
    faults: u32,
    open_until: Option<Duration>,
}

impl Breaker {
    pub fn new(base: Duration, max: Duration) -> Self {
        Breaker {
            base,
            max,
            faults: 0,
            open_until: None,
        }
    }

    /// Whether the run may be tried at `now` (closed, or the back-off is over).
    pub fn allows(&self, now: Duration) -> bool {
        self.open_until.is_none_or(|t| now >= t)
    }

    /// Consecutive faults so far (0: closed and healthy).
    pub fn faults(&self) -> u32 {
        self.faults
    }

    /// A run failed (or stalled) at `now`: the back-off before the next try.
    pub fn fault(&mut self, now: Duration) -> Duration {
        let back_off = self
            .base
            .saturating_mul(1 << self.faults.min(16))
            .min(self.max);
        self.faults += 1;
        self.open_until = Some(now + back_off);
        back_off
    }

    /// A run succeeded: true when this ends a run of faults (a recovery to report).
    pub fn success(&mut self) -> bool {
        let recovered = self.faults > 0;
        self.faults = 0;
        self.open_until = None;
        recovered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank_over_the_last_samples() {
        let mut w = Window::default();
        let mut s = Vec::new();
        assert_eq!(w.quantiles([0.5], &mut s), [0.0]);
        for v in 1..=100 {
            w.push(v as f32);
        }
        assert_eq!(
            w.quantiles([0.5, 0.95, 0.99, 1.0], &mut s),
            [50.0, 95.0, 99.0, 100.0]
        );
        // Older samples fall out of the window.
        for _ in 0..WINDOW {
            w.push(7.0);
        }
        assert_eq!(w.quantiles([0.01, 0.99], &mut s), [7.0, 7.0]);
    }

    #[test]
    fn telemetry_keeps_stage_and_total_times() {
        let mut t = Telemetry::default();
        let d = |ms| Duration::from_millis(ms);
        for i in 0..10 {
            t.record(&[d(1), d(5 + i), d(2), d(0)], d(8 + i));
        }
        let p = t.percentiles(&mut Vec::new());
        assert_eq!(t.frames_out, 10);
        let get = |n: &str| p.iter().find(|(k, _)| *k == n).unwrap().1;
        assert_eq!(get("inference")[0], 9.0);
        assert_eq!(get("total")[1], 17.0);
        assert_eq!(get("render"), [0.0; 3]);
    }

    /// Feeds `frames` frames losing `lost` out of every `of`, returns the changes.
    fn feed(d: &mut Degrader, frames: u32, lost: u32, of: u32) -> Vec<TierChange> {
        (0..frames)
            .filter_map(|i| d.observe(0, i % of < lost))
            .collect()
    }

    #[test]
    fn degrades_under_sustained_loss_and_recovers_step_by_step() {
        let mut d = Degrader::new(DegradeParams::default());
        // Losing half the frames: one tier every two windows (a window of cooldown).
        let up = feed(&mut d, 250, 1, 2);
        assert_eq!(up.iter().map(|c| c.to).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(up[0].lost > 0.4 && up[0].lost < 0.6);
        assert_eq!(d.tier(), 3);
        // Losing 1 in 10 (under the 20 % threshold): it holds.
        assert!(feed(&mut d, 200, 1, 10).is_empty());
        // Calm: a step down after each 3 s (75 frames) of calm plus its cooldown.
        let down = feed(&mut d, 400, 0, 1);
        assert_eq!(down.iter().map(|c| c.to).collect::<Vec<_>>(), [2, 1, 0]);
        assert_eq!(d.tier(), 0);
    }

    #[test]
    fn an_undone_recovery_waits_longer_next_time() {
        let mut d = Degrader::new(DegradeParams::default());
        feed(&mut d, 50, 1, 2);
        assert_eq!(d.tier(), 1);
        let calm_until_recovery = |d: &mut Degrader| {
            let mut n = 0;
            while d.observe(0, false).is_none() {
                n += 1;
            }
            n
        };
        let first = calm_until_recovery(&mut d);
        assert_eq!(d.tier(), 0);
        // The load comes straight back: up again, and the next recovery takes longer.
        feed(&mut d, 50, 1, 2);
        assert_eq!(d.tier(), 1);
        let second = calm_until_recovery(&mut d);
        assert!(second >= first + 70, "{first} then {second}");
    }

    #[test]
    fn gaps_count_as_losses() {
        let mut d = Degrader::new(DegradeParams::default());
        // Every arriving frame comes after 3 missing ones: 75 % lost.
        let c: Vec<_> = (0..20).filter_map(|_| d.observe(3, false)).collect();
        assert_eq!(c.len(), 1);
        assert!((c[0].lost - 0.75).abs() < 0.01, "{c:?}");
    }

    #[test]
    fn gaps_are_counted_without_the_frames_skipped_on_purpose() {
        assert_eq!(missing_between(4, 5, false), 0);
        assert_eq!(missing_between(4, 4, false), 0);
        assert_eq!(missing_between(4, 8, false), 3);
        // At half rate 5 and 7 are skipped anyway; 6 is missing.
        assert_eq!(missing_between(4, 8, true), 1);
        assert_eq!(missing_between(3, 8, true), 2);
        assert_eq!(missing_between(4, 6, true), 0);
        assert_eq!(missing_between(5, 7, true), 1);
        assert_eq!(missing_between(3, 5, true), 1);
        assert_eq!(missing_between(0, 1_000_001, true), 500_000);
        assert!(half_rate_skips(7) && !half_rate_skips(8));
    }

    #[test]
    fn breaker_backs_off_exponentially_and_closes_on_success() {
        let s = Duration::from_secs;
        let mut b = Breaker::new(s(1), s(8));
        assert!(b.allows(s(0)));
        assert_eq!(b.fault(s(10)), s(1));
        assert!(!b.allows(s(10)) && b.allows(s(11)));
        assert_eq!(b.fault(s(11)), s(2));
        assert_eq!(b.fault(s(13)), s(4));
        assert_eq!(b.fault(s(17)), s(8));
        assert_eq!(b.fault(s(25)), s(8), "capped");
        assert_eq!(b.faults(), 5);
        assert!(!b.allows(s(32)) && b.allows(s(33)));
        assert!(b.success());
        assert!(!b.success(), "already closed");
        assert!(b.allows(s(0)));
        assert_eq!(b.fault(s(40)), s(1), "the back-off starts over");
    }
}
