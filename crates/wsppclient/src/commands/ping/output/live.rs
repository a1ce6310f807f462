//! What `wsppclient ping` prints while a session runs, in the format asked for: the
//! start lines and one line per event (each stamped with `-D`), nothing between the
//! start and the summary with `-q`, a JSON object per probe with `--ndjson`, and
//! nothing at all before the summary with `--json`.

use std::net::SocketAddr;
use std::time::SystemTime;

use super::json::probe_lines;
use super::text::{event_line, stamp, start_lines};
use crate::probe::{PingEvent, Probes};

/// Turns a session's events into the text printed as they happen.
#[derive(Debug)]
pub struct Live {
    format: PingFormat,
    probes: Probes,
    /// The session's URL, once started: every reply line names it.
    url: String,
    /// Our end of the connection, once started: the summary's Wireshark filter.
    local: Option<SocketAddr>,
}

impl Live {
    /// Printing in `format` a session that sends `probes`.
    pub fn new(format: PingFormat, probes: Probes) -> Self {
        Live {
            format,
            probes,
            url: String::new(),
            local: None,
        }
    }

    /// Our end of the connection, once the session has started.
    pub fn local(&self) -> Option<SocketAddr> {
        self.local
    }

    /// What to print for `event`, seen at `now`, without a final newline; `None` when
    /// the format prints nothing for it.
    pub fn line(&mut self, event: &PingEvent, now: SystemTime) -> Option<String> {
        if let PingEvent::Started { url, local, .. } = event {
            self.url.clone_from(url);
            self.local = Some(*local);
        }
        match self.format {
            PingFormat::Json => None,
            PingFormat::Ndjson => {
                let mut text = String::new();
                for line in probe_lines(event, now) {
                    match serde_json::to_string(&line) {
                        Ok(json) => text.push_str(&json),
                        Err(err) => {
                            tracing::warn!(error = %err, "cannot write a probe as JSON");
                            return None;
                        }
                    }
                    text.push('\n');
                }
                text.pop().map(|_| text)
            }
            _ if matches!(event, PingEvent::Started { .. }) => {
                start_lines(event).map(|lines| lines.join("\n"))
            }
            PingFormat::Quiet => None,
            PingFormat::Text => event_line(&self.url, self.probes, event),
            PingFormat::Stamped => {
                event_line(&self.url, self.probes, event).map(|line| stamp(now) + &line)
            }
        }
    }
}

/// How `ping` prints what happens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PingFormat {
    /// ping(8)'s lines: a header, one line per event, a summary.
    #[default]
    Text,
    /// `-q`: the header and the summary only.
    Quiet,
    /// `-D`: [`PingFormat::Text`] with each event's line stamped `[unix seconds]`.
    Stamped,
    /// `--json`: only the summary, as one JSON object.
    Json,
    /// `--ndjson`: a [`ProbeLine`](super::ProbeLine) per probe as it ends, then the `--json` summary.
    Ndjson,
}
