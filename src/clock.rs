//! Clock-sync detection: is the system clock NTP-synchronized?
//!
//! A Raspberry Pi has no battery-backed clock: after a power cut it boots with the
//! time of its last shutdown (fake-hwclock) until NTP catches up, and a kiosk without
//! network may run like that for hours. Events recorded meanwhile carry
//! `clock_synced: false` so the hub can flag their times as doubtful.
//!
//! This module only *labels*. Nothing may ever be refused because the clock is not
//! synchronized: a parent checking a child in at 07:02 must not be turned away by NTP.
//!
//! - [`ClockSource`]: the seam the kiosk asks; inject [`FixedClock`] in tests.
//! - [`KernelClock`]: asks the kernel via `adjtimex(2)` with `modes = 0` (read-only,
//!   needs no privilege). The decision itself is the pure [`synced_from_adjtimex`],
//!   unit-tested with injected return values and status bits.

/// Answers "is the wall clock trustworthy right now?".
pub trait ClockSource: Send + Sync {
    /// `true` when the system clock is synchronized to a time source (NTP/chrony/
    /// systemd-timesyncd). Cheap enough to call once per recorded event.
    fn synced(&self) -> bool;
}

impl<T: ClockSource + ?Sized> ClockSource for std::sync::Arc<T> {
    fn synced(&self) -> bool {
        (**self).synced()
    }
}

impl<T: ClockSource + ?Sized> ClockSource for Box<T> {
    fn synced(&self) -> bool {
        (**self).synced()
    }
}

/// The kernel's view of the clock, read with `adjtimex(2)` (modes 0: read-only).
///
/// Time daemons (systemd-timesyncd, chrony, ntpd) clear `STA_UNSYNC` once they have
/// disciplined the clock; the kernel sets it again when nobody has updated it for a
/// while. That is the same signal `timedatectl` reports as "System clock synchronized".
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelClock;

impl ClockSource for KernelClock {
    fn synced(&self) -> bool {
        let (ret, status) = read_adjtimex();
        synced_from_adjtimex(ret, status)
    }
}

/// A clock whose answer is fixed: for tests and the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedClock(pub bool);

impl ClockSource for FixedClock {
    fn synced(&self) -> bool {
        self.0
    }
}

/// Pure decision from what `adjtimex(2)` returned.
///
/// `ret` is the call's return value: `-1` on failure, else the clock state
/// (`TIME_OK`, `TIME_INS`, `TIME_DEL`, `TIME_OOP`, `TIME_WAIT` or `TIME_ERROR`).
/// `status` is `timex.status`. Synchronized means: the call succeeded, the state is
/// not `TIME_ERROR`, and `STA_UNSYNC` is clear. A pending leap second
/// (`TIME_INS`/`TIME_DEL`/`TIME_OOP`/`TIME_WAIT`) is still a synchronized clock.
pub fn synced_from_adjtimex(ret: i32, status: i32) -> bool {
    ret != -1 && ret != TIME_ERROR && status & STA_UNSYNC == 0
}

#[cfg(target_os = "linux")]
const TIME_ERROR: i32 = libc::TIME_ERROR;
#[cfg(target_os = "linux")]
const STA_UNSYNC: i32 = libc::STA_UNSYNC;
#[cfg(not(target_os = "linux"))]
const TIME_ERROR: i32 = 5;
#[cfg(not(target_os = "linux"))]
const STA_UNSYNC: i32 = 0x0040;

/// Calls `adjtimex` read-only; returns `(return value, status bits)`.
#[cfg(target_os = "linux")]
fn read_adjtimex() -> (i32, i32) {
    // SAFETY: `timex` is a plain C struct for which all-zero bytes are a valid value;
    // `modes = 0` asks the kernel only to fill it in, changing nothing.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    tx.modes = 0;
    // SAFETY: `tx` is a valid, exclusively borrowed `timex` for the whole call.
    let ret = unsafe { libc::adjtimex(&mut tx) };
    (ret, tx.status)
}

/// Not Linux: no way to ask, so say "not synchronized" (the honest label).
#[cfg(not(target_os = "linux"))]
fn read_adjtimex() -> (i32, i32) {
    (-1, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIME_OK: i32 = 0;
    const TIME_INS: i32 = 1;
    const TIME_WAIT: i32 = 4;
    const STA_PLL: i32 = 0x0001;
    const STA_NANO: i32 = 0x2000;

    #[test]
    fn synced_when_ok_and_unsync_bit_clear() {
        assert!(synced_from_adjtimex(TIME_OK, STA_PLL | STA_NANO));
        assert!(synced_from_adjtimex(TIME_OK, 0));
    }

    #[test]
    fn not_synced_when_unsync_bit_set() {
        assert!(!synced_from_adjtimex(TIME_OK, STA_UNSYNC));
        assert!(!synced_from_adjtimex(
            TIME_OK,
            STA_UNSYNC | STA_PLL | STA_NANO
        ));
    }

    #[test]
    fn not_synced_in_time_error_state_even_with_clear_status() {
        assert!(!synced_from_adjtimex(TIME_ERROR, 0));
        assert!(!synced_from_adjtimex(TIME_ERROR, STA_UNSYNC));
    }

    #[test]
    fn not_synced_when_the_call_fails() {
        assert!(!synced_from_adjtimex(-1, 0));
    }

    #[test]
    fn pending_leap_second_is_still_synced() {
        assert!(synced_from_adjtimex(TIME_INS, STA_PLL));
        assert!(synced_from_adjtimex(TIME_WAIT, 0));
    }

    #[test]
    fn fixed_clock_answers_what_it_was_given() {
        assert!(FixedClock(true).synced());
        assert!(!FixedClock(false).synced());
    }

    #[test]
    fn clock_sources_work_behind_arc_and_box() {
        let shared: std::sync::Arc<dyn ClockSource> = std::sync::Arc::new(FixedClock(true));
        assert!(shared.synced());
        let boxed: Box<dyn ClockSource> = Box::new(FixedClock(false));
        assert!(!boxed.synced());
    }

    #[test]
    fn kernel_clock_can_be_asked_without_privilege() {
        // The answer depends on this machine's NTP state; the call itself must not
        // fail or panic (modes 0 is read-only and needs no capability).
        let (ret, _status) = read_adjtimex();
        assert_ne!(
            ret,
            -1,
            "adjtimex(modes=0) failed: {}",
            std::io::Error::last_os_error()
        );
        let _ = KernelClock.synced();
    }
}
