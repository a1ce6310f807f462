//! How `listen` prints what its connections report: each transcript line labelled
//! with its connection (`[2]`), or one JSON object per event (`--json`).
//!
//! Several clients talk at once and their lines interleave, so every line carries its
//! connection's number; the first line of each names the client's address, and its
//! last line sums it up. Cookie values are masked unless `--show-cookies`: a
//! transcript is pasted into bug reports, and a session cookie is a password.

use std::collections::HashMap;
use std::net::SocketAddr;

use serde_json::{Value, json};

use super::event::{Event, EventKind, Summary};
use super::options::ListenFormat;
use crate::watch::transcript::{Entry, EntryKind, describe_close};
use crate::watch::wire::{Direction, Head, WireEvent};

/// Turns events into lines of output.
#[derive(Debug)]
pub(super) struct Printer {
    format: ListenFormat,
    show_cookies: bool,
    /// Each open connection's client, for its summary line.
    peers: HashMap<u64, SocketAddr>,
}

impl Printer {
    pub(super) fn new(format: ListenFormat, show_cookies: bool) -> Self {
        Printer {
            format,
            show_cookies,
            peers: HashMap::new(),
        }
    }

    /// The lines `event` prints (none, one, or a block).
    pub(super) fn lines(&mut self, event: Event) -> Vec<String> {
        let conn = event.conn;
        let peer = match &event.kind {
            EventKind::Open { peer, .. } => {
                self.peers.insert(conn, *peer);
                Some(*peer)
            }
            EventKind::Ended(_) => self.peers.remove(&conn),
            EventKind::Entry(_) => None,
        };
        let kind = match event.kind {
            EventKind::Entry(mut entry) if !self.show_cookies => {
                mask_cookies(&mut entry);
                EventKind::Entry(entry)
            }
            other => other,
        };
        match (self.format, &kind) {
            (ListenFormat::Json, kind) => vec![json_event(conn, kind).to_string()],
            (ListenFormat::Text { .. }, EventKind::Open { .. }) => Vec::new(),
            (ListenFormat::Text { hex }, EventKind::Entry(entry)) => {
                let text = if hex {
                    format!("{entry:#}")
                } else {
                    entry.to_string()
                };
                text.lines()
                    .map(|line| format!("[{conn}] {line}"))
                    .collect()
            }
            (ListenFormat::Text { .. }, EventKind::Ended(summary)) => {
                let peer = peer.map_or_else(|| "?".to_owned(), |p| p.to_string());
                vec![format!("[{conn}] {peer}: {}", summary_text(summary))]
            }
        }
    }
}

impl Printer {
    /// A line of `listen`'s own, of no connection (a typed line it could not send).
    pub(super) fn notice(&self, text: &str) -> String {
        match self.format {
            ListenFormat::Json => {
                json!({ "event": "note", "conn": null, "text": text }).to_string()
            }
            ListenFormat::Text { .. } => format!("listen: {text}"),
        }
    }
}

/// `upgraded; 2 messages in, 1 out; 3 pings, 3 answered, rtt min/avg/max
/// 0.041/0.052/0.070 ms; closed 1000 (Normal Closure) by the client; 1.204 s`.
fn summary_text(summary: &Summary) -> String {
    let mut parts = Vec::new();
    if summary.upgraded {
        parts.push("upgraded".to_owned());
        parts.push(format!(
            "{} in, {} out",
            messages(summary.messages_in),
            summary.messages_out
        ));
    } else {
        parts.push(match summary.status {
            Some(status) => format!("answered {status}, not upgraded"),
            None => "not upgraded".to_owned(),
        });
    }
    if summary.pings > 0 {
        let rtt = &summary.rtt;
        let ms = |d: std::time::Duration| format!("{:.3}", d.as_secs_f64() * 1e3);
        let mut pings = format!("{} pings, {} answered", summary.pings, rtt.count);
        if rtt.count > 0 {
            pings.push_str(&format!(
                ", rtt min/avg/max {}/{}/{} ms",
                ms(rtt.min),
                ms(rtt.mean()),
                ms(rtt.max)
            ));
        }
        parts.push(pings);
    }
    if summary.upgraded {
        parts.push(match &summary.closing {
            Some(closing) => format!(
                "closed {} by {}",
                describe_close(&closing.close),
                match closing.by {
                    super::event::Side::Client => "the client",
                    super::event::Side::Us => "us",
                }
            ),
            None => "ended without a close frame (1006)".to_owned(),
        });
    }
    parts.push(format!("{:.3} s", summary.lasted.as_secs_f64()));
    parts.join("; ")
}

/// `1 message`, `2 messages`.
fn messages(n: u64) -> String {
    if n == 1 {
        "1 message".to_owned()
    } else {
        format!("{n} messages")
    }
}

/// Masks the value of every cookie in a request head read from the client.
fn mask_cookies(entry: &mut Entry) {
    let EntryKind::Wire {
        direction: Direction::Incoming,
        event: WireEvent::Head(head),
    } = &mut entry.kind
    else {
        return;
    };
    mask_head(head);
}

fn mask_head(head: &mut Head) {
    for line in head.lines.iter_mut().skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("cookie") {
            continue;
        }
        let masked: Vec<String> = value
            .split(';')
            .map(|pair| match pair.trim().split_once('=') {
                Some((cookie, _)) => format!("{cookie}=***"),
                None => pair.trim().to_owned(),
            })
            .collect();
        *line = format!("{name}: {}", masked.join("; "));
    }
}

/// One JSON object for `kind`.
fn json_event(conn: u64, kind: &EventKind) -> Value {
    match kind {
        EventKind::Open { peer, local } => json!({
            "event": "connect",
            "conn": conn,
            "peer": peer.to_string(),
            "local": local.to_string(),
        }),
        EventKind::Entry(entry) => json_entry(conn, entry),
        EventKind::Ended(summary) => json!({
            "event": "close",
            "conn": conn,
            "upgraded": summary.upgraded,
            "status": summary.status,
            // 1006 names a session that ended without a Close frame; a connection
            // that never upgraded has no code at all.
            "code": match &summary.closing {
                Some(closing) => closing.close.code,
                None => summary.upgraded.then_some(1006),
            },
            "reason": summary.closing.as_ref().map(|c| c.close.reason.clone()),
            "by": summary.closing.as_ref().map(|c| c.by.as_str()),
            "messages_in": summary.messages_in,
            "messages_out": summary.messages_out,
            "pings": summary.pings,
            "pongs": summary.rtt.count,
            "lasted_ms": summary.lasted.as_secs_f64() * 1e3,
        }),
    }
}

fn json_entry(conn: u64, entry: &Entry) -> Value {
    let at_ms = entry.at.as_secs_f64() * 1e3;
    let direction = |d: &Direction| match d {
        Direction::Incoming => "in",
        Direction::Outgoing => "out",
    };
    match &entry.kind {
        EntryKind::Wire {
            direction: d,
            event,
        } => match event {
            WireEvent::Head(head) => json!({
                "event": if *d == Direction::Incoming { "request" } else { "response" },
                "conn": conn, "at_ms": at_ms, "lines": head.lines,
            }),
            WireEvent::Body(body) => json!({
                "event": "body", "conn": conn, "at_ms": at_ms, "direction": direction(d),
                "len": body.len, "payload": String::from_utf8_lossy(&body.preview),
            }),
            WireEvent::Frame(frame) => json!({
                "event": "frame", "conn": conn, "at_ms": at_ms, "direction": direction(d),
                "opcode": frame.opcode.to_string(), "fin": frame.fin, "rsv": frame.rsv,
                "masked": frame.masked, "key": frame.key.map(|k| crate::hex::plain(&k)),
                "len": frame.len, "payload": String::from_utf8_lossy(&frame.preview),
                "payload_hex": crate::hex::plain(&frame.preview),
                "payload_whole": frame.preview_is_whole(),
                // A compressed frame's payload is DEFLATE: what it says is here.
                "inflated": frame.inflated.as_ref().map(|inflated| json!({
                    "len": inflated.len,
                    "payload": String::from_utf8_lossy(&inflated.preview),
                    "malformed": inflated.malformed,
                })),
            }),
            WireEvent::Problem(problem) => json!({
                "event": "problem", "conn": conn, "at_ms": at_ms, "direction": direction(d),
                "text": problem,
            }),
        },
        EntryKind::Rtt {
            seq, rtt, clock, ..
        } => json!({
            "event": "rtt", "conn": conn, "at_ms": at_ms, "seq": seq,
            "rtt_ms": rtt.as_secs_f64() * 1e3, "clock": clock.as_str(),
        }),
        EntryKind::Filter(filter) => json!({
            "event": "filter", "conn": conn, "at_ms": at_ms, "wireshark": filter,
        }),
        EntryKind::Error(text) => json!({
            "event": "error", "conn": conn, "at_ms": at_ms, "text": text,
        }),
        EntryKind::Note(text) | EntryKind::Output(text) => json!({
            "event": "note", "conn": conn, "at_ms": at_ms, "text": text,
        }),
        EntryKind::Connected { peer, local } => json!({
            "event": "note", "conn": conn, "at_ms": at_ms,
            "text": format!("connected to {peer} from {local}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cookie_values_are_masked_and_other_headers_kept() {
        let mut head = Head {
            lines: vec![
                "GET / HTTP/1.1".into(),
                "Cookie: session=s3cret; theme=dark".into(),
                "Origin: http://localhost".into(),
            ],
            status: None,
        };
        mask_head(&mut head);
        assert_eq!(head.lines[1], "Cookie: session=***; theme=***");
        assert_eq!(head.lines[2], "Origin: http://localhost");
    }

    #[test]
    fn every_line_names_its_connection_and_the_summary_its_client() {
        let mut printer = Printer::new(ListenFormat::Text { hex: false }, false);
        let peer: SocketAddr = "127.0.0.1:40000".parse().expect("an address");
        let open = EventKind::Open {
            peer,
            local: "127.0.0.1:9001".parse().expect("an address"),
        };
        assert!(
            printer
                .lines(Event {
                    conn: 2,
                    kind: open
                })
                .is_empty()
        );
        let head = Entry {
            at: Duration::from_millis(1),
            kind: EntryKind::Wire {
                direction: Direction::Incoming,
                event: WireEvent::Head(Head {
                    lines: vec!["GET /x HTTP/1.1".into(), "cookie: a=b".into()],
                    status: None,
                }),
            },
        };
        let lines = printer.lines(Event {
            conn: 2,
            kind: EventKind::Entry(head),
        });
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.starts_with("[2] ")), "{lines:?}");
        assert!(lines[1].ends_with("cookie: a=***"), "{lines:?}");
        let summary = Summary {
            status: Some(403),
            lasted: Duration::from_millis(5),
            ..Summary::default()
        };
        let end = printer.lines(Event {
            conn: 2,
            kind: EventKind::Ended(summary),
        });
        assert_eq!(
            end,
            ["[2] 127.0.0.1:40000: answered 403, not upgraded; 0.005 s"]
        );
    }
}
