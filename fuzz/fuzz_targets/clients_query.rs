//! The query of the page and `/clients.json` (`wsppsrv::cursor::Cursor::from_query`),
//! any text, and what the server does with a cursor it reads: the registry's page of
//! clients and the page's HTML, around clients whose ids sit at the edges.

#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use wspp::clients::HttpVersion;
use wsppsrv::cursor::Cursor;
use wsppsrv::forwarded::ClientAddr;
use wsppsrv::metrics::Metrics;
use wsppsrv::registry::{Arrival, ClientGuard, Registry};

/// A registry of a few clients, kept listed for the whole run.
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<(Registry, Vec<ClientGuard>)> = OnceLock::new();
    &REGISTRY
        .get_or_init(|| {
            let registry = Registry::new(
                Metrics::default(),
                Duration::from_secs(1),
                Duration::from_secs(5),
            );
            let guards = [1, 2, 3, 999, 1000, u64::MAX - 1, u64::MAX]
                .into_iter()
                .map(|id| {
                    let arrival = Arrival {
                        id,
                        peer: ClientAddr {
                            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                            port: Some(1),
                        },
                        via: None,
                        user_agent: Some("<fuzz>".into()),
                        origin: None,
                        route: wspp::routes::PINGPONG,
                        extensions: None,
                    };
                    registry.register(arrival, HttpVersion::Http11)
                })
                .collect();
            (registry, guards)
        })
        .0
}

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    for default in [wsppsrv::page::DEFAULT_LIMIT, Cursor::JSON_LIMIT] {
        let Ok(cursor) = Cursor::from_query(Some(query), default) else {
            continue;
        };
        assert!((1..=Cursor::MAX_LIMIT).contains(&cursor.limit));
        let (report, around) = registry().page(cursor);
        assert!(report.clients.len() <= cursor.limit);
        assert!(report.clients.iter().all(|c| c.id > cursor.after));
        let _ = wsppsrv::page::render(&report, cursor, around);
    }
});
