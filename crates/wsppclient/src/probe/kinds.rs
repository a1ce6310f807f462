//! The kinds of probe: a Ping control frame, answered by the peer's WebSocket layer,
//! or a message the peer's application echoes; and which of them a session sends.

use wspp::payload::Encoding;

/// One kind of probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Probe {
    /// A Ping control frame, answered by the peer's WebSocket layer with a Pong.
    Ping,
    /// A Text or Binary message, answered by the peer's application echoing it.
    Echo,
}

impl Probe {
    /// `ping` or `echo`, as the output and the JSON name it.
    pub fn name(self) -> &'static str {
        match self {
            Probe::Ping => "ping",
            Probe::Echo => "echo",
        }
    }
}

/// Which probes a session sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Probes {
    /// Pings only (the default, and ping(8)'s way).
    #[default]
    Ping,
    /// Messages to echo only, Text or Binary as the encoding says.
    Echo(Encoding),
    /// A Ping and a message on alternate turns.
    Both(Encoding),
}

impl Probes {
    /// The kinds sent, in turn order.
    pub fn kinds(self) -> &'static [Probe] {
        match self {
            Probes::Ping => &[Probe::Ping],
            Probes::Echo(_) => &[Probe::Echo],
            Probes::Both(_) => &[Probe::Ping, Probe::Echo],
        }
    }

    /// How echo messages are written, if any are sent.
    pub fn echo(self) -> Option<Encoding> {
        match self {
            Probes::Ping => None,
            Probes::Echo(encoding) | Probes::Both(encoding) => Some(encoding),
        }
    }
}
