//! How the process learns it must stop, in one place: SIGTERM (systemd stopping the unit)
//! or SIGINT (Ctrl-C at a terminal). The kiosk with its window, the headless kiosk and
//! the hub all wait on [`requested`]; each then tells its tasks through a `watch` channel
//! and waits for them ([`Tasks`]) before the process exits, so no task outlives the
//! store and devices it uses. A commit is never cut (the kiosk task finishes its batch
//! first); an upload cut by the stop leaves its events in the outbox for the next start.

use std::time::Duration;

use tokio::task::JoinHandle;

/// A future that resolves when SIGTERM or SIGINT arrives. The signals are watched from
/// the moment this is called (inside the runtime), not from the first poll, so a signal
/// that comes right after start-up is not lost. If neither can be watched, it logs why
/// and never resolves: the process then stops only when its view ends.
pub fn requested() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                        _ = int.recv() => tracing::info!("SIGINT: stopping"),
                    }
                }
                (Ok(mut one), Err(e)) | (Err(e), Ok(mut one)) => {
                    tracing::warn!("cannot watch one of SIGTERM/SIGINT: {e}");
                    one.recv().await;
                }
                (Err(e), Err(_)) => {
                    tracing::error!("cannot watch SIGTERM or SIGINT: {e}");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot watch Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    }
}

/// The background tasks of one part of the process, joined together at shutdown.
#[derive(Debug, Default)]
pub struct Tasks {
    running: Vec<(&'static str, JoinHandle<()>)>,
}

impl Tasks {
    /// Spawn `task` (named in logs) and keep its handle.
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.running.push((name, tokio::spawn(task)));
    }

    /// How many tasks were spawned.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether no task was spawned.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Wait for every task (they must have been told to stop) for at most `grace` in all;
    /// a task still running then is aborted and named in the log. Returns the names of
    /// the tasks that had to be aborted or that panicked.
    pub async fn join(self, grace: Duration) -> Vec<&'static str> {
        let deadline = tokio::time::Instant::now() + grace;
        let mut troubled = Vec::new();
        for (name, mut handle) in self.running {
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!("the {name} task failed: {e}");
                    troubled.push(name);
                }
                Err(_) => {
                    tracing::warn!("the {name} task did not stop within {grace:?}: aborted");
                    handle.abort();
                    troubled.push(name);
                }
            }
        }
        troubled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::watch;

    #[tokio::test]
    async fn join_waits_for_tasks_that_stop_and_aborts_one_that_does_not() {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Tasks::default();
        for name in ["pusher", "puller"] {
            let mut stop = stop_rx.clone();
            let done = done_tx.clone();
            tasks.spawn(name, async move {
                let _ = stop.wait_for(|s| *s).await;
                // Finishing work after the stop request is waited for.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let _ = done.send(name);
            });
        }
        tasks.spawn("stuck", std::future::pending());
        assert_eq!(tasks.len(), 3);
        stop_tx.send(true).unwrap();
        let troubled = tasks.join(Duration::from_millis(500)).await;
        assert_eq!(troubled, ["stuck"]);
        let mut finished = vec![done_rx.recv().await.unwrap(), done_rx.recv().await.unwrap()];
        finished.sort();
        assert_eq!(finished, ["puller", "pusher"]);
    }
}
