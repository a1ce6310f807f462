//! The `wsppclient` binary: parse the command line, set up logging, run the library,
//! and turn the result into an exit status (0 success, 1 ping loss, 2 error).

use std::process::ExitCode;

use clap::CommandFactory;
use tracing_subscriber::EnvFilter;
use wsppclient::error;
use wsppclient::front::invocation::FrontEnd;
use wsppclient::front::{cli, invoke, tui};

fn main() -> ExitCode {
    let cli = cli::parse();
    if let Some(docs) = cli.docs() {
        return docs.main(cli::Cli::command());
    }
    let invocation = cli.into_invocation();
    init_logging(
        matches!(invocation.front_end, FrontEnd::Menu { plain, .. } if tui::wanted(plain)),
    );
    if invocation.dial.tls.insecure {
        // Before the terminal UI takes the screen, so it is still there after it leaves.
        eprintln!(
            "wsppclient: warning: --insecure: server certificates are not verified; \
             anyone on the path can read and change the traffic"
        );
    }

    // One thread: a client drives one connection at a time, and on a multi-threaded
    // runtime every readiness event is taken by a worker thread and handed to the
    // `block_on` thread, a cross-thread wake-up that `ping` would add to every RTT.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("wsppclient: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    // A spawned task rather than `block_on`'s own future: a task's waker is the same
    // on every poll, which lets the ping loop skip re-registering its Ctrl-C wait on
    // every pong (`wspp::rare_event`); `block_on`'s waker may not compare equal to its
    // own clone.
    let session = runtime.spawn(async move {
        let mut stdout = std::io::stdout();
        invoke::run(invocation, &mut stdout).await
    });
    let result = match runtime.block_on(session) {
        Ok(result) => result,
        // The panic hook has already run (and restored the terminal): die as a panic does.
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    };
    // The menu may leave a read of stdin pending in tokio's blocking pool; waiting for
    // it would hang the exit until the user pressed Enter.
    runtime.shutdown_background();

    match result {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        // `wsppclient ping | head -3` closes our stdout: that is the reader's choice.
        Err(err) if error::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("wsppclient: {}", error::one_line(&err));
            ExitCode::from(2)
        }
    }
}

/// Logs go to stderr so that stdout stays the transcript (or ping's JSON); while the
/// terminal UI owns the screen they go to its log file instead, or nowhere if it
/// cannot be created (a line on stderr would tear through the screen).
fn init_logging(tui: bool) {
    let filter = |default: &str| {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
    };
    if !tui {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(filter("warn"))
            .init();
        return;
    }
    match tui::open_log() {
        Ok((_, file)) => tracing_subscriber::fmt()
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .with_env_filter(filter("info"))
            .init(),
        Err(_) => tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .with_env_filter(filter("off"))
            .init(),
    }
}
