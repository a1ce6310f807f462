//! `wsppbench`: wspp's benchmark suite, as one binary.
//!
//! Run without a subcommand it measures everything in one go on loopback and writes the
//! figures (see [`suite`]). The hidden subcommands are the pieces it starts as child
//! processes, so that the peer under test never shares a process, a runtime or a core
//! with the side that measures it: the raw-TCP floor's echo server ([`floor`]; its
//! client alone too, for a run outside the suite to take its ratios against), the
//! idle-connection load generator ([`hold`]) and the reference client
//! ([`reference`](mod@reference)).
//!
//! # Layout
//!
//! Top down, each module using only the ones after it:
//!
//! * [`cli`]: the flags; [`suite`]: the run, section by section, and the smoke checks.
//! * [`report`]: the run written into `docs/benchmarks.md`; [`tables`]: its figures as
//!   text and Markdown tables; [`plot`]: the SVG percentile curves; [`fidelity`]: the
//!   curves of printed against wire RTTs, from `scripts/fidelity.sh`.
//! * [`results`]: what a run measured, section by section, and the targets it is held to.
//! * The sections: [`floor`], raw TCP ping-pong, blocking std and tokio, the physical
//!   floor; [`rtt`], wsppclient's `Pinger` against wsppsrv, and the server's own view;
//!   [`reference`](mod@reference), a minimal tokio-tungstenite ping client, the
//!   yardstick of `wsppclient ping -i 0`; [`memory`], [`load`], [`openclose`]: idle
//!   memory per connection, the server under ping load, and the open-and-close rate;
//!   [`probed`], the load section's second part: the server under `wsppclient load`.
//! * [`hold`]: the load generator that only answers; [`http`]: a timed GET;
//!   [`procs`]: children, pinning and `/proc` figures.
//! * [`figures`]: nanosecond histograms, percentiles and medians, under everything
//!   that measures.

mod cli;
mod fidelity;
mod figures;
mod floor;
mod hold;
mod http;
mod load;
mod memory;
mod openclose;
mod plot;
mod probed;
mod procs;
mod reference;
mod report;
mod results;
mod rtt;
mod suite;
mod tables;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let subcommand = cli.command.is_some();
    let result = match cli.command {
        Some(cli::Command::FloorServer(args)) => floor::serve(args.kind).map(|()| true),
        Some(cli::Command::FloorClient(args)) => floor::client(&args).map(|()| true),
        Some(cli::Command::Hold(args)) => hold::run(&args).map(|()| true),
        Some(cli::Command::ReferenceClient(args)) => reference::run(&args).map(|()| true),
        Some(cli::Command::FidelityPlot(args)) => {
            fidelity::plot(&args.tsv, &args.out).map(|()| true)
        }
        None => suite::run(&cli.run).map_err(|error| {
            // A run that cannot even start has failed its one check; say so in the
            // line CI reads.
            let label = if cli.run.quick {
                "bench-smoke"
            } else {
                "bench"
            };
            eprintln!("wsppbench: {error:#}");
            println!("{label}: 0 passed, 1 failed");
            error
        }),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        // A section failed its check; the suite has said which.
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            if subcommand {
                eprintln!("wsppbench: {error:#}");
            }
            ExitCode::from(2)
        }
    }
}
