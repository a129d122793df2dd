//! PINs: the HMAC the hub and the kiosk both compute, and the keypad lockout.
//!
//! The kiosk never stores a typed PIN: it computes HMAC-SHA256(pin_key, digits) and
//! looks the hex up in the roster's index.
//!
//! The lockout ([`PinGuard`]) counts wrong *complete* PINs per door over a sliding
//! window: 5 wrong within any 10 minutes lock the keypad for 30 s, and each further wrong
//! entry inside the window doubles the lock, up to 15 minutes. A correct PIN erases
//! nothing, so knowing one PIN buys no extra guesses. Only staff lift a lock (fingerprint
//! or badge QR). The guard is plain data (serde) so the runtime persists it and a restart
//! does not clear it.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub const MIN_PIN_LEN: usize = 4;
pub const MAX_PIN_LEN: usize = 8;
/// Wrong PINs within [`WINDOW_S`] that are free; the next one locks.
const FREE_MISSES: usize = 4;
/// The sliding window over which misses count.
pub const WINDOW_S: i64 = 10 * 60;
const FIRST_LOCK_S: i64 = 30;
const MAX_LOCK_S: i64 = 15 * 60;

/// Lower-case hex of HMAC-SHA256(key, ascii digits).
pub fn pin_hmac(key: &[u8], pin: &str) -> String {
    // HMAC accepts keys of any length; new_from_slice cannot fail for HMAC.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(pin.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Sync-report lines naming the people and staff whose PIN the hub marks shorter than
/// the center's `min_pin_length` (ids and names only; never the PIN or its HMAC).
pub fn short_pin_notes(source: &crate::domain::source::SourceRoster) -> Vec<String> {
    let Some(min) = source.center.as_ref().and_then(|c| c.min_pin_length) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for s in source.staff.values() {
        if s.pin_hmac.is_some() && s.pin_length.is_some_and(|n| n < min) {
            out.push(format!(
                "{} {} (staff {}): PIN shorter than the center's minimum of {min} digits",
                s.first_name, s.last_name, s.id
            ));
        }
    }
    for f in source.families.values() {
        for p in &f.people {
            if p.pin_hmac.is_some() && p.pin_length.is_some_and(|n| n < min) {
                out.push(format!(
                    "{} {} (person {}): PIN shorter than the center's minimum of {min} digits",
                    p.first_name, p.last_name, p.id
                ));
            }
        }
    }
    out
}

/// Is `typed` a complete PIN entry (4–8 ASCII digits)? Only complete entries are guesses.
pub fn is_complete(typed: &str) -> bool {
    (MIN_PIN_LEN..=MAX_PIN_LEN).contains(&typed.len()) && typed.bytes().all(|b| b.is_ascii_digit())
}

/// The door's keypad lockout: recent misses and the lock, if any.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PinGuard {
    /// Times of the wrong complete PINs still inside the window, oldest first.
    #[serde(default)]
    misses: VecDeque<DateTime<Utc>>,
    #[serde(default)]
    locked_until: Option<DateTime<Utc>>,
    /// When each recent lock started and how long it was (seconds), newest last: the
    /// staff screen's alerts and the heartbeat read them. At most [`LOCKOUTS_KEPT`].
    #[serde(default)]
    lockouts: Vec<(DateTime<Utc>, i64)>,
}

/// Lockouts remembered for alerts (a day's worth at any sane rate).
pub const LOCKOUTS_KEPT: usize = 50;

impl PinGuard {
    /// Seconds left (rounded up) when the keypad is locked at `now`.
    pub fn locked_for(&self, now: DateTime<Utc>) -> Option<u64> {
        let until = self.locked_until?;
        let left = (until - now).num_milliseconds();
        (left > 0).then(|| ((left + 999) / 1000) as u64)
    }

    /// A wrong complete PIN at `now`. Returns the lock length when this miss locks the
    /// keypad. Misses while locked are not counted (the keypad is closed then).
    pub fn miss(&mut self, now: DateTime<Utc>) -> Option<Duration> {
        if self.locked_for(now).is_some() {
            return None;
        }
        self.forget_old(now);
        self.misses.push_back(now);
        let n = self.misses.len();
        if n <= FREE_MISSES {
            return None;
        }
        let doublings = (n - FREE_MISSES - 1).min(10) as u32;
        let secs = (FIRST_LOCK_S << doublings).min(MAX_LOCK_S);
        let d = Duration::seconds(secs);
        self.locked_until = Some(now + d);
        self.lockouts.push((now, secs));
        if self.lockouts.len() > LOCKOUTS_KEPT {
            self.lockouts.remove(0);
        }
        Some(d)
    }

    /// Locks that started at or after `from`: `(start, seconds)`, oldest first.
    pub fn lockouts_since(
        &self,
        from: DateTime<Utc>,
    ) -> impl Iterator<Item = (DateTime<Utc>, i64)> + '_ {
        self.lockouts
            .iter()
            .copied()
            .filter(move |(at, _)| *at >= from)
    }

    /// When the current lock ends, if the keypad is locked at `now`.
    pub fn locked_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.locked_until.filter(|u| *u > now)
    }

    /// Staff lift the lock (badge QR or fingerprint, never a typed PIN): the lock and the
    /// misses are cleared, since a member of staff is at the door and has judged it. The
    /// lockout history stays for the alerts.
    pub fn lift(&mut self) {
        self.misses.clear();
        self.locked_until = None;
    }

    /// Wrong PINs inside the window at `now`.
    pub fn misses(&self, now: DateTime<Utc>) -> usize {
        let from = now - Duration::seconds(WINDOW_S);
        self.misses.iter().filter(|t| **t > from).count()
    }

    /// Drop misses older than the window, and a lock that has run out: what is left is
    /// what must survive a restart.
    fn forget_old(&mut self, now: DateTime<Utc>) {
        let from = now - Duration::seconds(WINDOW_S);
        while self.misses.front().is_some_and(|t| *t <= from) {
            self.misses.pop_front();
        }
        // A clock that jumped back must not leave misses "in the future" forever.
        self.misses
            .retain(|t| *t <= now + Duration::seconds(WINDOW_S));
        if self.locked_until.is_some_and(|u| u <= now) {
            self.locked_until = None;
        }
        if self
            .locked_until
            .is_some_and(|u| u > now + Duration::seconds(MAX_LOCK_S))
        {
            self.locked_until = Some(now + Duration::seconds(MAX_LOCK_S));
        }
    }

    /// A guard whose stored state could not be read: locked for the maximum from `now`,
    /// so damage to the stored row never opens the keypad for guessing.
    pub fn locked_at_start(now: DateTime<Utc>) -> PinGuard {
        PinGuard {
            misses: VecDeque::new(),
            locked_until: Some(now + Duration::seconds(MAX_LOCK_S)),
            lockouts: vec![(now, MAX_LOCK_S)],
        }
    }

    /// The guard read back from storage, made consistent with `now` (stale misses dropped,
    /// a lock never longer than the maximum even if the clock moved).
    pub fn restored(mut self, now: DateTime<Utc>) -> PinGuard {
        self.forget_old(now);
        self
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pin_hmac_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            super::pin_hmac(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_420_000, 0).unwrap_or_default()
    }

    #[test]
    fn hmac_matches_rfc4231_test_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
        assert_eq!(
            pin_hmac(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn only_four_to_eight_digits_are_a_complete_entry() {
        assert!(!is_complete(""));
        assert!(!is_complete("123"));
        assert!(is_complete("1234"));
        assert!(is_complete("12345678"));
        assert!(!is_complete("123456789"));
        assert!(!is_complete("12a4"));
    }

    #[test]
    fn five_misses_in_ten_minutes_lock_for_30s_then_doubling_up_to_15_minutes() {
        let t = t0();
        let mut g = PinGuard::default();
        for i in 0..4 {
            assert_eq!(g.miss(t + Duration::seconds(i)), None);
        }
        assert_eq!(g.locked_for(t), None);
        assert_eq!(
            g.miss(t + Duration::seconds(4)),
            Some(Duration::seconds(30))
        );
        assert_eq!(g.locked_for(t + Duration::seconds(4)), Some(30));
        // A guess while locked is not even counted.
        assert_eq!(g.miss(t + Duration::seconds(10)), None);
        assert_eq!(g.misses(t + Duration::seconds(10)), 5);
        let mut at = t + Duration::seconds(34);
        assert_eq!(g.locked_for(at), None);
        assert_eq!(g.miss(at), Some(Duration::seconds(60)));
        at += Duration::seconds(60);
        assert_eq!(g.miss(at), Some(Duration::seconds(120)));
        at += Duration::seconds(120);
        assert_eq!(g.miss(at), Some(Duration::seconds(240)));
        // The lock never exceeds 15 minutes, however many misses the window holds.
        let mut g = PinGuard::default();
        for _ in 0..4 {
            g.miss(t);
        }
        let mut longest = Duration::zero();
        let mut at = t;
        for _ in 0..20 {
            if let Some(d) = g.miss(at) {
                longest = longest.max(d);
            }
            at += Duration::seconds(1);
            g.locked_until = None; // test only: force the next miss to count
        }
        assert_eq!(longest, Duration::seconds(MAX_LOCK_S));
    }

    #[test]
    fn misses_older_than_the_window_stop_counting() {
        let t = t0();
        let mut g = PinGuard::default();
        for i in 0..4 {
            g.miss(t + Duration::seconds(i));
        }
        // Ten minutes after the first miss it has left the window.
        let later = t + Duration::seconds(WINDOW_S);
        assert_eq!(g.misses(later), 3);
        assert_eq!(g.miss(later), None);
        assert_eq!(g.miss(later), Some(Duration::seconds(30)));
    }

    #[test]
    fn lift_clears_lock_and_misses() {
        let t = t0();
        let mut g = PinGuard::default();
        for _ in 0..5 {
            g.miss(t);
        }
        assert!(g.locked_for(t).is_some());
        g.lift();
        assert_eq!(g.locked_for(t), None);
        assert_eq!(g.misses(t), 0);
    }

    #[test]
    fn survives_a_round_trip_through_json_and_a_clock_jump() {
        let t = t0();
        let mut g = PinGuard::default();
        for _ in 0..5 {
            g.miss(t);
        }
        let json = serde_json::to_string(&g).unwrap_or_default();
        let back: PinGuard = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back.clone().restored(t).locked_for(t), Some(30));
        // A lock stored with an absurd end is cut to the maximum.
        let mut absurd = back;
        absurd.locked_until = Some(t + Duration::days(365));
        assert_eq!(absurd.restored(t).locked_for(t), Some(MAX_LOCK_S as u64));
    }

    /// Wrong guesses one door allows in `hours` to an attacker who guesses whenever the
    /// keypad is open, or one who paces 4 per window: the larger of the two.
    fn attacker_guesses(hours: i64) -> (usize, usize) {
        let start = t0();
        let end = start + Duration::hours(hours);
        let mut greedy = 0;
        let mut g = PinGuard::default();
        let mut at = start;
        while at < end {
            if g.locked_for(at).is_none() {
                g.miss(at);
                greedy += 1;
            }
            // ~540 entries a minute is the keypad's physical best.
            at += Duration::milliseconds(111);
        }
        let mut paced = 0;
        let mut g = PinGuard::default();
        let mut at = start;
        while at < end {
            for _ in 0..FREE_MISSES {
                assert_eq!(g.miss(at), None);
                paced += 1;
            }
            at += Duration::seconds(WINDOW_S) + Duration::milliseconds(1);
        }
        (greedy, paced)
    }

    #[test]
    fn an_attacker_gets_at_most_54_wrong_guesses_an_hour() {
        // Any 10-minute window holds at most 9 misses (5 free-then-lock, then locks of
        // 30 + 60 + 120 + 240 s leave room for 4 more), so an hour holds at most 6 × 9.
        let (greedy, paced) = attacker_guesses(1);
        assert!(greedy <= 54, "greedy attacker: {greedy}");
        assert_eq!(paced, 24);
        let (greedy24, _) = attacker_guesses(24);
        assert!(
            greedy24 <= 54 * 24,
            "greedy attacker over a day: {greedy24}"
        );
        eprintln!(
            "wrong guesses per hour: greedy {greedy}, paced {paced}; per day greedy {greedy24}"
        );
    }

    #[test]
    fn the_sync_report_names_pins_shorter_than_the_centers_minimum() {
        use crate::domain::source::SourceRoster;
        let mut resp = crate::domain::testdata::roster_response();
        let src = SourceRoster::default().merged(&resp);
        assert!(
            short_pin_notes(&src).is_empty(),
            "no minimum set: nothing to say"
        );
        resp.center.min_pin_length = Some(6);
        let src = SourceRoster::default().merged(&resp);
        let notes = short_pin_notes(&src);
        // Every fixture PIN has 4 digits.
        assert!(notes
            .iter()
            .any(|n| n.starts_with("Dana Rivera (person per_dana): PIN shorter")));
        assert!(notes.iter().any(|n| n.contains("(staff staff_lee)")));
        assert!(notes
            .iter()
            .all(|n| !n.contains(&crate::domain::testdata::pin("1111"))));
        resp.center.min_pin_length = Some(4);
        assert!(short_pin_notes(&SourceRoster::default().merged(&resp)).is_empty());
    }
}
