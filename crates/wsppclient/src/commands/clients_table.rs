//! The table of `/clients.json`'s clients: what `page` prints, and the cells the
//! terminal UI's clients pane shows.
//!
//! [`clients_table`] and the [`cells`] it is made of are pure functions of the report
//! and the current time, so their layout is unit-tested and every front-end shows the
//! same cells. Fetching the report is transport, and lives with the other plain HTTP
//! requests ([`crate::commands::fetch_clients`]).

use std::time::Duration;

use wspp::clients::{ClientInfo, ClientsReport};

use crate::duration;

/// The column names of [`clients_table`], in the order of [`cells`].
pub const COLUMNS: [&str; 8] = [
    "id",
    "peer",
    "route",
    "age",
    "pings",
    "pongs",
    "rtt last/min/avg/max ms",
    "user agent",
];

/// The table: a line about the server, a header, one row per client.
pub fn clients_table(report: &ClientsReport, now_unix_ms: u64) -> String {
    let s = &report.server;
    let mut out = format!(
        "server {}, up {}, {} client{} now, {} since start, pings every {}, timeout {}\n",
        s.version,
        duration::short(Duration::from_secs(s.uptime_secs)),
        s.clients_now,
        if s.clients_now == 1 { "" } else { "s" },
        s.clients_total,
        duration::short(Duration::from_millis(s.ping_interval_ms)),
        duration::short(Duration::from_millis(s.ping_timeout_ms)),
    );
    if report.clients.is_empty() {
        out.push_str("no WebSocket client is connected\n");
        return out;
    }
    let header = COLUMNS;
    let rows: Vec<[String; 8]> = report
        .clients
        .iter()
        .map(|c| cells(c, now_unix_ms))
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Numbers read best right-aligned; text left-aligned; the last column is not padded.
    let right = [true, false, false, true, true, true, false, false];
    let mut push_line = |cells: &[String]| {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            if right[i] {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else if i + 1 == cells.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    push_line(&header.map(str::to_owned));
    for row in &rows {
        push_line(row);
    }
    if let Some(more) = more_note(report) {
        out.push_str(&more);
        out.push('\n');
    }
    out
}

/// What a report that is one page of several leaves out, in one line; `None` when it
/// lists every client. `/clients.json` lists a page at a time (the oldest clients
/// first); the table shows that first page rather than fetching thousands of rows.
pub fn more_note(report: &ClientsReport) -> Option<String> {
    let after = report.next?;
    let shown = report.clients.len();
    Some(format!(
        "the oldest {shown} of {} clients shown; the rest: {}?after={after}",
        report.server.clients_now,
        wspp::routes::CLIENTS_JSON,
    ))
}

/// One client as text, a cell per [`COLUMNS`] entry. Client-supplied text is escaped
/// so that it cannot move a terminal's cursor.
pub fn cells(c: &ClientInfo, now_unix_ms: u64) -> [String; 8] {
    let us = |v: Option<u64>| v.map_or("-".to_owned(), |us| format!("{:.3}", us as f64 / 1e3));
    let age = Duration::from_millis(now_unix_ms.saturating_sub(c.connected_at_unix_ms));
    [
        c.id.to_string(),
        c.peer.clone(),
        c.route.clone(),
        duration::short(age),
        c.pings_sent.to_string(),
        c.pongs_received.to_string(),
        format!(
            "{}/{}/{}/{}",
            us(c.rtt_last_us),
            us(c.rtt_min_us),
            us(c.rtt_avg_us),
            us(c.rtt_max_us)
        ),
        c.user_agent
            .as_deref()
            .map_or("-".to_owned(), |ua| ua.escape_debug().to_string()),
    ]
}

/// Milliseconds since the Unix epoch, the unit of `/clients.json`'s timestamps.
pub fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wspp::clients::ServerSummary;

    fn report(clients: Vec<ClientInfo>) -> ClientsReport {
        ClientsReport {
            server: ServerSummary {
                version: "0.1.0".into(),
                uptime_secs: 200,
                clients_now: clients.len() as u64,
                clients_total: 7,
                ping_interval_ms: 1000,
                ping_timeout_ms: 5000,
            },
            clients,
            next: None,
        }
    }

    fn client(id: u64, ua: Option<&str>, rtt: Option<u64>) -> ClientInfo {
        ClientInfo {
            id,
            peer: "127.0.0.1:50000".into(),
            via: None,
            user_agent: ua.map(str::to_owned),
            origin: None,
            route: "/pingpong".into(),
            extensions: String::new(),
            connected_at_unix_ms: 1_000_000,
            pings_sent: 12,
            pongs_received: 11,
            rtt_last_us: rtt,
            rtt_min_us: rtt,
            rtt_avg_us: rtt,
            rtt_max_us: rtt,
            rtt_clock: None,
            http_version: None,
        }
    }

    #[test]
    fn one_row_per_client_with_aligned_columns() {
        let table = clients_table(
            &report(vec![
                client(3, Some("wsppclient/0.1.0"), Some(52)),
                client(12, None, None),
            ]),
            1_012_500,
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "server 0.1.0, up 3m20s, 2 clients now, 7 since start, pings every 1s, timeout 5s"
        );
        assert!(lines[1].starts_with("id  peer"), "{table}");
        assert!(
            lines[2].contains("/pingpong") && lines[2].contains("12.5s"),
            "{table}"
        );
        assert!(lines[2].contains("0.052/0.052/0.052/0.052"), "{table}");
        assert!(lines[2].ends_with("wsppclient/0.1.0"), "{table}");
        assert!(
            lines[3].contains("-/-/-/-") && lines[3].ends_with('-'),
            "{table}"
        );
        // Right-aligned ids end in the same column.
        assert_eq!(
            lines[2].find(" 3 ").map(|i| i + 1),
            lines[3].find("12").map(|i| i + 1)
        );
    }

    #[test]
    fn hostile_user_agents_are_escaped() {
        let table = clients_table(&report(vec![client(1, Some("x\x1b[2Jy\n"), None)]), 0);
        assert!(!table.contains('\x1b'));
        assert!(table.contains("x\\u{1b}[2Jy\\n"), "{table}");
    }

    #[test]
    fn a_first_page_of_several_says_what_it_leaves_out() {
        let mut first = report(vec![client(1, None, None), client(2, None, None)]);
        assert_eq!(more_note(&first), None);
        first.server.clients_now = 250;
        first.next = Some(2);
        let table = clients_table(&first, 0);
        assert!(
            table.ends_with("the oldest 2 of 250 clients shown; the rest: /clients.json?after=2\n"),
            "{table}"
        );
    }

    #[test]
    fn an_empty_server_says_so() {
        let table = clients_table(&report(vec![]), 0);
        assert!(table.ends_with("no WebSocket client is connected\n"));
    }
}
