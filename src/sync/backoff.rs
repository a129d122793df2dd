//! Capped exponential backoff with jitter, for every retry loop that talks to the hub.
//!
//! Pure: no clock and no global randomness. The caller passes the random number
//! generator (a seeded `StdRng` in tests) and sleeps the returned delay itself, so the
//! schedule is reproducible in tests and the pusher stays testable with paused time.
//!
//! **Jitter: "equal jitter".** The delay for attempt *n* is drawn uniformly from
//! `[d/2, d]` where `d = min(cap, base * 2^n)`. We prefer it to "full jitter"
//! (`[0, d]`) because a kiosk retrying forever must never retry in a tight loop: full
//! jitter can draw (almost) zero, equal jitter guarantees at least half the nominal
//! delay, while still spreading the retries of every door in a center (and of every
//! center behind the same hub) after an outage so they do not all hit the hub at once.

use std::time::Duration;

use rand::Rng;

/// First nominal delay when nothing else is configured.
pub const DEFAULT_BASE: Duration = Duration::from_secs(1);
/// Longest nominal delay when nothing else is configured: a kiosk that has been offline
/// for hours still tries every few minutes, so it delivers soon after the network is back.
pub const DEFAULT_CAP: Duration = Duration::from_secs(5 * 60);
/// Upper bound on a hub's `Retry-After`. The contract says the kiosk must honour it, but
/// a misconfigured proxy answering `Retry-After: 999999999` must not silence a door for
/// long after the hub is back. Five minutes is the longest our own backoff waits
/// ([`DEFAULT_CAP`]): a door asking once every five minutes costs a busy hub one small
/// request, while a longer wait would leave events of the morning rush undelivered (and
/// invisible to the other doors) well after the hub recovered. The pusher also stops
/// waiting as soon as another call to the hub succeeds.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(5 * 60);
/// Shortest base accepted, so a zero base cannot produce zero delays.
const MIN_BASE: Duration = Duration::from_millis(1);
/// Beyond this exponent `base * 2^n` exceeds any sane cap; stops the counter overflowing.
const MAX_EXPONENT: u32 = 32;

/// Backoff state for one retry loop: how many consecutive failures so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(DEFAULT_BASE, DEFAULT_CAP)
    }
}

impl Backoff {
    /// A fresh backoff. A zero `base` is raised to 1 ms and a `cap` below `base` is
    /// raised to `base`, so the guarantees "never zero, never above cap" always hold.
    pub fn new(base: Duration, cap: Duration) -> Self {
        let base = base.max(MIN_BASE);
        Backoff {
            base,
            cap: cap.max(base),
            attempt: 0,
        }
    }

    /// Consecutive failures recorded since the last [`reset`](Self::reset).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The nominal (un-jittered) delay of the current attempt: `min(cap, base * 2^n)`.
    fn nominal(&self) -> Duration {
        let factor = 1u32 << self.attempt.min(MAX_EXPONENT - 1);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Delay before the next retry, and count one more failure.
    ///
    /// Always in `[nominal/2, nominal]`, hence never zero and never above `cap`.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let nominal = self.nominal();
        self.attempt = self.attempt.saturating_add(1).min(MAX_EXPONENT);
        let nanos = u64::try_from(nominal.as_nanos()).unwrap_or(u64::MAX);
        let half = nanos / 2;
        // `nanos - half` is the upper half (rounded up), so the sum never exceeds `nanos`.
        let jitter = rng.gen_range(0..=nanos - half);
        Duration::from_nanos(half + jitter).max(Duration::from_nanos(1))
    }

    /// Like [`next_delay`](Self::next_delay) but never shorter than the hub's
    /// `Retry-After` (itself bounded by [`MAX_RETRY_AFTER`]). A `Retry-After` longer than
    /// `cap` wins over the cap: the hub knows its own maintenance window.
    pub fn next_delay_honouring(
        &mut self,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Duration {
        let own = self.next_delay(rng);
        match retry_after {
            Some(hub) => own.max(hub.min(MAX_RETRY_AFTER)),
            None => own,
        }
    }

    /// Forget the failures: the next delay is back to about `base`. Called after any
    /// answer from the hub that was not a retryable failure.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(0x00c0_ffee)
    }

    #[test]
    fn delays_grow_exponentially_within_equal_jitter_bounds() {
        let mut rng = rng();
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(1000));
        for n in 0..8u32 {
            let nominal = Duration::from_secs(1 << n);
            let d = b.next_delay(&mut rng);
            assert!(d >= nominal / 2 && d <= nominal, "attempt {n}: {d:?}");
        }
        assert_eq!(b.attempt(), 8);
    }

    #[test]
    fn delays_never_exceed_cap_even_after_many_failures() {
        let mut rng = rng();
        let cap = Duration::from_secs(300);
        let mut b = Backoff::new(Duration::from_secs(1), cap);
        let mut last = Duration::ZERO;
        for _ in 0..10_000 {
            last = b.next_delay(&mut rng);
            assert!(last <= cap, "{last:?}");
        }
        assert!(
            last >= cap / 2,
            "a long outage settles at the cap: {last:?}"
        );
    }

    #[test]
    fn jitter_spreads_over_the_whole_upper_half_and_is_never_zero() {
        let mut rng = rng();
        let nominal = Duration::from_secs(8);
        let (mut min, mut max) = (Duration::MAX, Duration::ZERO);
        for _ in 0..5_000 {
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
            for _ in 0..3 {
                b.next_delay(&mut rng);
            }
            let d = b.next_delay(&mut rng);
            assert!(d >= nominal / 2 && d <= nominal, "{d:?}");
            min = min.min(d);
            max = max.max(d);
        }
        // Over 5000 draws the spread must cover most of [4 s, 8 s]: real jitter.
        assert!(min < Duration::from_millis(4_100), "min {min:?}");
        assert!(max > Duration::from_millis(7_900), "max {max:?}");
    }

    #[test]
    fn zero_base_still_yields_positive_delays() {
        let mut rng = rng();
        let mut b = Backoff::new(Duration::ZERO, Duration::ZERO);
        for _ in 0..100 {
            assert!(b.next_delay(&mut rng) > Duration::ZERO);
        }
    }

    #[test]
    fn reset_returns_to_base() {
        let mut rng = rng();
        let mut b = Backoff::default();
        for _ in 0..20 {
            b.next_delay(&mut rng);
        }
        assert!(b.next_delay(&mut rng) >= DEFAULT_CAP / 2);
        b.reset();
        assert_eq!(b.attempt(), 0);
        assert!(b.next_delay(&mut rng) <= DEFAULT_BASE);
    }

    #[test]
    fn retry_after_is_honoured_even_above_the_cap() {
        let mut rng = rng();
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let d = b.next_delay_honouring(Some(Duration::from_secs(120)), &mut rng);
        assert_eq!(d, Duration::from_secs(120));
        // A short Retry-After does not shorten our own backoff.
        for _ in 0..10 {
            b.next_delay(&mut rng);
        }
        let d = b.next_delay_honouring(Some(Duration::from_secs(1)), &mut rng);
        assert!(d >= Duration::from_secs(30), "{d:?}");
    }

    #[test]
    fn absurd_retry_after_is_bounded_to_five_minutes() {
        let mut rng = rng();
        let mut b = Backoff::default();
        let d = b.next_delay_honouring(Some(Duration::from_secs(999_999_999)), &mut rng);
        assert_eq!(d, Duration::from_secs(300));
        assert_eq!(MAX_RETRY_AFTER, Duration::from_secs(300));
    }
}
