//! The handle every lab server keeps on its accept loop: stop it and wait
//! for it (`shutdown`), or abort it when the server is dropped (its JoinSet
//! then aborts every connection task). One type for the server, the proxy
//! and `serve`, so the three cannot drift apart.

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A spawned accept loop and the way to stop it.
#[derive(Debug)]
pub(crate) struct AcceptTask {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl AcceptTask {
    /// Spawns `run` with the receiving end of a stop signal.
    pub(crate) fn spawn<F>(run: impl FnOnce(oneshot::Receiver<()>) -> F) -> AcceptTask
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        AcceptTask {
            stop: Some(stop),
            task: Some(tokio::spawn(run(stopped))),
        }
    }

    /// Signals the loop to stop and waits until it has ended.
    pub(crate) async fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            // The loop only ends normally; an error here would be a panic in
            // it, which leaves nothing to clean up.
            let _ = task.await;
        }
    }
}

impl Drop for AcceptTask {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
