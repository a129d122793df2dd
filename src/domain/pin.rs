//! PINs: the HMAC the hub and the kiosk both compute, and the keypad lockout.
//!
//! The kiosk never stores a typed PIN: it computes HMAC-SHA256(pin_key, digits) and
//! looks the hex up in the roster's index. After 5 wrong PINs in a row the keypad
//! locks for 30 s, doubling with each further miss up to 15 minutes.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const MIN_PIN_LEN: usize = 4;
pub const MAX_PIN_LEN: usize = 8;
const FREE_MISSES: u32 = 5;
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

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PinGuard {
    misses: u32,
    locked_until: Option<DateTime<Utc>>,
}

impl PinGuard {
    /// Seconds left (rounded up) when the keypad is locked at `now`.
    pub fn locked_for(&self, now: DateTime<Utc>) -> Option<u64> {
        let until = self.locked_until?;
        let left = (until - now).num_milliseconds();
        (left > 0).then(|| ((left + 999) / 1000) as u64)
    }

    /// A wrong PIN. Returns the lock length when this miss locks the keypad.
    pub fn miss(&mut self, now: DateTime<Utc>) -> Option<Duration> {
        self.misses += 1;
        if self.misses < FREE_MISSES {
            return None;
        }
        let doublings = (self.misses - FREE_MISSES).min(10);
        let secs = (FIRST_LOCK_S << doublings).min(MAX_LOCK_S);
        let d = Duration::seconds(secs);
        self.locked_until = Some(now + d);
        Some(d)
    }

    pub fn success(&mut self) {
        *self = PinGuard::default();
    }

    /// Staff lift the lock (and forget the misses).
    pub fn lift(&mut self) {
        *self = PinGuard::default();
    }

    pub fn misses(&self) -> u32 {
        self.misses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_test_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
        assert_eq!(
            pin_hmac(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn five_misses_lock_for_30s_then_doubling_up_to_15_minutes() {
        let t0 = Utc::now();
        let mut g = PinGuard::default();
        for _ in 0..4 {
            assert_eq!(g.miss(t0), None);
        }
        assert_eq!(g.locked_for(t0), None);
        assert_eq!(g.miss(t0), Some(Duration::seconds(30)));
        assert_eq!(g.locked_for(t0), Some(30));
        assert_eq!(g.locked_for(t0 + Duration::seconds(30)), None);
        assert_eq!(g.miss(t0), Some(Duration::seconds(60)));
        assert_eq!(g.miss(t0), Some(Duration::seconds(120)));
        for _ in 0..10 {
            g.miss(t0);
        }
        assert_eq!(g.miss(t0), Some(Duration::seconds(900)));
    }

    #[test]
    fn success_and_lift_reset() {
        let t0 = Utc::now();
        let mut g = PinGuard::default();
        for _ in 0..5 {
            g.miss(t0);
        }
        g.lift();
        assert_eq!(g.locked_for(t0), None);
        assert_eq!(g.misses(), 0);
        g.miss(t0);
        g.success();
        assert_eq!(g.misses(), 0);
    }
}
