//! Drives the Autobahn|Testsuite fuzzing server with wsppclient's own connection code,
//! so `scripts/autobahn.sh client` judges the client users run, not a stand-in.
//!
//! Every connection goes through [`connect::open`] (`TCP_NODELAY`, the connect
//! timeout) and [`upgrade::upgrade`] (the upgrade request with our `User-Agent`, and
//! [`upgrade::websocket_config`], the tungstenite settings `ping`, `hold` and
//! `open-close` use). Then it does what the Autobahn client protocol asks
//! (docs/conformance.md): read the case count from `/getCaseCount`, run each case on
//! `/runCase?case=N&agent=wsppclient` echoing every Text and Binary message unchanged
//! until the connection ends, and ask for `/updateReports` at the end. Every upgrade
//! offers permessage-deflate, as `--deflate` does, unless `WSPP_DEFLATE=off`.
//!
//! Why an example and not a hidden subcommand: this is test tooling. It has no place in
//! `wsppclient --help` or the catalog, `cargo test` and `cargo clippy --all-targets`
//! still build and lint it, and the script builds it with `cargo build --example`.
//!
//! A case that ends in an error (the fuzzing server breaks the protocol on purpose)
//! is logged and the run goes on: the verdict is the suite's, read from its report.
//! The exit status is 2 only when the run itself cannot go on (no case count, or the
//! server cannot be reached).
//!
//! ```text
//! cargo run -p wsppclient --example autobahn_client -- ws://127.0.0.1:9001
//! ```

use std::process::ExitCode;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{self, Message};
use tracing_subscriber::EnvFilter;
use wsppclient::error::{self, Error};
use wsppclient::net::connect::{self, Stream};
use wsppclient::net::settings::ConnectSettings;
use wsppclient::net::upgrade;
use wsppclient::net::url::WsUrl;

/// The agent name the report files its results under.
const AGENT: &str = "wsppclient";
/// One case may take this long at most; the slowest (9.* in a debug build) take a few
/// seconds. A hung case then fails on its own instead of stalling the whole suite.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

type Socket = upgrade::Upgraded<Stream>;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let Some(base) = std::env::args().nth(1) else {
        eprintln!("usage: autobahn_client ws://HOST:PORT");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("autobahn_client: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(base.trim_end_matches('/'))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("autobahn_client: {}", error::one_line(&err));
            ExitCode::from(2)
        }
    }
}

/// The whole protocol: count, every case, report.
async fn run(base: &str) -> Result<(), Error> {
    let url = WsUrl::parse(base)?;
    let mut settings = ConnectSettings::new(url.addr.clone());
    // Offered as `--deflate` offers it, so that the compression cases (12.*, 13.*)
    // judge the client's own layer; `WSPP_DEFLATE=off` leaves it out, as for the server.
    settings.headers.deflate = std::env::var("WSPP_DEFLATE").as_deref() != Ok("off");
    let count = case_count(&settings, base).await?;
    tracing::info!(count, "running cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={AGENT}");
        match tokio::time::timeout(CASE_TIMEOUT, echo_case(&settings, &url)).await {
            Ok(Ok(())) => tracing::debug!(case, "case done"),
            // Expected in the cases that break the protocol on purpose.
            Ok(Err(err)) => {
                tracing::debug!(case, error = %error::one_line(&err), "case ended in an error")
            }
            Err(_) => tracing::warn!(case, "case did not end in time"),
        }
    }
    let mut ws = open(&settings, &format!("{base}/updateReports?agent={AGENT}")).await?;
    // The server closes once the report is written.
    while let Some(message) = ws.next().await {
        if let Err(err) = message {
            tracing::debug!(error = %err, "updateReports ended in an error");
            break;
        }
    }
    tracing::info!("reports updated");
    Ok(())
}

/// Connects and upgrades exactly as the client's requests do.
async fn open(settings: &ConnectSettings, url: &str) -> Result<Socket, Error> {
    let url = WsUrl::parse(url)?;
    let (stream, _opened) = connect::open(&settings.dial, &url.endpoint()).await?;
    let (ws, _response) =
        upgrade::upgrade(stream, &settings.headers, settings.dial.timeout, &url).await?;
    Ok(ws)
}

/// `/getCaseCount`: one Text message holding the number.
async fn case_count(settings: &ConnectSettings, base: &str) -> Result<u32, Error> {
    let mut ws = open(settings, &format!("{base}/getCaseCount")).await?;
    while let Some(message) = ws.next().await {
        if let Message::Text(text) = message? {
            return text
                .trim()
                .parse()
                .map_err(|_| Error::Unexpected(format!("case count {:?}", text.as_str())));
        }
    }
    Err(Error::Unexpected("no case count".into()))
}

/// One case: echo Text and Binary back until the connection ends. tungstenite answers
/// Pings and Close frames itself as the stream is read; the Close reply goes out with
/// the next read or flush, so the loop keeps reading after a Close.
async fn echo_case(settings: &ConnectSettings, url: &str) -> Result<(), Error> {
    let mut ws = open(settings, url).await?;
    while let Some(message) = ws.next().await {
        match message {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => ws.send(message).await?,
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}
