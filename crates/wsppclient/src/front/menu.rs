//! The plain numbered menu: the catalog on stdout, a choice read from stdin.
//!
//! It is the fallback when stdin or stdout is not a terminal, or with `--plain`
//! (the terminal UI, [`crate::front::tui`], is the menu otherwise), so it reads lines, not
//! keys, and works as well with a pipe as with a person: `printf '3\nq\n' | wsppclient` runs `open-close` and quits. Requests that
//! run until stopped (`hold`, `ping`) stop at the next line or Ctrl-C and return here;
//! when the input has ended there is no next line, so they run as they would with
//! nobody at the keyboard (`ping` to its count, or until Ctrl-C). `inspect` asks for its
//! URL and an optional message, one line each, and runs nothing if the input ends first.
//! `listen` serves on its default address until the next line or Ctrl-C: the lines
//! typed meanwhile stop it rather than go to its clients. `load`, the last entry, runs
//! as the subcommand would with the menu's defaults ([`LoadOptions::for_menu`]) and
//! prints what the subcommand prints (a line a second on stderr, then the summary);
//! the next line or Ctrl-C ends it early, closing its connections with 1000.

use std::io::Write;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, Lines};
use tokio::sync::mpsc;

use crate::commands::catalog::{MenuEntry, Request};
use crate::commands::listen::{ListenFormat, ListenOptions, Listener};
use crate::commands::load::LoadOptions;
use crate::commands::run_printed;
use crate::commands::{Options, Outgoing};
use crate::error::{self, Error};
use crate::net::settings::{ConnectSettings, Server};
use crate::net::url::WsUrl;
use crate::outcome::Outcome;
use crate::stop::{Reason, Stop};

use super::load_printer;

/// What a line typed at the prompt asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Run this request.
    Run(Request),
    /// Run `listen`.
    Listen,
    /// Run `load`.
    Load,
    /// Leave the menu.
    Quit,
    /// Nothing (an empty line): show the menu again.
    Nothing,
}

/// Reads a choice: a menu number, a subcommand name, or `q`/`quit`; `None` if unknown.
pub fn parse_choice(line: &str) -> Option<Choice> {
    let line = line.trim();
    if line.is_empty() {
        return Some(Choice::Nothing);
    }
    if matches!(line, "q" | "quit" | "exit") {
        return Some(Choice::Quit);
    }
    let entry = match line.parse::<usize>() {
        Ok(n) => n
            .checked_sub(1)
            .and_then(|i| MenuEntry::ALL.get(i))
            .copied(),
        Err(_) => MenuEntry::from_subcommand(line),
    };
    entry.map(|entry| match entry {
        MenuEntry::Request(request) => Choice::Run(request),
        MenuEntry::Listen => Choice::Listen,
        MenuEntry::Load => Choice::Load,
    })
}

/// The menu text: one numbered line per entry with its route (where `listen` listens).
pub fn render(server: &Server) -> String {
    let mut out = format!(
        "wsppclient {} against {}\n",
        env!("CARGO_PKG_VERSION"),
        server.label()
    );
    let width = MenuEntry::ALL
        .iter()
        .map(|r| r.subcommand().len())
        .max()
        .unwrap_or(0);
    let route_width = MenuEntry::ALL
        .iter()
        .map(|r| r.place().len())
        .max()
        .unwrap_or(0);
    for (i, entry) in MenuEntry::ALL.iter().enumerate() {
        out.push_str(&format!(
            "  {:>2}) {:<width$}  {:<route_width$}  {}\n",
            i + 1,
            entry.subcommand(),
            entry.place(),
            entry.description()
        ));
    }
    out.push_str("   q) quit\n");
    out
}

/// Shows the menu and runs choices until `q`, end of input (both [`Outcome::Success`])
/// or Ctrl-C at the prompt ([`Outcome::Interrupted`]). A failed request is shown and
/// the menu carries on; only failing to write to `out` ends it with an error.
pub async fn run<R: AsyncBufRead + Unpin>(
    settings: &ConnectSettings,
    options: &Options,
    hex: bool,
    input: R,
    out: &mut (dyn Write + Send),
    interrupts: &mut mpsc::UnboundedReceiver<()>,
) -> Result<Outcome, Error> {
    let mut lines = input.lines();
    write!(out, "{}", render(&settings.server))?;
    loop {
        write!(
            out,
            "choose 1-{} (Enter shows the menu, q quits)> ",
            MenuEntry::ALL.len()
        )?;
        out.flush()?;
        let line = tokio::select! {
            line = lines.next_line() => line?,
            Some(()) = interrupts.recv() => {
                writeln!(out)?;
                return Ok(Outcome::Interrupted);
            }
        };
        let Some(line) = line else {
            writeln!(out)?;
            return Ok(Outcome::Success);
        };
        let request = match parse_choice(&line) {
            Some(Choice::Run(request)) => request,
            Some(Choice::Listen) => {
                listen(settings, hex, &mut lines, interrupts, out).await?;
                continue;
            }
            Some(Choice::Load) => {
                load(settings, &mut lines, interrupts, out).await?;
                continue;
            }
            Some(Choice::Quit) => return Ok(Outcome::Success),
            Some(Choice::Nothing) => {
                write!(out, "{}", render(&settings.server))?;
                continue;
            }
            None => {
                writeln!(out, "unknown choice {:?}", line.trim())?;
                continue;
            }
        };
        writeln!(
            out,
            "── {}: {}",
            request.subcommand(),
            request.description()
        )?;
        // `inspect` needs a URL (and may take a message): asked here, one line each.
        let asked;
        let options = if request == Request::Inspect {
            let default_url = WsUrl::for_route(&settings.server, request.route())
                .map(|u| u.text)
                .unwrap_or_default();
            let prompt = format!("URL to inspect (Enter: {default_url})> ");
            let Some(url) = ask(&mut lines, interrupts, out, &prompt).await? else {
                writeln!(out)?;
                continue;
            };
            let prompt = "a Text message to send (Enter: none)> ";
            let Some(message) = ask(&mut lines, interrupts, out, prompt).await? else {
                writeln!(out)?;
                continue;
            };
            asked = inspect_options(options, &url, &message);
            &asked
        } else {
            options
        };
        let until_stopped = request.runs_until_stopped();
        if until_stopped {
            writeln!(out, "   (press Enter to stop)")?;
        }
        let stop = async {
            if until_stopped {
                tokio::select! {
                    // Enter stops it; the end of the input (a pipe that ran dry) is no
                    // Enter: the request then runs as if nobody pressed one.
                    Ok(Some(_)) = lines.next_line() => {}
                    Some(()) = interrupts.recv() => {}
                    // Neither can end it any more (no input, no signal handler): run on.
                    else => std::future::pending::<()>().await,
                }
            } else {
                // Ctrl-C abandons a request that would end by itself anyway.
                interrupts.recv().await;
            }
            Reason::User
        };
        let result = run_printed(request, settings, options, hex, out, stop).await;
        show_end(result, out)?;
    }
}

/// Runs `listen` on its default address (with `--deflate` and `--hex` as given) until
/// the next line or Ctrl-C. A failure is shown and the menu carries on, as a
/// request's is.
async fn listen<R: AsyncBufRead + Unpin>(
    settings: &ConnectSettings,
    hex: bool,
    lines: &mut Lines<R>,
    interrupts: &mut mpsc::UnboundedReceiver<()>,
    out: &mut (dyn Write + Send),
) -> Result<(), Error> {
    writeln!(out, "── listen: {}", MenuEntry::Listen.description())?;
    let options = ListenOptions {
        deflate: settings.headers.deflate,
        format: ListenFormat::Text { hex },
        ..ListenOptions::default()
    };
    let served = async {
        let listener = Listener::bind(options).await?;
        writeln!(out, "{}", listener.banner()?)?;
        writeln!(out, "   (press Enter to stop)")?;
        let stop = async {
            tokio::select! {
                Ok(Some(_)) = lines.next_line() => {}
                Some(()) = interrupts.recv() => {}
                else => std::future::pending::<()>().await,
            }
        };
        listener.serve(tokio::io::empty(), &mut *out, stop).await
    }
    .await;
    show_end(served, out)
}

/// Runs `load` with the menu's defaults, printed as the subcommand prints it, until
/// it ends or the next line or Ctrl-C stops it. A failure is shown and the menu
/// carries on.
async fn load<R: AsyncBufRead + Unpin>(
    settings: &ConnectSettings,
    lines: &mut Lines<R>,
    interrupts: &mut mpsc::UnboundedReceiver<()>,
    out: &mut (dyn Write + Send),
) -> Result<(), Error> {
    writeln!(out, "── load: {}", MenuEntry::Load.description())?;
    writeln!(out, "   (press Enter to stop)")?;
    out.flush()?;
    let stop = Stop::new();
    let options = LoadOptions::for_menu();
    let result = {
        let run = load_printer::run_printed(settings, &options, &stop, &mut *out);
        tokio::pin!(run);
        loop {
            tokio::select! {
                result = &mut run => break result,
                // As for `hold`: the end of the input is no Enter, the run goes on.
                Ok(Some(_)) = lines.next_line(), if !stop.is_cancelled() => stop.cancel(),
                Some(()) = interrupts.recv(), if !stop.is_cancelled() => stop.cancel(),
            }
        }
    };
    show_end(result, out)
}

/// Ends what a choice printed: its error, if it failed, then a blank line. Only a
/// reader that went away (a broken pipe) ends the menu; any other failure is shown
/// and the menu carries on.
fn show_end<T>(result: Result<T, Error>, out: &mut (dyn Write + Send)) -> Result<(), Error> {
    if let Err(err) = result {
        if error::is_broken_pipe(&err) {
            return Err(err);
        }
        writeln!(out, "error: {}", error::one_line(&err))?;
    }
    writeln!(out)?;
    Ok(())
}

/// Writes `prompt` and reads one line, trimmed; `None` if Ctrl-C came first or the
/// input ended (a question nobody answered runs nothing).
async fn ask<R: AsyncBufRead + Unpin>(
    lines: &mut Lines<R>,
    interrupts: &mut mpsc::UnboundedReceiver<()>,
    out: &mut (dyn Write + Send),
    prompt: &str,
) -> Result<Option<String>, Error> {
    write!(out, "{prompt}")?;
    out.flush()?;
    tokio::select! {
        line = lines.next_line() => Ok(line?.map(|line| line.trim().to_owned())),
        Some(()) = interrupts.recv() => Ok(None),
    }
}

/// `options` set to inspect `url` (the default when empty) and send `message`
/// (nothing when empty), listening the usual time after it.
pub fn inspect_options(options: &Options, url: &str, message: &str) -> Options {
    let mut options = options.clone();
    options.inspect.url = (!url.is_empty()).then(|| url.to_owned());
    options.inspect.messages = if message.is_empty() {
        Vec::new()
    } else {
        vec![Outgoing::Text(message.to_owned())]
    };
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_numbers_names_or_quit() {
        assert_eq!(parse_choice("1"), Some(Choice::Run(Request::ALL[0])));
        assert_eq!(
            parse_choice(&Request::ALL.len().to_string()),
            Some(Choice::Run(Request::ALL[Request::ALL.len() - 1]))
        );
        assert_eq!(
            parse_choice(&MenuEntry::ALL.len().to_string()),
            Some(Choice::Load)
        );
        assert_eq!(parse_choice("listen"), Some(Choice::Listen));
        assert_eq!(parse_choice("11"), Some(Choice::Load));
        assert_eq!(parse_choice("load"), Some(Choice::Load));
        assert_eq!(
            parse_choice(" open-close "),
            Some(Choice::Run(Request::OpenClose))
        );
        assert_eq!(parse_choice("q"), Some(Choice::Quit));
        assert_eq!(parse_choice(""), Some(Choice::Nothing));
        assert_eq!(parse_choice("0"), None);
        assert_eq!(parse_choice("99"), None);
        assert_eq!(parse_choice("dance"), None);
    }

    #[test]
    fn the_menu_lists_every_request_with_its_route() {
        let text = render(&Server::plain("h:1"));
        for (i, entry) in MenuEntry::ALL.iter().enumerate() {
            let line = text
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{})", i + 1)))
                .unwrap_or_else(|| panic!("no line for {entry:?}:\n{text}"));
            assert!(line.contains(entry.subcommand()) && line.contains(entry.place()));
        }
        assert!(
            text.lines()
                .any(|l| l.contains("10) listen") && l.contains("127.0.0.1:9001")),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.contains("11) load") && l.contains("/pingpong")),
            "{text}"
        );
        assert!(text.contains("q) quit"));
    }
}
