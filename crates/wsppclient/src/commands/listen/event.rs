//! What the connections of `listen` tell the loop that prints: each connection's
//! transcript entries, labelled with the connection, and how it ended.
//!
//! Below both the connections and the printer (or the terminal UI's listen pane), so
//! neither knows the other.

use std::net::SocketAddr;
use std::time::Duration;

use crate::watch::transcript::Entry;
use crate::watch::wire::CloseInfo;

/// Something a connection reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The connection's number, from 1 in the order they were accepted.
    pub conn: u64,
    /// What happened.
    pub kind: EventKind,
}

/// What a connection reports.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// The connection was accepted.
    Open {
        /// The client's address.
        peer: SocketAddr,
        /// Ours.
        local: SocketAddr,
    },
    /// A line (or block) of its transcript.
    Entry(Entry),
    /// It is over; nothing follows.
    Ended(Summary),
}

/// Which side sent the first Close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client.
    Client,
    /// This program.
    Us,
}

impl Side {
    /// `"client"` or `"us"`, as the JSON says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Us => "us",
        }
    }
}

/// How a WebSocket session ended: the first Close frame, and who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closing {
    /// Its code and reason.
    pub close: CloseInfo,
    /// Who sent it.
    pub by: Side,
}

/// One connection, counted: what its summary line says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Whether it upgraded to WebSocket (else it was refused, or never asked).
    pub upgraded: bool,
    /// The status we answered its request with, if we answered.
    pub status: Option<u16>,
    /// Text and Binary messages received.
    pub messages_in: u64,
    /// Text and Binary messages sent.
    pub messages_out: u64,
    /// Pings we sent.
    pub pings: u64,
    /// Round trips of the pings the client answered, on the clock each was taken on.
    pub rtt: RttFigures,
    /// The close handshake, when a Close frame came or went (none: 1006).
    pub closing: Option<Closing>,
    /// How long the connection lasted.
    pub lasted: Duration,
}

impl Summary {
    /// How it ended, in a word or two: `closed 1000`, `1006` (no Close frame),
    /// `answered 403` (not upgraded), or `ended` (no request answered).
    pub fn outcome(&self) -> String {
        match (&self.closing, self.upgraded, self.status) {
            (Some(closing), _, _) => match closing.close.code {
                Some(code) => format!("closed {code}"),
                None => "closed".to_owned(),
            },
            (None, true, _) => "1006".to_owned(),
            (None, false, Some(status)) => format!("answered {status}"),
            (None, false, None) => "ended".to_owned(),
        }
    }
}

/// Round trips, reduced to what a summary line says of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RttFigures {
    /// How many.
    pub count: u64,
    /// The shortest.
    pub min: Duration,
    /// The longest.
    pub max: Duration,
    /// All of them added up.
    pub total: Duration,
}

impl RttFigures {
    /// Counts one more.
    pub fn add(&mut self, rtt: Duration) {
        self.min = if self.count == 0 {
            rtt
        } else {
            self.min.min(rtt)
        };
        self.max = self.max.max(rtt);
        self.total += rtt;
        self.count += 1;
    }

    /// Their mean; zero when there are none.
    pub fn mean(&self) -> Duration {
        u32::try_from(self.count)
            .ok()
            .filter(|&n| n > 0)
            .map_or(Duration::ZERO, |n| self.total / n)
    }
}
