//! Fault injection for the reference hub (`--faults fail=0.3,delay_ms=2000,...`).
//!
//! Owns the [`Faults`] spec (parsed with `FromStr`, printed back with `Display`) and the
//! seedable dice ([`FaultDice`]) that decide, request by request, whether a fault fires.
//! The HTTP layer (`routes`) applies them; nothing here knows about axum.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What to break, and how often. The default breaks nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Probability (0..=1) that a request is answered `status` without doing anything.
    pub fail: f64,
    /// Sleep this long before handling each request.
    pub delay_ms: u64,
    /// Probability (0..=1) that an upload is committed and then answered `status` anyway.
    pub drop_after_commit: f64,
    /// Status of injected failures (400..=599), default 503.
    pub status: u16,
    /// `Retry-After` seconds sent with injected failures, when set.
    pub retry_after: Option<u64>,
    /// Seed of the dice; `None` seeds from the OS.
    pub seed: Option<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            fail: 0.0,
            delay_ms: 0,
            drop_after_commit: 0.0,
            status: 503,
            retry_after: None,
            seed: None,
        }
    }
}

impl Faults {
    /// No fault at all (same as `Default`).
    pub fn none() -> Self {
        Faults::default()
    }

    /// True when at least one fault can fire.
    pub fn is_active(&self) -> bool {
        self.fail > 0.0 || self.delay_ms > 0 || self.drop_after_commit > 0.0
    }
}

/// Why a `--faults` spec was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultsParseError {
    #[error("fault spec item `{0}` is not of the form key=value")]
    NotKeyValue(String),
    #[error(
        "unknown fault key `{0}` (known: fail, delay_ms, drop_after_commit, status, retry_after, seed)"
    )]
    UnknownKey(String),
    #[error("bad value `{value}` for fault key `{key}`: expected {expected}")]
    BadValue {
        key: String,
        value: String,
        expected: &'static str,
    },
}

fn probability(key: &str, value: &str) -> Result<f64, FaultsParseError> {
    match value.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(FaultsParseError::BadValue {
            key: key.to_string(),
            value: value.to_string(),
            expected: "a probability between 0 and 1",
        }),
    }
}

fn whole<T: FromStr>(
    key: &str,
    value: &str,
    expected: &'static str,
) -> Result<T, FaultsParseError> {
    value.parse::<T>().map_err(|_| FaultsParseError::BadValue {
        key: key.to_string(),
        value: value.to_string(),
        expected,
    })
}

impl FromStr for Faults {
    type Err = FaultsParseError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let mut faults = Faults::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((key, value)) = item.split_once('=') else {
                return Err(FaultsParseError::NotKeyValue(item.to_string()));
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "fail" => faults.fail = probability(key, value)?,
                "drop_after_commit" => faults.drop_after_commit = probability(key, value)?,
                "delay_ms" => {
                    faults.delay_ms = whole(key, value, "a whole number of milliseconds")?
                }
                "retry_after" => {
                    faults.retry_after = Some(whole(key, value, "a whole number of seconds")?)
                }
                "seed" => faults.seed = Some(whole(key, value, "a whole number")?),
                "status" => {
                    let status: u16 = whole(key, value, "an HTTP error status 400..=599")?;
                    if !(400..=599).contains(&status) {
                        return Err(FaultsParseError::BadValue {
                            key: key.to_string(),
                            value: value.to_string(),
                            expected: "an HTTP error status 400..=599",
                        });
                    }
                    faults.status = status;
                }
                other => return Err(FaultsParseError::UnknownKey(other.to_string())),
            }
        }
        Ok(faults)
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fail={},delay_ms={},drop_after_commit={},status={}",
            self.fail, self.delay_ms, self.drop_after_commit, self.status
        )?;
        if let Some(s) = self.retry_after {
            write!(f, ",retry_after={s}")?;
        }
        if let Some(s) = self.seed {
            write!(f, ",seed={s}")?;
        }
        Ok(())
    }
}

/// The seedable dice that decide whether a fault fires.
#[derive(Debug)]
pub struct FaultDice {
    rng: Mutex<StdRng>,
}

impl FaultDice {
    pub fn new(seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        FaultDice {
            rng: Mutex::new(rng),
        }
    }

    /// True with probability `p` (always false for 0, always true for 1).
    pub fn roll(&self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        let mut rng = match self.rng.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        rng.gen::<f64>() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_spec() {
        let f: Faults = "fail=0.3,delay_ms=2000,drop_after_commit=0.1,status=503,retry_after=1"
            .parse()
            .unwrap();
        assert_eq!(f.fail, 0.3);
        assert_eq!(f.delay_ms, 2000);
        assert_eq!(f.drop_after_commit, 0.1);
        assert_eq!(f.status, 503);
        assert_eq!(f.retry_after, Some(1));
        assert!(f.is_active());
        let again: Faults = f.to_string().parse().unwrap();
        assert_eq!(again, f);
    }

    #[test]
    fn empty_spec_is_no_fault() {
        let f: Faults = "".parse().unwrap();
        assert_eq!(f, Faults::none());
        assert!(!f.is_active());
    }

    #[test]
    fn errors_name_the_bad_key_or_value() {
        let e = "fail=2".parse::<Faults>().unwrap_err();
        assert!(
            e.to_string().contains("`2`") && e.to_string().contains("`fail`"),
            "{e}"
        );
        let e = "boom=1".parse::<Faults>().unwrap_err();
        assert_eq!(e, FaultsParseError::UnknownKey("boom".into()));
        let e = "delay_ms".parse::<Faults>().unwrap_err();
        assert_eq!(e, FaultsParseError::NotKeyValue("delay_ms".into()));
        let e = "status=200".parse::<Faults>().unwrap_err();
        assert!(e.to_string().contains("status"), "{e}");
        let e = "delay_ms=-5".parse::<Faults>().unwrap_err();
        assert!(e.to_string().contains("-5"), "{e}");
    }

    #[test]
    fn dice_are_seedable_and_respect_extremes() {
        let a = FaultDice::new(Some(7));
        let b = FaultDice::new(Some(7));
        let ra: Vec<bool> = (0..64).map(|_| a.roll(0.5)).collect();
        let rb: Vec<bool> = (0..64).map(|_| b.roll(0.5)).collect();
        assert_eq!(ra, rb);
        assert!(ra.iter().any(|x| *x) && ra.iter().any(|x| !*x));
        assert!((0..100).all(|_| a.roll(1.0)));
        assert!((0..100).all(|_| !a.roll(0.0)));
    }
}
