//! Per-client-address rate limit of enrollment attempts (hub-api v1.1 point 8): a token
//! bucket per address, so guessing a one-time code from one machine takes years, while a
//! technician who mistypes a code a few times is not locked out.
//!
//! IPv6 clients are grouped by /64 (one host usually owns a whole /64). The table is
//! bounded: when full, buckets that have refilled are forgotten, and a new address is
//! refused while the table is still full of active ones.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Attempts allowed at once from one address.
pub const ENROLL_BURST: u32 = 10;
/// One more attempt is allowed after each period.
pub const ENROLL_REFILL: Duration = Duration::from_secs(6);
/// Most addresses tracked at once.
const MAX_CLIENTS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// Refused since the last allowed attempt (only the first refusal is logged).
    refused: bool,
}

/// An attempt over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Until the next attempt would be allowed.
    pub wait: Duration,
    /// The first refusal since this address was last allowed: worth one log line.
    pub first: bool,
}

/// A token bucket per client address.
#[derive(Debug)]
pub struct RateLimiter {
    burst: u32,
    refill: Duration,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

/// The address an attempt is counted under.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::V6(seg.into())
            }
        },
    }
}

impl RateLimiter {
    pub fn new(burst: u32, refill: Duration) -> Self {
        RateLimiter {
            burst: burst.max(1),
            refill: refill.max(Duration::from_millis(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, b: Bucket, now: Instant) -> f64 {
        let gained = now.saturating_duration_since(b.at).as_secs_f64() / self.refill.as_secs_f64();
        (b.tokens + gained).min(f64::from(self.burst))
    }

    /// Count one attempt from `ip` at `now`: `Ok(())` when allowed.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Refused> {
        let key = client_key(ip);
        let mut buckets = match self.buckets.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if !buckets.contains_key(&key) && buckets.len() >= MAX_CLIENTS {
            let full = f64::from(self.burst);
            buckets.retain(|_, b| {
                let tokens = (b.tokens
                    + now.saturating_duration_since(b.at).as_secs_f64()
                        / self.refill.as_secs_f64())
                .min(full);
                tokens < full
            });
            if buckets.len() >= MAX_CLIENTS {
                return Err(Refused {
                    wait: self.refill,
                    first: false,
                });
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: f64::from(self.burst),
            at: now,
            refused: false,
        });
        let tokens = self.refilled(*bucket, now);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
                refused: false,
            };
            Ok(())
        } else {
            let first = !bucket.refused;
            *bucket = Bucket {
                tokens,
                at: now,
                refused: true,
            };
            Err(Refused {
                wait: self.refill.mul_f64(1.0 - tokens),
                first,
            })
        }
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::new(ENROLL_BURST, ENROLL_REFILL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_attempt_per_period_per_address() {
        let l = RateLimiter::new(3, Duration::from_secs(6));
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(a, t0).is_ok());
        }
        let refused = l.check(a, t0).unwrap_err();
        let wait = refused.wait;
        assert!(
            wait > Duration::from_secs(5) && wait <= Duration::from_secs(6),
            "{wait:?}"
        );
        assert!(refused.first);
        assert!(
            !l.check(a, t0).unwrap_err().first,
            "logged once per episode"
        );
        assert!(l.check(b, t0).is_ok(), "another address has its own bucket");
        assert!(l.check(a, t0 + Duration::from_secs(3)).is_err());
        assert!(l.check(a, t0 + Duration::from_secs(7)).is_ok());
        // One /64 is one client; an IPv4-mapped address is its IPv4 address.
        let v6a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(v6a, t0).is_ok());
        }
        assert!(l.check(v6b, t0).is_err());
        let mapped: IpAddr = "::ffff:192.0.2.2".parse().unwrap();
        assert!(l.check(mapped, t0).is_ok());
        assert!(l.check(mapped, t0).is_ok());
        assert!(l.check(b, t0).is_err());
    }

    #[test]
    fn the_table_stays_bounded() {
        let l = RateLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..MAX_CLIENTS as u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(l.check(ip, t0).is_ok());
        }
        let stranger: IpAddr = "198.51.100.7".parse().unwrap();
        assert!(l.check(stranger, t0).is_err(), "full of active buckets");
        // Two minutes later every bucket has refilled and is forgotten.
        assert!(l.check(stranger, t0 + Duration::from_secs(120)).is_ok());
        assert!(l.buckets.lock().unwrap().len() <= 2);
    }
}
