//! systemd integration: `sd_notify` READY / STATUS / WATCHDOG / STOPPING, the watchdog
//! interval, and an optional journald logging layer.
//!
//! `systemd/cubby.service` is `Type=notify` with `WatchdogSec=30`:
//!
//! - call [`notify_ready`] once the kiosk is *accepting input* (not merely started);
//! - call [`notify_watchdog`] from the **UI thread** at [`watchdog_interval`] (half of
//!   `WATCHDOG_USEC`), so a frozen screen stops the pings and systemd restarts us;
//! - [`notify_status`] sets the one-line text `systemctl status cubby` shows;
//! - [`notify_stopping`] at the start of a graceful shutdown.
//!
//! Every function is a harmless no-op when not started by systemd (no `NOTIFY_SOCKET`),
//! so `cubby demo`, tests and a technician's shell behave the same. Send failures are
//! logged, never returned: a notification must never take the kiosk down.
//!
//! A thin wrapper over the `sd-notify` crate (small, dependency-free, pure Rust).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// Tells systemd the service is up and accepting input (`READY=1`).
pub fn notify_ready() {
    send(&[NotifyState::Ready], "READY");
}

/// Sets the status line shown by `systemctl status` (`STATUS=…`). Newlines are
/// replaced by spaces: the protocol is one assignment per line.
pub fn notify_status(msg: &str) {
    let line = one_line(msg);
    send(&[NotifyState::Status(&line)], "STATUS");
}

/// Pings the watchdog (`WATCHDOG=1`). Call from the thread whose liveness matters.
pub fn notify_watchdog() {
    send(&[NotifyState::Watchdog], "WATCHDOG");
}

/// Tells systemd a graceful shutdown has begun (`STOPPING=1`).
pub fn notify_stopping() {
    send(&[NotifyState::Stopping], "STOPPING");
}

/// How often to call [`notify_watchdog`]: half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3)
/// recommends. `None` when systemd enabled no watchdog for this process (no or zero
/// `WATCHDOG_USEC`, or `WATCHDOG_PID` naming another process).
pub fn watchdog_interval() -> Option<Duration> {
    half_of(sd_notify::watchdog_enabled())
}

/// A `tracing` layer writing structured entries to the journal, or `None` when the
/// journal is not reachable (not under systemd, or in a container without it).
///
/// Every entry carries `SYSLOG_IDENTIFIER=cubby` and, once provisioned,
/// `CUBBY_DEVICE_ID=<device id>`, so `journalctl -u cubby CUBBY_DEVICE_ID=dev_01`
/// filters by device on a central journal. Use it only when stderr is not already the
/// journal ([`stderr_is_journal`]) or in addition to a plain fmt layer.
pub fn journald_layer(device_id: Option<&str>) -> Option<tracing_journald::Layer> {
    let layer = tracing_journald::layer()
        .ok()?
        .with_syslog_identifier(SYSLOG_IDENTIFIER.to_owned());
    Some(layer.with_custom_fields(journald_fields(device_id)))
}

/// `SYSLOG_IDENTIFIER` of every journal entry (`journalctl -t cubby`).
pub const SYSLOG_IDENTIFIER: &str = "cubby";

/// The journal field that names the device (`journalctl CUBBY_DEVICE_ID=dev_01`).
pub const DEVICE_ID_FIELD: &str = "CUBBY_DEVICE_ID";

/// The extra fields [`journald_layer`] adds to every entry: the device id once known.
/// A blank id adds nothing (an empty field would only confuse `journalctl` filters).
pub fn journald_fields(device_id: Option<&str>) -> Vec<(&'static str, Vec<u8>)> {
    device_id
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| vec![(DEVICE_ID_FIELD, id.as_bytes().to_vec())])
        .unwrap_or_default()
}

type DeviceIdHook = Box<dyn Fn(&str) + Send + Sync>;
static DEVICE_ID_HOOK: std::sync::OnceLock<DeviceIdHook> = std::sync::OnceLock::new();

/// Registers what to do when the device id becomes known while running (the kiosk was
/// provisioned from its screen): `main` swaps in a journald layer carrying the id. Only
/// the first registration counts.
pub fn on_device_id(hook: impl Fn(&str) + Send + Sync + 'static) {
    let _ = DEVICE_ID_HOOK.set(Box::new(hook));
}

/// The device id is now known (provisioning just finished): runs the registered hook.
pub fn device_id_known(device_id: &str) {
    if let Some(hook) = DEVICE_ID_HOOK.get() {
        hook(device_id);
    }
}

/// `true` when systemd connected stderr to the journal (`JOURNAL_STREAM` is set): the
/// process was started as a service, and [`journald_layer`] is the better sink.
pub fn stderr_is_journal() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some()
}

fn send(states: &[NotifyState<'_>], what: &str) {
    if let Err(err) = sd_notify::notify(states) {
        tracing::warn!(%err, "sd_notify {what} could not be sent to systemd");
    }
}

fn half_of(interval: Option<Duration>) -> Option<Duration> {
    interval.filter(|d| !d.is_zero()).map(|d| d / 2)
}

fn one_line(msg: &str) -> String {
    msg.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;
    use std::sync::Mutex;

    /// The tests below change process-wide environment variables: one at a time.
    static ENV_LOCK: Mutex<()> = Mutex::new(());

    const ENV_VARS: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

    /// Saves and restores the variables this module reads, even if a test panics.
    struct EnvGuard(Vec<(&'static str, Option<std::ffi::OsString>)>);

    impl EnvGuard {
        fn new() -> Self {
            Self(ENV_VARS.iter().map(|k| (*k, std::env::var_os(k))).collect())
        }
    }

    impl Drop for EnvGuard {
        fn drop(&mut self) {
            for (k, v) in &self.0 {
                match v {
                    Some(v) => std::env::set_var(k, v),
                    None => std::env::remove_var(k),
                }
            }
        }
    }

    fn lock() -> std::sync::MutexGuard<'static, ()> {
        ENV_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).expect("a notification datagram");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn notify_functions_are_no_ops_without_notify_socket() {
        let _l = lock();
        let _g = EnvGuard::new();
        std::env::remove_var("NOTIFY_SOCKET");
        notify_ready();
        notify_status("idle");
        notify_watchdog();
        notify_stopping();
    }

    #[test]
    fn notify_ready_sends_ready_to_the_notify_socket() {
        let _l = lock();
        let _g = EnvGuard::new();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind datagram socket");
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        std::env::set_var("NOTIFY_SOCKET", &path);

        notify_ready();
        assert_eq!(recv(&sock), "READY=1\n");

        notify_status("Queue: 3 events\nwaiting");
        assert_eq!(recv(&sock), "STATUS=Queue: 3 events waiting\n");

        notify_watchdog();
        assert_eq!(recv(&sock), "WATCHDOG=1\n");

        notify_stopping();
        assert_eq!(recv(&sock), "STOPPING=1\n");
    }

    #[test]
    fn a_dead_notify_socket_is_logged_not_fatal() {
        let _l = lock();
        let _g = EnvGuard::new();
        let dir = tempfile::tempdir().expect("tempdir");
        std::env::set_var("NOTIFY_SOCKET", dir.path().join("nobody-listens.sock"));
        notify_ready();
        notify_watchdog();
    }

    #[test]
    fn watchdog_interval_is_half_of_watchdog_usec_for_this_process() {
        let _l = lock();
        let _g = EnvGuard::new();
        std::env::set_var("WATCHDOG_USEC", "30000000");
        std::env::set_var("WATCHDOG_PID", std::process::id().to_string());
        assert_eq!(watchdog_interval(), Some(Duration::from_secs(15)));

        std::env::remove_var("WATCHDOG_PID");
        assert_eq!(watchdog_interval(), Some(Duration::from_secs(15)));
    }

    #[test]
    fn no_watchdog_when_unset_zero_garbage_or_meant_for_another_process() {
        let _l = lock();
        let _g = EnvGuard::new();
        std::env::remove_var("WATCHDOG_USEC");
        std::env::remove_var("WATCHDOG_PID");
        assert_eq!(watchdog_interval(), None);

        std::env::set_var("WATCHDOG_USEC", "0");
        assert_eq!(watchdog_interval(), None);

        std::env::set_var("WATCHDOG_USEC", "thirty seconds");
        assert_eq!(watchdog_interval(), None);

        std::env::set_var("WATCHDOG_USEC", "30000000");
        std::env::set_var("WATCHDOG_PID", (std::process::id() + 1).to_string());
        assert_eq!(watchdog_interval(), None);
    }

    #[test]
    fn journal_entries_carry_the_device_id_once_known() {
        assert_eq!(
            journald_fields(Some("dev_01")),
            vec![(DEVICE_ID_FIELD, b"dev_01".to_vec())]
        );
        assert_eq!(DEVICE_ID_FIELD, "CUBBY_DEVICE_ID");
        assert!(journald_fields(None).is_empty());
        assert!(journald_fields(Some("  ")).is_empty());
    }

    #[test]
    fn device_id_known_reaches_the_registered_hook() {
        static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
        on_device_id(|id| SEEN.lock().unwrap().push(id.to_string()));
        device_id_known("dev_09");
        assert!(SEEN.lock().unwrap().contains(&"dev_09".to_string()));
    }

    #[test]
    fn status_text_is_kept_on_one_line() {
        assert_eq!(one_line("a\nb\r\nc"), "a b  c");
        assert_eq!(
            half_of(Some(Duration::from_secs(30))),
            Some(Duration::from_secs(15))
        );
        assert_eq!(half_of(Some(Duration::ZERO)), None);
    }
}

/// Who pings the watchdog: the kiosk task (headless) or the UI thread (touch UI).
static VIEW_OWNS_WATCHDOG: AtomicBool = AtomicBool::new(false);
/// When the kiosk task's loop last ran, in ms since [`epoch`] (+1, so 0 = never).
static LAST_BEAT_MS: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// The touch UI pings the watchdog from its thread; the kiosk task then only beats.
pub fn set_watchdog_owner_view() {
    VIEW_OWNS_WATCHDOG.store(true, Ordering::SeqCst);
}

/// True once a view (the touch UI) took over the watchdog pings.
pub fn view_owns_watchdog() -> bool {
    VIEW_OWNS_WATCHDOG.load(Ordering::SeqCst)
}

/// The kiosk task's loop ran (called every iteration, at least once a second).
pub fn kiosk_beat() {
    let ms = epoch().elapsed().as_millis() as u64 + 1;
    LAST_BEAT_MS.store(ms, Ordering::SeqCst);
}

/// Did the kiosk task's loop run within `window`? (The UI pings the watchdog only then.)
pub fn kiosk_beat_within(window: Duration) -> bool {
    let now = epoch().elapsed().as_millis() as u64 + 1;
    beat_within(LAST_BEAT_MS.load(Ordering::SeqCst), now, window)
}

/// `last` and `now` in ms (+1; 0 = never beaten).
fn beat_within(last: u64, now: u64, window: Duration) -> bool {
    last != 0 && now.saturating_sub(last) <= window.as_millis() as u64
}

#[cfg(test)]
mod liveness_tests {
    use super::*;

    #[test]
    fn a_beat_counts_only_within_the_window() {
        let w = Duration::from_secs(30);
        assert!(!beat_within(0, 10, w), "never beaten");
        assert!(beat_within(1_000, 31_000, w));
        assert!(
            !beat_within(1_000, 31_001, w),
            "stale: the kiosk task is stuck"
        );
        kiosk_beat();
        assert!(kiosk_beat_within(Duration::from_secs(60)));
    }
}
