//! The `wsppsrv` binary: parse flags, set up logging, bind, serve until a signal.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use wsppsrv::cli::Args;

fn main() -> ExitCode {
    let args = Args::parse();
    // Colours only on a terminal: in a file or a journal the escape codes are noise
    // that every grep has to step around. NO_COLOR (https://no-color.org) wins.
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(colour)
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
        let listener = match wsppsrv::bind(args.addr) {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("wsppsrv: cannot listen on {}: {error}", args.addr);
                return ExitCode::from(2);
            }
        };
        match wsppsrv::run(listener, args.config(), wsppsrv::shutdown::signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("wsppsrv: {error}");
                ExitCode::from(2)
            }
        }
    })
}
