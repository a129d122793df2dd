//! [`FingerprintService`]: the thread that owns the fingerprint reader. It opens the reader
//! (and reopens it every few seconds while it is missing or broken), scans for fingers when
//! scanning is on, publishes [`FingerprintEvent`]s and the reader's [`DeviceStatus`], and
//! runs enroll/delete/count/… requests one at a time between scans.
//!
//! Why a plain thread: serial I/O is blocking and a scan or an enrollment takes from
//! milliseconds to tens of seconds; nothing here may ever run on the UI thread or stall a
//! tokio worker. The thread talks to the async world through tokio channels: events on an
//! unbounded mpsc, status on a watch, request results on oneshots (await them, or call
//! [`Pending::wait_blocking`] from a non-async thread).

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc as tmpsc, oneshot, watch};

use super::driver::{R30x, ReaderConfig};
use super::{
    Confirmation, DeviceStatus, EnrollProgress, FingerprintError, FingerprintReader, LedState,
    Match, Scan, Slot,
};

/// Opens a reader; called again after every failure, `reopen_every` apart.
pub type Opener =
    Box<dyn FnMut() -> Result<Box<dyn FingerprintReader>, FingerprintError> + Send + 'static>;

/// Timing of the service.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// Pause between attempts to (re)open a missing or failed reader.
    pub reopen_every: Duration,
    /// Pause between two scans while scanning.
    pub scan_every: Duration,
    /// Scan for fingers from the start (else wait for [`FingerprintService::set_scanning`]).
    pub scanning: bool,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            reopen_every: Duration::from_secs(3),
            scan_every: Duration::from_millis(200),
            scanning: true,
        }
    }
}

/// What the service reports to the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FingerprintEvent {
    /// The reader's status changed (`ok`, `absent`, `fault: …`).
    Status(DeviceStatus),
    /// A finger was recognized (once per placement).
    Identified(Match),
    /// A finger was read but is not enrolled or scored under the threshold (once per
    /// placement).
    NotRecognized,
    /// Three unusable images in a row for the same placement.
    BadImage(Confirmation),
    /// A step of the enrollment in progress.
    Enroll(EnrollProgress),
}

enum Request {
    Enroll(usize, oneshot::Sender<Result<Slot, FingerprintError>>),
    Delete(Slot, oneshot::Sender<Result<(), FingerprintError>>),
    Empty(oneshot::Sender<Result<(), FingerprintError>>),
    Count(oneshot::Sender<Result<u16, FingerprintError>>),
    Slots(oneshot::Sender<Result<Vec<Slot>, FingerprintError>>),
    Led(LedState, oneshot::Sender<Result<(), FingerprintError>>),
    Scanning(bool),
    Shutdown,
}

/// The result of a request, once the service thread gets to it.
pub struct Pending<T>(oneshot::Receiver<Result<T, FingerprintError>>);

impl<T> Pending<T> {
    /// Waits asynchronously.
    pub async fn wait(self) -> Result<T, FingerprintError> {
        self.0.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Waits on a plain thread (panics inside an async runtime: use [`Pending::wait`]).
    pub fn wait_blocking(self) -> Result<T, FingerprintError> {
        self.0.blocking_recv().unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> FingerprintError {
    FingerprintError::Disconnected("the fingerprint service stopped".into())
}

/// Handle to the reader thread. Dropping it stops the thread (after the current request).
pub struct FingerprintService {
    tx: mpsc::Sender<Request>,
    status: watch::Receiver<DeviceStatus>,
    thread: Option<JoinHandle<()>>,
}

impl FingerprintService {
    /// Starts the thread with any reader `opener`; events go to `events`.
    pub fn spawn(
        opener: Opener,
        options: ServiceOptions,
        events: tmpsc::UnboundedSender<FingerprintEvent>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let (status_tx, status) = watch::channel(DeviceStatus::Absent);
        let worker = Worker {
            opener,
            scanning: options.scanning,
            options,
            events,
            status: status_tx,
            reader: None,
            next_open: Instant::now(),
            last_scan: Instant::now(),
            finger_down: false,
            bad_images: 0,
            soft_errors: 0,
        };
        let thread = thread::Builder::new()
            .name("fingerprint".into())
            .spawn(move || worker.run(rx))?;
        Ok(FingerprintService {
            tx,
            status,
            thread: Some(thread),
        })
    }

    /// Starts the thread on the serial driver with `config`.
    pub fn serial(
        config: ReaderConfig,
        options: ServiceOptions,
        events: tmpsc::UnboundedSender<FingerprintEvent>,
    ) -> std::io::Result<Self> {
        let opener: Opener = Box::new(move || {
            R30x::open(&config).map(|r| Box::new(r) as Box<dyn FingerprintReader>)
        });
        Self::spawn(opener, options, events)
    }

    /// The reader's status now (`ok` / `absent` / `fault: …`, see its `Display`).
    pub fn status(&self) -> DeviceStatus {
        self.status.borrow().clone()
    }

    /// Turns finger scanning on or off (off while the door screen does not want a finger).
    pub fn set_scanning(&self, on: bool) {
        let _ = self.tx.send(Request::Scanning(on));
    }

    fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, FingerprintError>>) -> Request,
    ) -> Pending<T> {
        let (reply, rx) = oneshot::channel();
        // If the thread is gone the reply sender drops and the Pending reports it.
        let _ = self.tx.send(make(reply));
        Pending(rx)
    }

    /// Enrolls a finger from `captures` captures; steps arrive as
    /// [`FingerprintEvent::Enroll`]. Resolves to the slot.
    pub fn enroll(&self, captures: usize) -> Pending<Slot> {
        self.request(|r| Request::Enroll(captures, r))
    }

    /// Deletes a slot.
    pub fn delete(&self, slot: Slot) -> Pending<()> {
        self.request(|r| Request::Delete(slot, r))
    }

    /// Deletes every template.
    pub fn empty(&self) -> Pending<()> {
        self.request(Request::Empty)
    }

    /// Number of stored templates.
    pub fn template_count(&self) -> Pending<u16> {
        self.request(Request::Count)
    }

    /// The slots in use.
    pub fn enrolled_slots(&self) -> Pending<Vec<Slot>> {
        self.request(Request::Slots)
    }

    /// Sets the ring LED.
    pub fn led(&self, state: LedState) -> Pending<()> {
        self.request(|r| Request::Led(state, r))
    }
}

impl Drop for FingerprintService {
    fn drop(&mut self) {
        let _ = self.tx.send(Request::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    opener: Opener,
    options: ServiceOptions,
    events: tmpsc::UnboundedSender<FingerprintEvent>,
    status: watch::Sender<DeviceStatus>,
    reader: Option<Box<dyn FingerprintReader>>,
    next_open: Instant,
    last_scan: Instant,
    scanning: bool,
    finger_down: bool,
    bad_images: u32,
    soft_errors: u32,
}

/// Module errors in a row (not connection losses) before the reader is reopened.
const MAX_SOFT_ERRORS: u32 = 3;

impl Worker {
    fn run(mut self, rx: mpsc::Receiver<Request>) {
        loop {
            let now = Instant::now();
            if self.reader.is_none() && now >= self.next_open {
                self.connect();
            }
            let wait = match (&self.reader, self.scanning) {
                (Some(_), true) => (self.last_scan + self.options.scan_every)
                    .saturating_duration_since(Instant::now()),
                (Some(_), false) => Duration::from_secs(1),
                (None, _) => self.next_open.saturating_duration_since(Instant::now()),
            };
            match rx.recv_timeout(wait) {
                Ok(Request::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    if let Some(r) = &mut self.reader {
                        let _ = r.led(LedState::Off);
                    }
                    return;
                }
                Ok(request) => self.handle(request),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self.scanning
                && self.reader.is_some()
                && self.last_scan.elapsed() >= self.options.scan_every
            {
                self.scan();
            }
        }
    }

    fn set_status(&mut self, status: DeviceStatus) {
        if *self.status.borrow() != status {
            match &status {
                DeviceStatus::Ok => tracing::info!("fingerprint reader ok"),
                other => tracing::warn!(status = %other, "fingerprint reader not available"),
            }
            self.status.send_replace(status.clone());
            let _ = self.events.send(FingerprintEvent::Status(status));
        }
    }

    fn connect(&mut self) {
        match (self.opener)() {
            Ok(mut reader) => {
                if self.scanning {
                    let _ = reader.led(LedState::Idle);
                }
                self.reader = Some(reader);
                self.soft_errors = 0;
                self.finger_down = false;
                self.set_status(DeviceStatus::Ok);
            }
            Err(e) => {
                tracing::debug!(error = %e, "fingerprint reader open failed");
                self.set_status(e.status());
                self.next_open = Instant::now() + self.options.reopen_every;
            }
        }
    }

    /// Books an error: connection losses (and repeated module errors) drop the reader so
    /// it is reopened `reopen_every` later.
    fn failed(&mut self, e: &FingerprintError) {
        if e.is_connection_lost() {
            self.soft_errors = 0;
        } else {
            self.soft_errors += 1;
            tracing::warn!(error = %e, "fingerprint reader error");
            if self.soft_errors < MAX_SOFT_ERRORS {
                return;
            }
        }
        self.reader = None;
        self.set_status(e.status());
        self.next_open = Instant::now() + self.options.reopen_every;
    }

    fn with_reader<T>(
        &mut self,
        f: impl FnOnce(&mut dyn FingerprintReader) -> Result<T, FingerprintError>,
    ) -> Result<T, FingerprintError> {
        let Some(reader) = self.reader.as_deref_mut() else {
            return Err(FingerprintError::Disconnected(format!(
                "reader not available: {}",
                *self.status.borrow()
            )));
        };
        let result = f(reader);
        match &result {
            Ok(_) => self.soft_errors = 0,
            Err(e) if is_reader_problem(e) => self.failed(e),
            // About the finger or the request (no match, library full, timeout waiting
            // for a finger…): the reader itself is fine.
            Err(_) => {}
        }
        result
    }

    fn handle(&mut self, request: Request) {
        match request {
            Request::Enroll(captures, reply) => {
                let events = self.events.clone();
                let result = self.with_reader(|r| {
                    r.enroll(captures, &mut |p| {
                        let _ = events.send(FingerprintEvent::Enroll(p));
                    })
                });
                // The finger is probably still there: do not identify it straight away.
                self.finger_down = true;
                let _ = reply.send(result);
            }
            Request::Delete(slot, reply) => {
                let _ = reply.send(self.with_reader(|r| r.delete(slot)));
            }
            Request::Empty(reply) => {
                let _ = reply.send(self.with_reader(|r| r.empty()));
            }
            Request::Count(reply) => {
                let _ = reply.send(self.with_reader(|r| r.template_count()));
            }
            Request::Slots(reply) => {
                let _ = reply.send(self.with_reader(|r| r.enrolled_slots()));
            }
            Request::Led(state, reply) => {
                let _ = reply.send(self.with_reader(|r| r.led(state)));
            }
            Request::Scanning(on) => {
                self.scanning = on;
                let state = if on { LedState::Idle } else { LedState::Off };
                let _ = self.with_reader(|r| r.led(state));
            }
            Request::Shutdown => {}
        }
    }

    fn scan(&mut self) {
        self.last_scan = Instant::now();
        let scan = match self.with_reader(|r| r.scan()) {
            Ok(scan) => scan,
            Err(_) => return,
        };
        let event = match scan {
            Scan::NoFinger => {
                if self.finger_down {
                    let _ = self.with_reader(|r| r.led(LedState::Idle));
                }
                self.finger_down = false;
                self.bad_images = 0;
                return;
            }
            _ if self.finger_down => return,
            Scan::BadImage(code) => {
                self.bad_images += 1;
                if self.bad_images < 3 {
                    return;
                }
                FingerprintEvent::BadImage(code)
            }
            Scan::NoMatch | Scan::BelowThreshold(_) => FingerprintEvent::NotRecognized,
            Scan::Match(m) => FingerprintEvent::Identified(m),
        };
        self.finger_down = true;
        let led = match event {
            FingerprintEvent::Identified(_) => LedState::Success,
            _ => LedState::Failure,
        };
        let _ = self.with_reader(|r| r.led(led));
        let _ = self.events.send(event);
    }
}

/// Errors that say the reader (or the line to it) is unwell, as opposed to the finger or
/// the request.
fn is_reader_problem(e: &FingerprintError) -> bool {
    match e {
        FingerprintError::Module { code, .. } => !is_user_error(*code),
        FingerprintError::Protocol(_) => true,
        other => other.is_connection_lost(),
    }
}

/// Codes that describe the finger or the request, not a sick reader.
fn is_user_error(code: Confirmation) -> bool {
    matches!(
        code,
        Confirmation::NoFinger
            | Confirmation::EnrollFailed
            | Confirmation::ImageMessy
            | Confirmation::FeatureFail
            | Confirmation::NoMatch
            | Confirmation::NotFound
            | Confirmation::MergeFailed
            | Confirmation::BadLocation
            | Confirmation::InvalidImage
            | Confirmation::LibraryFull
            | Confirmation::AlreadyExists
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A scripted reader: scans pop from a queue; errors can be forced.
    struct Fake {
        scans: Arc<Mutex<Vec<Result<Scan, FingerprintError>>>>,
        full: bool,
    }

    impl FingerprintReader for Fake {
        fn scan(&mut self) -> Result<Scan, FingerprintError> {
            let mut q = self.scans.lock().unwrap();
            if q.is_empty() {
                Ok(Scan::NoFinger)
            } else {
                q.remove(0)
            }
        }
        fn enroll(
            &mut self,
            _: usize,
            progress: &mut dyn FnMut(EnrollProgress),
        ) -> Result<Slot, FingerprintError> {
            if self.full {
                return Err(FingerprintError::LibraryFull { capacity: 1 });
            }
            progress(EnrollProgress::Stored { slot: 4 });
            Ok(4)
        }
        fn delete(&mut self, _: Slot) -> Result<(), FingerprintError> {
            Ok(())
        }
        fn empty(&mut self) -> Result<(), FingerprintError> {
            Ok(())
        }
        fn template_count(&mut self) -> Result<u16, FingerprintError> {
            Ok(1)
        }
        fn enrolled_slots(&mut self) -> Result<Vec<Slot>, FingerprintError> {
            Ok(vec![4])
        }
        fn led(&mut self, _: LedState) -> Result<(), FingerprintError> {
            Ok(())
        }
        fn status(&mut self) -> DeviceStatus {
            DeviceStatus::Ok
        }
    }

    fn next_event(rx: &mut tmpsc::UnboundedReceiver<FingerprintEvent>) -> FingerprintEvent {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(e) = rx.try_recv() {
                return e;
            }
            assert!(Instant::now() < deadline, "no event");
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn fast() -> ServiceOptions {
        ServiceOptions {
            reopen_every: Duration::from_millis(30),
            scan_every: Duration::from_millis(5),
            scanning: true,
        }
    }

    #[test]
    fn one_event_per_placement_and_reopen_after_disconnect() {
        let m = Match { slot: 2, score: 99 };
        let scans = Arc::new(Mutex::new(vec![
            Ok(Scan::Match(m)),
            Ok(Scan::Match(m)),
            Ok(Scan::NoFinger),
            Ok(Scan::NoMatch),
            Err(FingerprintError::Disconnected("unplugged".into())),
        ]));
        let opens = Arc::new(Mutex::new(0));
        let (q, n) = (scans.clone(), opens.clone());
        let opener: Opener = Box::new(move || {
            let mut n = n.lock().unwrap();
            *n += 1;
            if *n == 2 {
                return Err(FingerprintError::Open {
                    path: "x".into(),
                    reason: "gone".into(),
                    missing: true,
                });
            }
            Ok(Box::new(Fake {
                scans: q.clone(),
                full: false,
            }) as Box<dyn FingerprintReader>)
        });
        let (tx, mut rx) = tmpsc::unbounded_channel();
        let svc = FingerprintService::spawn(opener, fast(), tx).unwrap();
        assert_eq!(
            next_event(&mut rx),
            FingerprintEvent::Status(DeviceStatus::Ok)
        );
        assert_eq!(next_event(&mut rx), FingerprintEvent::Identified(m));
        assert_eq!(next_event(&mut rx), FingerprintEvent::NotRecognized);
        assert_eq!(
            next_event(&mut rx),
            FingerprintEvent::Status(DeviceStatus::Absent)
        );
        assert_eq!(
            next_event(&mut rx),
            FingerprintEvent::Status(DeviceStatus::Ok)
        );
        assert_eq!(svc.status(), DeviceStatus::Ok);
        assert_eq!(svc.enroll(2).wait_blocking().unwrap(), 4);
        assert_eq!(
            next_event(&mut rx),
            FingerprintEvent::Enroll(EnrollProgress::Stored { slot: 4 })
        );
        assert_eq!(svc.template_count().wait_blocking().unwrap(), 1);
        assert!(*opens.lock().unwrap() >= 3);
    }

    #[test]
    fn requests_while_absent_fail_with_the_status() {
        let opener: Opener = Box::new(|| {
            Err(FingerprintError::Open {
                path: "/dev/x".into(),
                reason: "No such file".into(),
                missing: true,
            })
        });
        let (tx, _rx) = tmpsc::unbounded_channel();
        let svc = FingerprintService::spawn(opener, fast(), tx).unwrap();
        let e = svc.delete(1).wait_blocking().unwrap_err();
        assert!(e.to_string().contains("absent"), "{e}");
        assert_eq!(svc.status(), DeviceStatus::Absent);
    }

    #[test]
    fn request_errors_about_the_finger_keep_the_reader() {
        let opens = Arc::new(Mutex::new(0));
        let n = opens.clone();
        let opener: Opener = Box::new(move || {
            *n.lock().unwrap() += 1;
            Ok(Box::new(Fake {
                scans: Arc::new(Mutex::new(Vec::new())),
                full: true,
            }) as Box<dyn FingerprintReader>)
        });
        let (tx, _rx) = tmpsc::unbounded_channel();
        let svc = FingerprintService::spawn(opener, fast(), tx).unwrap();
        for _ in 0..5 {
            let e = svc.enroll(2).wait_blocking().unwrap_err();
            assert!(matches!(e, FingerprintError::LibraryFull { .. }), "{e}");
        }
        assert_eq!(svc.status(), DeviceStatus::Ok);
        assert_eq!(*opens.lock().unwrap(), 1, "never reopened");
    }
}
