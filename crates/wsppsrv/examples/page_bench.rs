//! How long the clients page takes to build with thousands of clients.
//!
//! Run it in release mode, as the server runs:
//!
//! ```text
//! cargo run --release -p wsppsrv --example page_bench
//! ```
//!
//! It times the two halves of a `GET /` without the network: copying a page of
//! clients out of a registry that holds them all, and [`render`]ing it, for the first
//! and the last page of the default 500 rows and the largest page (1,000 rows), with
//! 10,000 and 100,000 clients registered. Each figure is the median of many runs, with the fastest beside
//! it. `docs/page.md` quotes the output.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use wsppsrv::cursor::Cursor;
use wsppsrv::page::{DEFAULT_LIMIT, render};
use wsppsrv::registry::{Arrival, ClientGuard, Registry};

/// User-Agents of the lengths browsers and tools send, one with characters to escape.
const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
    "wsppclient/0.1.0",
    "<img src=x onerror=alert(1)> & \"friends\"",
];

fn main() {
    println!("| clients registered | rows shown | after id | snapshot | render | page size |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for registered in [10_000, 100_000] {
        let (registry, _guards) = registry_of(registered);
        let newest = registered as u64;
        for cursor in [
            Cursor::first(DEFAULT_LIMIT),
            // The last page: a range of the map, however many clients come before it.
            Cursor {
                after: newest - DEFAULT_LIMIT as u64,
                limit: DEFAULT_LIMIT,
            },
            Cursor::first(Cursor::MAX_LIMIT),
        ] {
            let snapshot = time(|| black_box(registry.page(cursor)));
            let (report, around) = registry.page(cursor);
            let html = render(&report, cursor, around);
            let rendering = time(|| black_box(render(black_box(&report), cursor, around)));
            println!(
                "| {registered} | {} | {} | {} | {} | {} KiB |",
                report.clients.len(),
                cursor.after,
                snapshot,
                rendering,
                html.len() / 1024,
            );
        }
    }
}

/// A registry holding `n` clients with measured RTTs; they stay listed while the guards
/// live.
fn registry_of(n: usize) -> (Registry, Vec<ClientGuard>) {
    let registry = Registry::default();
    let guards = (0..n)
        .map(|i| {
            let guard = registry.register(
                Arrival {
                    id: i as u64 + 1,
                    peer: SocketAddr::from(([127, 0, 0, 1], 1024 + (i % 60_000) as u16)).into(),
                    via: None,
                    user_agent: Some(AGENTS[i % AGENTS.len()].into()),
                    origin: None,
                    route: wspp::routes::PINGPONG,
                    extensions: None,
                },
                wspp::clients::HttpVersion::Http11,
            );
            for rtt_us in [80, 45 + (i % 50) as u64, 120] {
                guard.ping_sent();
                guard.pong_received(
                    Duration::from_micros(rtt_us),
                    wspp::wire_clock::Clock::Kernel,
                );
            }
            guard
        })
        .collect();
    (registry, guards)
}

/// Runs `f` repeatedly for about half a second; returns "median (min)".
fn time<T>(mut f: impl FnMut() -> T) -> String {
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 5
        || (start.elapsed() < Duration::from_millis(500) && samples.len() < 1000)
    {
        let t = Instant::now();
        drop(f());
        samples.push(t.elapsed());
    }
    samples.sort();
    format!(
        "{:.2} ms ({:.2} min)",
        ms(samples[samples.len() / 2]),
        ms(samples[0])
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
