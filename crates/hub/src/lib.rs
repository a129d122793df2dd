//! The reference hub (`cubby hub`): implements `docs/hub-api.md` over axum + rusqlite.
//!
//! This file owns the in-process API used by `cubby demo` and tests ([`start`],
//! [`RunningHub`], [`create_enroll_code`]).
//!
//! - `db`: the SQLite file, schema, center and `pin_key`, revision counter.
//! - `devices`: enrollment codes (expiring), devices, heartbeats, the audit trail.
//! - `ratelimit`: enrollment attempts per client address.
//! - `records`: rooms/staff/families with revs and tombstones; roster answers; import/delete.
//! - `events`: upload judging, peer events, present-now.
//! - `validate`: upload body, `event_id` form and field limits (pure).
//! - `faults`: `--faults` spec and dice.
//! - `qr`: QR signing keys (kid `k1` created with the database) and code minting ([`mint_qr`]).
//! - `routes`: the axum router.
//! - `serve`: the accept loop (connection cap, header-read and write timeouts).
//! - `demo`: the demo center fixtures.
//! - `cli`: `cubby hub …`.

pub mod cli;
pub mod db;
pub mod demo;
pub mod devices;
pub mod error;
pub mod events;
pub mod faults;
pub mod qr;
pub mod ratelimit;
pub mod records;
mod routes;
pub mod serve;
pub mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use db::HubDb;
pub use error::HubError;
pub use faults::{FaultDice, Faults, FaultsParseError};
pub use qr::mint_qr;
pub use records::RecordKind;
pub use serve::ConnLimits;

/// How to run a hub in-process.
#[derive(Debug, Clone)]
pub struct HubOptions {
    pub listen: SocketAddr,
    pub db: PathBuf,
    /// Seed the demo center when the database's roster is empty.
    pub seed_demo: bool,
    pub faults: Faults,
}

/// A hub serving in the background. Dropping it also stops the server (without waiting).
pub struct RunningHub {
    /// The address actually bound (the real port when asked for port 0).
    pub addr: SocketAddr,
    state: Arc<routes::AppState>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for RunningHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningHub")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RunningHub {
    /// `http://ADDR`, the base URL kiosks are configured with.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop accepting, let requests in flight finish (at most 5 s), then return.
    pub async fn shutdown(self) {
        // Held peer-event requests (long-poll) answer now instead of at the end of their wait.
        self.state
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.state.events_stored.notify_waiters();
        let _ = self.stop.send(());
        let mut task = self.task;
        match tokio::time::timeout(Duration::from_secs(5), &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "hub server ended with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "hub server task failed"),
            Err(_) => {
                tracing::warn!("hub did not stop within 5 s; aborting open connections");
                task.abort();
            }
        }
    }
}

/// Open (or create) the database, seed it if asked, bind `opts.listen` and serve in a
/// background task, with connection limits fitting this process's file limit.
pub async fn start(opts: HubOptions) -> anyhow::Result<RunningHub> {
    start_with_limits(opts, ConnLimits::default()).await
}

/// [`start`] with the connection limits given.
pub async fn start_with_limits(opts: HubOptions, limits: ConnLimits) -> anyhow::Result<RunningHub> {
    let path = opts.db.clone();
    let seed = opts.seed_demo;
    let db = tokio::task::spawn_blocking(move || -> anyhow::Result<HubDb> {
        let mut db = HubDb::open(&path)?;
        if seed && demo::seed_if_empty(&mut db)? {
            tracing::info!(db = %path.display(), "seeded the demo center");
        }
        Ok(db)
    })
    .await
    .context("hub database task failed")??;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    if opts.faults.is_active() {
        tracing::warn!(faults = %opts.faults, "fault injection is on");
    }
    let state = Arc::new(routes::AppState {
        db: Mutex::new(db),
        dice: FaultDice::new(opts.faults.seed),
        faults: opts.faults,
        enroll_limiter: ratelimit::RateLimiter::default(),
        body_timeout: limits.body_timeout,
        events_stored: tokio::sync::Notify::new(),
        stopping: std::sync::atomic::AtomicBool::new(false),
    });
    let app = routes::router(Arc::clone(&state));
    let (stop, stopped) = oneshot::channel::<()>();
    tracing::debug!(?limits, "connection limits");
    let task = tokio::spawn(serve::serve(listener, app, limits, stopped));
    Ok(RunningHub {
        addr,
        state,
        stop,
        task,
    })
}

/// Create a one-time enrollment code in the hub database at `db` (created if missing).
pub fn create_enroll_code(db: &Path) -> anyhow::Result<String> {
    Ok(HubDb::open(db)?.create_enroll_code()?)
}
