//! The schema of `GET /clients.json`.
//!
//! The server serialises these types and the client deserialises them, so the schema
//! has one definition. It is documented for other consumers in `docs/clients-json.md`;
//! fields may be added, never renamed or removed. Times are integers with their unit
//! in the key (`_ms`, `_us`, `_secs`); an RTT is `null` until the first pong.

use serde::{Deserialize, Serialize};

use crate::wire_clock::Clock;

/// The whole document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientsReport {
    /// Facts about the server itself.
    pub server: ServerSummary,
    /// The connected WebSocket clients the request asked for (`?after=&limit=`),
    /// oldest first: one page of them.
    pub clients: Vec<ClientInfo>,
    /// The `after` that asks for the next page, when more clients follow this one;
    /// `null` on the last page (and from servers that list every client at once).
    #[serde(default)]
    pub next: Option<u64>,
}

/// Facts about the server at the moment of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerSummary {
    /// The server's version (its crate version).
    pub version: String,
    /// Seconds since the server started.
    pub uptime_secs: u64,
    /// WebSocket clients connected now, on every page.
    pub clients_now: u64,
    /// WebSocket clients accepted since the server started.
    pub clients_total: u64,
    /// How often `/pingpong` sessions are pinged.
    pub ping_interval_ms: u64,
    /// How long a ping may stay unanswered before the peer is dropped.
    pub ping_timeout_ms: u64,
}

/// One connected WebSocket client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientInfo {
    /// The server's number for this client, unique for the server's life.
    pub id: u64,
    /// The client's address and port as the server sees it; behind a trusted reverse
    /// proxy, the client's address as the proxy named it (with a port only when the
    /// proxy gave one).
    pub peer: String,
    /// The trusted reverse proxy's address and port, when the client came through one;
    /// `null` otherwise, and from servers that did not say.
    #[serde(default)]
    pub via: Option<String>,
    /// The `User-Agent` the client sent, if any.
    pub user_agent: Option<String>,
    /// The `Origin` the client sent, if any (browsers always send one).
    pub origin: Option<String>,
    /// The route it upgraded on (`/pingpong` or `/openandclosewebsocket`).
    pub route: String,
    /// The extensions the upgrade agreed, as the server's `Sec-WebSocket-Extensions`
    /// said them (`permessage-deflate; client_no_context_takeover`); empty for none, as
    /// a browser's `WebSocket.extensions` is.
    #[serde(default)]
    pub extensions: String,
    /// When the upgrade completed, in milliseconds since the Unix epoch.
    pub connected_at_unix_ms: u64,
    /// Pings the server has sent to it.
    pub pings_sent: u64,
    /// Pongs it sent that answered one of those pings.
    pub pongs_received: u64,
    /// The latest RTT, in microseconds.
    pub rtt_last_us: Option<u64>,
    /// The smallest RTT, in microseconds.
    pub rtt_min_us: Option<u64>,
    /// The mean RTT, in microseconds.
    pub rtt_avg_us: Option<u64>,
    /// The largest RTT, in microseconds.
    pub rtt_max_us: Option<u64>,
    /// The clock of the latest RTT: `"kernel"` (the network round trip, from the
    /// kernel's timestamps) or `"user"` (the server's wake-up included). `null` until
    /// the first pong, and from servers that did not say.
    #[serde(default)]
    pub rtt_clock: Option<Clock>,
    /// The HTTP version the WebSocket runs over: `"1.1"` (an upgrade, RFC 6455) or
    /// `"2"` (a stream of an HTTP/2 connection, opened by an extended CONNECT, RFC
    /// 8441). `null` from servers that did not say.
    #[serde(default)]
    pub http_version: Option<HttpVersion>,
}

/// The HTTP version under a WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpVersion {
    /// HTTP/1.1: the WebSocket took the whole connection over with a 101.
    #[serde(rename = "1.1")]
    Http11,
    /// HTTP/2: the WebSocket is one stream of the connection, opened with a 200 to an
    /// extended CONNECT; other streams may share the connection.
    #[serde(rename = "2")]
    Http2,
}

impl HttpVersion {
    /// `"1.1"` or `"2"`, as the JSON, the page and `/metrics` name it.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http11 => "1.1",
            HttpVersion::Http2 => "2",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_round_trips_with_its_documented_keys() {
        let report = ClientsReport {
            server: ServerSummary {
                version: "0.1.0".into(),
                uptime_secs: 5,
                clients_now: 1,
                clients_total: 3,
                ping_interval_ms: 1000,
                ping_timeout_ms: 5000,
            },
            clients: vec![ClientInfo {
                id: 3,
                peer: "127.0.0.1:50000".into(),
                via: None,
                user_agent: Some("test".into()),
                origin: None,
                route: "/pingpong".into(),
                extensions: String::new(),
                connected_at_unix_ms: 1_700_000_000_000,
                pings_sent: 2,
                pongs_received: 1,
                rtt_last_us: Some(42),
                rtt_min_us: Some(42),
                rtt_avg_us: Some(42),
                rtt_max_us: Some(42),
                rtt_clock: Some(Clock::Kernel),
                http_version: Some(HttpVersion::Http2),
            }],
            next: Some(3),
        };
        let json = serde_json::to_value(&report).expect("serialisable");
        assert_eq!(json["server"]["clients_total"], 3);
        assert_eq!(json["clients"][0]["rtt_last_us"], 42);
        assert!(json["clients"][0]["origin"].is_null());
        assert_eq!(json["clients"][0]["rtt_clock"], "kernel");
        assert_eq!(json["clients"][0]["http_version"], "2");
        assert_eq!(json["next"], 3);
        let back: ClientsReport = serde_json::from_value(json).expect("deserialisable");
        assert_eq!(back, report);
    }
}
