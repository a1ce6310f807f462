//! wsppsrv served in the test's own runtime, on listeners the test bound; dropping the
//! handle shuts it down.
//!
//! Both integration suites start wsppsrv this way: this crate's, and wsppclient's,
//! which includes this file by path. It is not in `wspp::test_util` with the rest of
//! what the suites share because it needs wsppsrv, which `wspp` is below.

use std::net::SocketAddr;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wspp::test_util::{init_logging, within};

/// wsppsrv running in this test's runtime.
pub struct Server {
    /// The plain listener's address.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Serves `listeners`, which must include a plain one, until shut down or dropped.
    pub fn serve(listeners: wsppsrv::Listeners, config: wsppsrv::Config) -> Server {
        init_logging();
        let addr = listeners
            .plain
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .expect("a plain listener");
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(wsppsrv::run_with(listeners, config, async {
            let _ = stopped.await;
        }));
        Server {
            addr,
            stop: Some(stop),
            done: Some(done),
        }
    }

    /// Shuts the server down and waits until it has stopped, which it must do without
    /// an error.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            within(done)
                .await
                .expect("the server task ended normally")
                .expect("the server ran without error");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
