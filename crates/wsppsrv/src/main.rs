//! The `wsppsrv` binary: parse flags, set up logging, bind (and load or generate the
//! TLS certificate, and bind `--metrics-addr`), serve until a signal; or print its
//! completions or man page.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use wsppsrv::Listeners;
use wsppsrv::cli::Args;
use wsppsrv::tls::TlsListener;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(docs) = &args.command {
        return docs.main(Args::command());
    }
    if let Err(error) = args.check() {
        eprintln!("wsppsrv: {error}");
        return ExitCode::from(2);
    }
    // Colours only on a terminal: in a file or a journal the escape codes are noise
    // that every grep has to step around. NO_COLOR (https://no-color.org) wins.
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    wsppsrv::logging::subscriber(wsppsrv::logging::filter_from_env(), std::io::stderr, colour)
        .init();
    // One thread by default: a ping that hops between worker threads pays for it in RTT.
    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(usize::from(args.threads));
        builder
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("wsppsrv: cannot start the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async {
        let listeners = match listen(&args).await {
            Ok(listeners) => listeners,
            Err(error) => {
                eprintln!("wsppsrv: {error}");
                return ExitCode::from(2);
            }
        };
        match wsppsrv::run_with(listeners, args.config(), wsppsrv::shutdown::signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("wsppsrv: {error}");
                ExitCode::from(2)
            }
        }
    })
}

/// Binds the plain listener and, when a certificate is configured, the TLS one. The
/// error is the line to print.
async fn listen(args: &Args) -> Result<Listeners, String> {
    let bind =
        |addr| wsppsrv::bind(addr).map_err(|error| format!("cannot listen on {addr}: {error}"));
    let mut listeners = Listeners::plain(bind(args.addr)?);
    if let Some(addr) = args.metrics_addr {
        listeners = listeners.with_metrics(bind(addr)?);
    }
    let Some(source) = args.cert_source() else {
        return Ok(listeners);
    };
    let config = wsppsrv::tls::load(&source).map_err(|error| {
        // The whole chain on one line: what failed, then why.
        let mut line = format!("tls: {error}");
        let mut cause = std::error::Error::source(&error);
        while let Some(error) = cause {
            line.push_str(&format!(": {error}"));
            cause = error.source();
        }
        line
    })?;
    let tls = TlsListener::new(bind(args.tls_addr)?, config);
    Ok(listeners.with_tls(tls))
}
