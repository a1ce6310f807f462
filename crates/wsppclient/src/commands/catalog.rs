//! The catalog of requests the client can fire: one enum, one variant per request.
//!
//! The clap subcommands ([`crate::front::cli`]), the numbered menu ([`crate::front::menu`]) and the
//! terminal UI all list requests from [`Request::ALL`] and take each one's name, route
//! and texts from here, so the three views cannot drift apart. Adding a request means
//! adding a variant; the compiler then points at every match that must learn it.
//!
//! The two menus also offer `listen`, which is no request to the server but a server
//! for clients to connect to, and `load`, many connections at once rather than one
//! request: [`MenuEntry`] lists them after the requests.

use std::fmt;

use wspp::routes;

use super::listen::DEFAULT_LISTEN_ADDR;

/// One request of the menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request {
    /// `GET /`, then `GET /clients.json` on the same connection.
    Page,
    /// `GET /favicon.ico`, refused with 404.
    Favicon,
    /// Upgrade on `/openandclosewebsocket`; the server pings, then closes.
    OpenClose,
    /// A long-lived `/pingpong` session with an echo every interval.
    Hold,
    /// ping(8) over WebSocket.
    Ping,
    /// An upgrade without `Sec-WebSocket-Key`.
    NoKey,
    /// An upgrade with `Sec-WebSocket-Version: 8`.
    BadVersion,
    /// A plain GET of an upgrade route.
    NoUpgrade,
    /// Any `ws://` or `wss://` URL: the handshake and every frame, messages sent,
    /// then the close handshake.
    Inspect,
}

impl Request {
    /// Every request, in menu order.
    pub const ALL: [Request; 9] = [
        Request::Page,
        Request::Favicon,
        Request::OpenClose,
        Request::Hold,
        Request::Ping,
        Request::NoKey,
        Request::BadVersion,
        Request::NoUpgrade,
        Request::Inspect,
    ];

    /// A short name for menus.
    pub const fn label(self) -> &'static str {
        match self {
            Request::Page => "clients page",
            Request::Favicon => "favicon",
            Request::OpenClose => "open and close",
            Request::Hold => "hold a session",
            Request::Ping => "ping",
            Request::NoKey => "upgrade without a key",
            Request::BadVersion => "upgrade with version 8",
            Request::NoUpgrade => "GET without upgrade",
            Request::Inspect => "inspect any URL",
        }
    }

    /// The subcommand that runs it.
    pub const fn subcommand(self) -> &'static str {
        match self {
            Request::Page => "page",
            Request::Favicon => "favicon",
            Request::OpenClose => "open-close",
            Request::Hold => "hold",
            Request::Ping => "ping",
            Request::NoKey => "no-key",
            Request::BadVersion => "bad-version",
            Request::NoUpgrade => "no-upgrade",
            Request::Inspect => "inspect",
        }
    }

    /// The route it requests first (for `inspect`, the one it inspects when given
    /// no URL).
    pub const fn route(self) -> &'static str {
        match self {
            Request::Page => routes::PAGE,
            Request::Favicon => routes::FAVICON,
            Request::OpenClose => routes::OPEN_AND_CLOSE,
            Request::Hold
            | Request::Ping
            | Request::NoKey
            | Request::BadVersion
            | Request::NoUpgrade
            | Request::Inspect => routes::PINGPONG,
        }
    }

    /// What it does, in one line (also the subcommand's help).
    pub const fn description(self) -> &'static str {
        match self {
            Request::Page => {
                "GET / (the clients page), then /clients.json on the same connection, shown as a table"
            }
            Request::Favicon => "GET /favicon.ico, which the server refuses with 404",
            Request::OpenClose => {
                "Upgrade to WebSocket, answer the server's pings, and watch it close with 1000"
            }
            Request::Hold => {
                "Keep a /pingpong session open: the server's pings and an echo RTT every interval"
            }
            Request::Ping => "ping(8) over WebSocket: Ping frames, each answered by a Pong",
            Request::NoKey => "Upgrade request without Sec-WebSocket-Key: the server answers 400",
            Request::BadVersion => {
                "Upgrade request with Sec-WebSocket-Version: 8: the server answers 426"
            }
            Request::NoUpgrade => "Plain GET of /pingpong without upgrade headers: 400",
            Request::Inspect => {
                "Any ws:// or wss:// URL: the upgrade and every frame, your messages sent, the server's Pings answered, then Close 1000"
            }
        }
    }

    /// What to look for in a capture, in one line.
    pub const fn wireshark(self) -> &'static str {
        match self {
            Request::Page => {
                "one TCP handshake, then two HTTP request/response pairs on the kept-alive connection"
            }
            Request::Favicon => "a single HTTP GET and its 404 response, then FIN",
            Request::OpenClose => {
                "101 Switching Protocols, unmasked Pings from the server, masked Pongs from us, then Close 1000 both ways"
            }
            Request::Hold => {
                "server Pings every interval, our masked Text frames and their unmasked echoes"
            }
            Request::Ping => {
                "masked Ping frames from us, each answered by an unmasked Pong with the same payload"
            }
            Request::NoKey => {
                "Upgrade: websocket without Sec-WebSocket-Key, a 400 answer, and no frames"
            }
            Request::BadVersion => {
                "the 426 Upgrade Required answer carrying Sec-WebSocket-Version: 13"
            }
            Request::NoUpgrade => {
                "a GET of an upgrade route without Upgrade headers, and a 400 answer"
            }
            Request::Inspect => {
                "the upgrade and its answer; after a 101, our masked frames, the server's unmasked ones, and the close handshake"
            }
        }
    }

    /// Whether it runs until stopped (Enter or Ctrl-C) rather than ending by itself.
    pub const fn runs_until_stopped(self) -> bool {
        matches!(self, Request::Hold | Request::Ping)
    }

    /// The request a subcommand name stands for.
    pub fn from_subcommand(name: &str) -> Option<Request> {
        Request::ALL.into_iter().find(|r| r.subcommand() == name)
    }
}

/// An entry of the menus: a request, or `listen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MenuEntry {
    /// A request to the server.
    Request(Request),
    /// `listen` on [`DEFAULT_LISTEN_ADDR`], with its defaults otherwise.
    Listen,
    /// `load` on the server's `/pingpong`, as
    /// [`LoadOptions::for_menu`](super::load::LoadOptions::for_menu) says.
    Load,
}

impl MenuEntry {
    /// Every entry, in menu order: the requests, then `listen` and `load`.
    pub const ALL: [MenuEntry; 11] = [
        MenuEntry::Request(Request::ALL[0]),
        MenuEntry::Request(Request::ALL[1]),
        MenuEntry::Request(Request::ALL[2]),
        MenuEntry::Request(Request::ALL[3]),
        MenuEntry::Request(Request::ALL[4]),
        MenuEntry::Request(Request::ALL[5]),
        MenuEntry::Request(Request::ALL[6]),
        MenuEntry::Request(Request::ALL[7]),
        MenuEntry::Request(Request::ALL[8]),
        MenuEntry::Listen,
        MenuEntry::Load,
    ];

    /// The subcommand that runs it.
    pub const fn subcommand(self) -> &'static str {
        match self {
            MenuEntry::Request(request) => request.subcommand(),
            MenuEntry::Listen => "listen",
            MenuEntry::Load => "load",
        }
    }

    /// What the menus show beside it: the route it requests, or where it listens.
    pub const fn place(self) -> &'static str {
        match self {
            MenuEntry::Request(request) => request.route(),
            MenuEntry::Listen => DEFAULT_LISTEN_ADDR,
            MenuEntry::Load => routes::PINGPONG,
        }
    }

    /// What it does, in one line.
    pub const fn description(self) -> &'static str {
        match self {
            MenuEntry::Request(request) => request.description(),
            MenuEntry::Listen => {
                "Listen as a server on any path: each client's request, our answer and every frame both ways"
            }
            MenuEntry::Load => {
                "100 connections to /pingpong for 30 s, each pinging every second (open loop): p50/p99 each second, then the summary"
            }
        }
    }

    /// What to look for in a capture, in one line.
    pub const fn wireshark(self) -> &'static str {
        match self {
            MenuEntry::Request(request) => request.wireshark(),
            MenuEntry::Listen => {
                "the client's upgrade and masked frames, our 101 and unmasked answers; tcp.port names each connection"
            }
            MenuEntry::Load => {
                "100 upgrades, then masked Pings spread evenly over each second and their Pongs; Close 1000 from us at the end"
            }
        }
    }

    /// The entry a subcommand name stands for.
    pub fn from_subcommand(name: &str) -> Option<MenuEntry> {
        MenuEntry::ALL.into_iter().find(|e| e.subcommand() == name)
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_round_trip() {
        let names: HashSet<_> = Request::ALL.iter().map(|r| r.subcommand()).collect();
        assert_eq!(names.len(), Request::ALL.len());
        let labels: HashSet<_> = Request::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), Request::ALL.len());
        for request in Request::ALL {
            assert_eq!(
                Request::from_subcommand(request.subcommand()),
                Some(request)
            );
        }
        assert_eq!(Request::from_subcommand("nope"), None);
    }

    #[test]
    fn the_menus_list_every_request_then_listen_and_load() {
        let requests: Vec<_> = MenuEntry::ALL
            .iter()
            .filter_map(|e| match e {
                MenuEntry::Request(r) => Some(*r),
                MenuEntry::Listen | MenuEntry::Load => None,
            })
            .collect();
        assert_eq!(requests, Request::ALL);
        assert_eq!(
            MenuEntry::ALL[Request::ALL.len()..],
            [MenuEntry::Listen, MenuEntry::Load]
        );
        assert_eq!(MenuEntry::from_subcommand("load"), Some(MenuEntry::Load));
        assert_eq!(MenuEntry::Load.place(), routes::PINGPONG);
        // The text says what the menus run.
        let menu_load = crate::commands::load::LoadOptions::for_menu();
        let says = format!(
            "{} connections to /pingpong for {} s",
            menu_load.connections,
            menu_load.duration.as_secs()
        );
        assert!(MenuEntry::Load.description().starts_with(&says));
        let names: HashSet<_> = MenuEntry::ALL.iter().map(|e| e.subcommand()).collect();
        assert_eq!(names.len(), MenuEntry::ALL.len());
        assert_eq!(
            MenuEntry::from_subcommand("listen"),
            Some(MenuEntry::Listen)
        );
        assert_eq!(MenuEntry::Listen.place(), "127.0.0.1:9001");
    }

    #[test]
    fn every_route_is_a_shared_constant() {
        let known = [
            routes::PAGE,
            routes::FAVICON,
            routes::OPEN_AND_CLOSE,
            routes::PINGPONG,
        ];
        for request in Request::ALL {
            assert!(known.contains(&request.route()), "{request:?}");
        }
    }

    #[test]
    fn texts_are_single_lines() {
        for request in Request::ALL {
            for text in [request.label(), request.description(), request.wireshark()] {
                assert!(!text.is_empty() && !text.contains('\n'), "{request:?}");
                assert!(!text.ends_with('.'), "{request:?}: {text}");
            }
        }
    }
}
