//! How the server logs: one line per event in tracing's plain format, filtered by
//! `RUST_LOG`.
//!
//! The binary writes to stderr. The format is made here rather than in `main.rs` so that
//! a test can hand its own writer and read the very lines the binary writes: the
//! benchmark parses the server's RTT lines (see [`wspp::rtt_log`]).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{DefaultFields, Format};
use tracing_subscriber::fmt::{MakeWriter, SubscriberBuilder};

/// What the server logs unless `RUST_LOG` says otherwise.
pub const DEFAULT_FILTER: &str = "info";

/// The log filter: `RUST_LOG` when set and valid, otherwise [`DEFAULT_FILTER`].
pub fn filter_from_env() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
}

/// The server's log format, keeping what `filter` lets through, written to `writer`,
/// in colour if `ansi`. `.init()` makes it the process's; `.finish()` gives it to a
/// test to install where it wants.
pub fn subscriber<W>(
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> SubscriberBuilder<DefaultFields, Format, EnvFilter, W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
}
