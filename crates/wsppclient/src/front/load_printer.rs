//! `load` printed as the command line prints it, for both front-ends that run it that
//! way: the `load` subcommand and the numbered menu's `load` entry.
//!
//! A line a second on stderr (and with `--ndjson` a JSON object a second on `out`),
//! then the summary on `out` as text or JSON. Who stops the run (a signal, a line
//! typed at the menu) is the caller's business: it hands in the [`Stop`].

use std::io::Write;

use crate::commands::load::{self, LoadEvent, LoadFormat, LoadOptions, LoadReport};
use crate::error::Error;
use crate::net::settings::ConnectSettings;
use crate::stop::Stop;

/// Runs `options` against `settings`' server until it ends or `stop` fires, printing
/// as it goes; returns the report once the summary is written.
pub async fn run_printed(
    settings: &ConnectSettings,
    options: &LoadOptions,
    stop: &Stop,
    out: &mut (dyn Write + Send),
) -> Result<LoadReport, Error> {
    let mut write_error = None;
    let report = load::run(settings, options, stop, |event| match event {
        LoadEvent::Notice(line) => eprintln!("wsppclient: {line}"),
        LoadEvent::Serving(addr) => eprintln!("wsppclient: serving http://{addr}/metrics"),
        LoadEvent::Second(second) => {
            eprintln!("{}", load::output::progress_line(&second.figures()));
            if options.format != LoadFormat::Ndjson || write_error.is_some() {
                return;
            }
            write_live(
                out,
                &load::output::second_json(second),
                &mut write_error,
                stop,
            );
        }
    })
    .await?;
    if let Some(err) = write_error {
        return Err(err.into());
    }
    if options.format == LoadFormat::Text {
        writeln!(out)?;
        for line in load::output::summary(&report) {
            writeln!(out, "{line}")?;
        }
    } else {
        writeln!(out, "{}", load::output::json(&report))?;
    }
    out.flush()?;
    Ok(report)
}

/// Writes `line` to `out` at once, even into a pipe: a script plots the run live.
/// When nobody reads any more (e.g. `| head`), keeps the error in `write_error` and
/// stops the run.
pub fn write_live(
    out: &mut (dyn Write + Send),
    line: &str,
    write_error: &mut Option<std::io::Error>,
    stop: &Stop,
) {
    if let Err(err) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        *write_error = Some(err);
        stop.cancel();
    }
}
