//! The kiosk with its touch window: the Slint event loop on the main thread, the kiosk
//! task on tokio, and the two bridges between them:
//!
//! - frames from [`crate::runtime::run_kiosk`] reach the UI thread through
//!   `slint::invoke_from_event_loop`, coalesced so a burst draws only the newest frame;
//! - taps and keys go back as inputs through [`cubby_ui::Bridge`].
//!
//! The UI thread pings the systemd watchdog while the kiosk task is alive, so a frozen
//! screen or a stuck kiosk task gets the service restarted.

use std::sync::{Arc, Mutex};

use slint::ComponentHandle;
use tokio::sync::{mpsc, watch};

use crate::clock::ClockSource;
use crate::config::Config;
use crate::kiosk::frame::Frame;
use crate::kiosk::Input;
use cubby_ui::{show, Bridge};

/// How the window is shown.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WindowOptions {
    /// Fill the screen (the kiosk on a Pi); a desktop window otherwise.
    pub fullscreen: bool,
    /// Window size in physical pixels (e.g. 1280×800); the design size 800×480 otherwise.
    pub size: Option<(u32, u32)>,
    /// Also take headless-protocol commands on stdin (docs/headless.md) while the window
    /// is shown: scripts/screenshots.sh drives the demo this way.
    pub drive_stdin: bool,
}

/// Run the kiosk with the touch UI until the window closes or the process is asked to
/// stop. Must be called on the main thread from inside a multi-threaded tokio runtime
/// (use `tokio::task::block_in_place`).
pub fn run_window(
    cfg: Config,
    clock: Arc<dyn ClockSource>,
    opts: WindowOptions,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Handle::current();
    let stop = {
        // Signals are watched from here on (registration needs the runtime's context).
        let _entered = rt.enter();
        crate::shutdown::requested()
    };
    let (in_tx, in_rx) = mpsc::channel::<Vec<Input>>(64);
    let (frame_tx, mut frame_rx) = mpsc::unbounded_channel::<Frame>();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    if opts.drive_stdin {
        // Headless-protocol commands on stdin become inputs, as if tapped.
        rt.spawn(crate::runtime::headless::feed_commands(
            tokio::io::stdin(),
            in_tx.clone(),
            |e| async move { eprintln!("cubby: {e}") },
        ));
    }
    let send = move |inputs: Vec<Input>| {
        // Never block the UI thread: a full queue means the kiosk is far behind a human.
        if let Err(e) = in_tx.try_send(inputs) {
            tracing::warn!("tap dropped, the kiosk is busy: {e}");
        }
    };
    let bridge = Bridge::new(send)?;
    if let Some((w, h)) = opts.size {
        bridge
            .window
            .window()
            .set_size(slint::PhysicalSize::new(w, h));
    }
    if opts.fullscreen {
        bridge.window.window().set_fullscreen(true);
    }

    let kiosk = rt.spawn(crate::runtime::run_kiosk(
        cfg,
        clock,
        in_rx,
        frame_tx,
        shutdown_rx,
    ));

    // Frames → UI thread, newest wins.
    let pending: Arc<Mutex<Option<Frame>>> = Arc::new(Mutex::new(None));
    let weak = bridge.window.as_weak();
    let form = bridge.form.clone();
    rt.spawn(async move {
        while let Some(frame) = frame_rx.recv().await {
            let was_empty = match pending.lock() {
                Ok(mut slot) => slot.replace(frame).is_none(),
                Err(_) => break,
            };
            if !was_empty {
                continue;
            }
            let pending = pending.clone();
            let weak = weak.clone();
            let form = form.clone();
            let posted = slint::invoke_from_event_loop(move || {
                let frame = pending.lock().ok().and_then(|mut s| s.take());
                if let (Some(frame), Some(w)) = (frame, weak.upgrade()) {
                    show(&w, &form, &frame);
                }
            });
            if posted.is_err() {
                break; // the event loop has ended
            }
        }
        // The kiosk task ended (or failed): close the window so the process exits and
        // systemd restarts it.
        let _ = slint::quit_event_loop();
    });

    // The watchdog is pinged from this (UI) thread, and only while the kiosk task's loop
    // keeps beating (it runs at least once a second).
    crate::systemd::set_watchdog_owner_view();
    let watchdog = slint::Timer::default();
    if let Some(every) = crate::systemd::watchdog_interval() {
        watchdog.start(slint::TimerMode::Repeated, every, move || {
            if crate::systemd::kiosk_beat_within(every * 2) {
                crate::systemd::notify_watchdog();
            }
        });
    }

    // SIGTERM / SIGINT end the event loop like closing the window.
    rt.spawn(async move {
        stop.await;
        let _ = slint::quit_event_loop();
    });

    let shown = bridge
        .window
        .run()
        .map_err(|e| anyhow::anyhow!("the kiosk window failed: {e}"));
    let _ = shutdown_tx.send(true);
    drop(bridge);
    let result = rt.block_on(kiosk);
    shown?;
    match result {
        Ok(r) => r,
        Err(e) => Err(anyhow::anyhow!("the kiosk task failed: {e}")),
    }
}
