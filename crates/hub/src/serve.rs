//! The hub's HTTP/1.1 accept loop, built so that idle or half-open connections cannot
//! starve real requests (slowloris):
//!
//! - every connection has a header-read timeout, which also bounds how long a kept-alive
//!   connection may sit idle between requests (hyper starts it whenever it waits for a
//!   request head);
//! - a write that makes no progress for a while ends the connection (a client that does not
//!   read its answer);
//! - the number of connections is capped below the process's open-file limit, so `accept`
//!   never runs out of descriptors. At the cap, a new connection **closes the oldest idle
//!   one** (no request in progress: half-open, half a header, or kept alive). Refusing the
//!   newcomer instead would let anyone who holds the cap's worth of silent sockets lock
//!   every door out; closing an idle connection costs a real client at most one reconnect.
//!   Only when every connection is busy with a request is the newcomer refused (closed at
//!   once). A hard cap slightly above the soft one bounds descriptors while evicted
//!   connections wind down.
//!
//! Request bodies are read by the handlers within `body_timeout` (`routes`).

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch, Notify, Semaphore};
use tokio::time::Sleep;

/// Descriptors kept for the database, logs and the runtime.
const FD_RESERVE: u64 = 64;
/// Most connections served at once, whatever the file limit.
const MAX_CONNECTIONS: usize = 1024;

/// Connection limits of one hub server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Connections served at once; at the cap the oldest idle one is closed.
    pub max_connections: usize,
    /// Time a client has to send a complete request head, and the longest a kept-alive
    /// connection may stay idle.
    pub header_timeout: Duration,
    /// A write to the client that makes no progress for this long ends the connection.
    pub write_timeout: Duration,
    /// Time a client has to send a whole request body (408 after; 4 MiB at 1 Mbit/s takes
    /// about 35 s).
    pub body_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits::for_file_limit(open_file_limit())
    }
}

impl ConnLimits {
    /// Limits fitting a process allowed `nofile` open files.
    pub fn for_file_limit(nofile: u64) -> Self {
        let usable = nofile.saturating_sub(FD_RESERVE);
        // The hard cap (soft + a quarter) must fit in what is usable.
        let cap = usize::try_from(usable.saturating_mul(4) / 5).unwrap_or(MAX_CONNECTIONS);
        ConnLimits {
            max_connections: cap.clamp(8, MAX_CONNECTIONS),
            header_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
        }
    }

    fn hard_cap(&self) -> usize {
        self.max_connections + self.max_connections / 4
    }
}

/// The soft `RLIMIT_NOFILE` of this process (1024 when it cannot be read).
pub fn open_file_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if rc == 0 {
        lim.rlim_cur
    } else {
        1024
    }
}

/// One live connection, as the accept loop sees it.
struct Conn {
    /// Requests in progress on it.
    busy: Arc<AtomicUsize>,
    /// Told to close when evicted.
    close: Arc<Notify>,
}

#[derive(Default)]
struct Registry {
    next: u64,
    /// By id, so the first idle one found is the oldest.
    conns: BTreeMap<u64, Conn>,
}

fn lock(r: &Mutex<Registry>) -> std::sync::MutexGuard<'_, Registry> {
    match r.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Make room for one more connection: `None` when every connection is busy.
fn admit(registry: &Mutex<Registry>, cap: usize) -> Option<(u64, Arc<AtomicUsize>, Arc<Notify>)> {
    let mut r = lock(registry);
    if r.conns.len() >= cap {
        let oldest_idle = r
            .conns
            .iter()
            .find(|(_, c)| c.busy.load(Ordering::SeqCst) == 0)
            .map(|(id, _)| *id)?;
        if let Some(evicted) = r.conns.remove(&oldest_idle) {
            evicted.close.notify_one();
        }
    }
    let id = r.next;
    r.next += 1;
    let busy = Arc::new(AtomicUsize::new(0));
    let close = Arc::new(Notify::new());
    r.conns.insert(
        id,
        Conn {
            busy: Arc::clone(&busy),
            close: Arc::clone(&close),
        },
    );
    Some((id, busy, close))
}

/// Counts a request in progress for as long as it lives.
struct BusyGuard(Arc<AtomicUsize>);

impl BusyGuard {
    fn enter(busy: &Arc<AtomicUsize>) -> Self {
        busy.fetch_add(1, Ordering::SeqCst);
        BusyGuard(Arc::clone(busy))
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A TCP stream whose writes fail with `TimedOut` after making no progress for a while.
struct WriteDeadline {
    inner: TcpStream,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl WriteDeadline {
    fn poll_progress<T>(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match r {
            Poll::Ready(v) => {
                self.stalled = None;
                Poll::Ready(v)
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let sleep = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if sleep.as_mut().poll(cx).is_ready() {
                    self.stalled = None;
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "client stopped reading",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncRead for WriteDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.poll_progress(cx, r)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.poll_progress(cx, r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.poll_progress(cx, r)
    }
}

use std::future::Future;

/// Serve `app` on `listener` until `stop` fires, then let requests in progress finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    mut stop: oneshot::Receiver<()>,
) -> io::Result<()> {
    let hard_cap = limits.hard_cap();
    let hard = Arc::new(Semaphore::new(hard_cap));
    let registry = Arc::new(Mutex::new(Registry::default()));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut last_warning: Option<Instant> = None;
    let mut warn = |what: &str, detail: String| {
        // At most one line per 10 s: a flood must not flood the log too.
        if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
            last_warning = Some(Instant::now());
            tracing::warn!(detail, "{what}");
        }
    };
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a transient network error: wait a moment
                    // instead of spinning.
                    warn("cannot accept a connection", e.to_string());
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&hard).try_acquire_owned() else {
            warn(
                "connection refused: too many closing",
                peer.ip().to_string(),
            );
            continue;
        };
        let Some((id, busy, close)) = admit(&registry, limits.max_connections) else {
            warn(
                "connection refused: every connection is busy",
                peer.ip().to_string(),
            );
            continue;
        };
        let app = app.clone();
        let registry = Arc::clone(&registry);
        let shutdown = shutdown_rx.clone();
        tokio::spawn(async move {
            serve_conn(stream, peer, app, limits, &busy, &close, shutdown).await;
            lock(&registry).conns.remove(&id);
            drop(permit);
        });
    }
    drop(listener);
    let _ = shutdown_tx.send(true);
    // Every connection gives its permit back when it ends.
    let all = u32::try_from(hard_cap).unwrap_or(u32::MAX);
    let _ = hard.acquire_many(all).await;
    Ok(())
}

async fn serve_conn(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ConnLimits,
    busy: &Arc<AtomicUsize>,
    close: &Notify,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(WriteDeadline {
        inner: stream,
        timeout: limits.write_timeout,
        stalled: None,
    });
    let in_progress = Arc::clone(busy);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let guard = BusyGuard::enter(&in_progress);
        let mut router = app.clone();
        async move {
            let response = tower_service::Service::call(&mut router, req).await;
            drop(guard);
            response
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        .max_buf_size(64 * 1024);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut winding_down = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(client = %peer.ip(), error = %e, "connection ended");
                }
                return;
            }
            _ = close.notified(), if !winding_down => {
                // Evicted for a newcomer: idle, so simply closed. A request that started
                // meanwhile is finished first.
                if busy.load(Ordering::SeqCst) == 0 {
                    return;
                }
                winding_down = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = shutdown.changed(), if !winding_down => {
                if busy.load(Ordering::SeqCst) == 0 {
                    return;
                }
                winding_down = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_fit_under_the_file_limit() {
        let l = ConnLimits::for_file_limit(256);
        assert!(l.hard_cap() as u64 <= 256 - FD_RESERVE, "{l:?}");
        assert!(l.max_connections >= 100);
        assert_eq!(
            ConnLimits::for_file_limit(u64::MAX).max_connections,
            MAX_CONNECTIONS
        );
        assert_eq!(ConnLimits::for_file_limit(10).max_connections, 8);
    }

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room() {
        let r = Mutex::new(Registry::default());
        let (a, busy_a, _) = admit(&r, 2).unwrap();
        let (b, _, close_b) = admit(&r, 2).unwrap();
        busy_a.fetch_add(1, Ordering::SeqCst);
        // a is busy: b, the oldest idle one, is told to close.
        let (c, busy_c, _) = admit(&r, 2).unwrap();
        let ids: Vec<u64> = lock(&r).conns.keys().copied().collect();
        assert_eq!(ids, vec![a, c]);
        let told = close_b.notified();
        futures_now(told);
        let _ = b;
        // Everyone busy: the newcomer is refused.
        busy_c.fetch_add(1, Ordering::SeqCst);
        assert!(admit(&r, 2).is_none());
    }

    /// Poll a `Notified` once: it must already hold the permit `notify_one` stored.
    fn futures_now(n: tokio::sync::futures::Notified<'_>) {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut n = std::pin::pin!(n);
        assert!(
            n.as_mut().poll(&mut cx).is_ready(),
            "evicted connection told to close"
        );
    }
}
