//! What the integration tests of both programs share, behind the `test-util` feature.
//!
//! Each program's suite starts the other side of a connection itself and talks to it
//! over real loopback sockets. What that needs does not depend on which program is
//! under test, so it is written once here:
//!
//! * [`within`] and [`PATIENCE`]: every wait in a test is for an event, and none waits
//!   for ever; a test that waits longer than [`PATIENCE`] fails instead of hanging.
//! * [`init_logging`]: the programs' `tracing` output under the test harness, as
//!   `RUST_LOG` asks.
//! * [`peer`]: a WebSocket peer written from RFC 6455 alone, over any byte stream,
//!   as a client (the server's suite) or as a server (the client's suite), so that
//!   each program is checked against the RFC rather than against its own libraries.
//!
//! No program links this: the feature is enabled only by the dev-dependencies of the
//! crates whose tests use it.

use std::time::Duration;

pub mod peer;

/// How long any single awaited event may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Awaits `f`, failing the test if it takes longer than [`PATIENCE`].
pub async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(PATIENCE, f)
        .await
        .expect("the test waited too long")
}

/// Sends `tracing`'s output to the test harness, filtered by `RUST_LOG`; once per test
/// binary, later calls do nothing.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
