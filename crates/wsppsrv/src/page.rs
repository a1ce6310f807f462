//! The HTML page of connected clients, and the query that picks which of them it shows.
//!
//! [`render`] is a pure function from a report to a string, so the page is complete
//! without JavaScript (reloading it shows the current set) and is tested without a
//! server. Every string a client supplied (User-Agent, Origin, peer, route) passes through
//! [`escape`], because the page shows text from strangers. The response also carries
//! [`CONTENT_SECURITY_POLICY`], which forbids inline script: should an escape ever be
//! missed, injected markup still cannot run code. That is why the page's optional
//! script ([`SCRIPT`], the "connect this browser" control) is a file of its own.
//!
//! With thousands of clients a page of every row would be megabytes, so a page shows
//! the clients a [`Cursor`] picks (`?after=ID&limit=N`, 500 rows by default, at most
//! [`Cursor::MAX_LIMIT`]), says "showing N of M" and links to the pages around it and to
//! the same clients in `/clients.json`. The registry walks only the page's range of its
//! map by id, so a page costs the same with 100 clients or 100,000, and at any depth.
//! `docs/page.md` has the measured render times.

use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

use wspp::clients::{ClientInfo, ClientsReport};
use wspp::routes;

use crate::cursor::{Cursor, Neighbours};
use wspp::wire_clock::Clock;

/// The static skeleton, compiled in so the server needs no files at run time.
const TEMPLATE: &str = include_str!("page.html");

/// The page's script, served at [`routes::PAGE_SCRIPT`]. Everything it does is extra:
/// the page works without it.
pub const SCRIPT: &str = include_str!("page.js");

/// Sent with the page. Scripts only from this server's own files (no inline script, no
/// event-handler attributes), network access only to this server, whose WebSocket
/// `'self'` also covers. Inline styles are allowed because the stylesheet is inline:
/// CSS cannot run code.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     connect-src 'self'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Rows a page shows unless `?limit=` says otherwise: a few hundred kilobytes of HTML
/// that a phone lays out without stalling.
pub const DEFAULT_LIMIT: usize = 500;

/// Renders the page of the clients `cursor` picked.
///
/// `report.clients` must hold those clients and `around` the cursors of the pages
/// around them, as [`crate::registry::Registry::page`] returns them (rows past
/// `cursor.limit` are not shown), and `report.server.clients_now` must count every client.
pub fn render(report: &ClientsReport, cursor: Cursor, around: Neighbours) -> String {
    let shown = &report.clients[..report.clients.len().min(cursor.limit.max(1))];
    let total = report.server.clients_now;
    let s = &report.server;
    let mut out = String::with_capacity(TEMPLATE.len() + 1024 + shown.len() * 512);
    fill(TEMPLATE, &mut out, |name, out| {
        match name {
            "clients_now" => out.push_str(&grouped(s.clients_now)),
            "clients_total" => out.push_str(&grouped(s.clients_total)),
            "uptime" => out.push_str(&uptime(s.uptime_secs)),
            "ping_interval" => out.push_str(&duration_ms(s.ping_interval_ms)),
            "ping_timeout" => out.push_str(&duration_ms(s.ping_timeout_ms)),
            "version" => push_escaped(out, &s.version),
            "pager" => pager(out, cursor, around, shown, total),
            "rows" => rows(out, shown, total),
            "clients_json" => {
                // The same clients as JSON; `&` must be `&amp;` inside an attribute.
                let query = query(cursor.after, cursor.limit, Cursor::JSON_LIMIT);
                let href = format!("{}{query}", routes::CLIENTS_JSON);
                let _ = write!(out, "<a href=\"{}\">{href}</a>", href.replace('&', "&amp;"));
            }
            "page_script" => out.push_str(routes::PAGE_SCRIPT),
            "socket_path" => out.push_str(routes::PINGPONG),
            _ => return false,
        }
        true
    });
    out
}

/// The query string that asks for the clients after `after`, the start and a default
/// limit left out.
fn query(after: u64, limit: usize, default_limit: usize) -> String {
    let after = (after > 0).then(|| format!("after={after}"));
    let limit = (limit != default_limit).then(|| format!("limit={limit}"));
    let pairs: Vec<String> = after.into_iter().chain(limit).collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// Copies `template` to `out`, replacing each `{{name}}` with what `value` writes.
///
/// One pass, so the page is copied once, and a value is never scanned for placeholders:
/// a User-Agent that contains `{{rows}}` stays text. `value` returns false for a name
/// it does not know, a typo in the template that the unit tests catch.
fn fill(template: &str, out: &mut String, mut value: impl FnMut(&str, &mut String) -> bool) {
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let name = &rest[start + 2..start + len];
        let known = value(name, out);
        debug_assert!(
            known,
            "page.html names an unknown placeholder {{{{{name}}}}}"
        );
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
}

/// "Showing N of M", and links to the neighbouring pages when there are any.
fn pager(out: &mut String, cursor: Cursor, around: Neighbours, shown: &[ClientInfo], total: u64) {
    let plural = |n: u64| if n == 1 { "client" } else { "clients" };
    let n = shown.len() as u64;
    let ids = |c: &[ClientInfo]| (c.first().map_or(0, |c| c.id), c.last().map_or(0, |c| c.id));
    // Writing to a String cannot fail.
    let _ = match (n, total) {
        (_, 0) => write!(out, "No WebSocket client is connected."),
        (0, _) => write!(
            out,
            "Showing none of {} {}: no client after id {}.",
            grouped(total),
            plural(total),
            cursor.after,
        ),
        (1, 1) => write!(out, "Showing 1 client."),
        (n, m) if n == m => write!(out, "Showing all {} clients.", grouped(m)),
        (n, m) => {
            let (first, last) = ids(shown);
            write!(
                out,
                "Showing {} of {} clients (ids {first}\u{2013}{last}, oldest first).",
                grouped(n),
                grouped(m),
            )
        }
    };
    let mut links = Vec::new();
    if cursor.after > 0 && around.previous.is_some() {
        links.push(("first", "\u{ab} first", 0));
    }
    if let Some(after) = around.previous {
        links.push(("prev", "\u{2039} previous", after));
    }
    if let Some(after) = around.next {
        links.push(("next", "next \u{203a}", after));
    }
    if let Some(after) = around.last {
        links.push(("last", "last \u{bb}", after));
    }
    if !links.is_empty() {
        out.push_str(" <span class=\"nav\">");
        for (rel, label, after) in links {
            let href = format!(
                "{}{}",
                routes::PAGE,
                query(after, cursor.limit, DEFAULT_LIMIT)
            );
            // `&` between query parameters must be `&amp;` inside an attribute.
            let href = href.replace('&', "&amp;");
            let _ = write!(out, "<a rel=\"{rel}\" href=\"{href}\">{label}</a> ");
        }
        out.push_str("</span>");
    }
}

fn rows(out: &mut String, shown: &[ClientInfo], total: u64) {
    let empty = match (shown.is_empty(), total) {
        (false, _) => None,
        (true, 0) => Some("no WebSocket client is connected"),
        (true, _) => Some("no client on this page"),
    };
    if let Some(message) = empty {
        let _ = writeln!(
            out,
            "<tr><td colspan=\"13\" class=\"empty\">{message}</td></tr>"
        );
    }
    for client in shown {
        row(out, client);
    }
}

fn row(out: &mut String, c: &ClientInfo) {
    let _ = write!(out, "<tr><td class=\"num\">{}</td><td>", c.id);
    push_escaped(out, &c.peer);
    if let Some(via) = &c.via {
        out.push_str(" <small>via ");
        push_escaped(out, via);
        out.push_str("</small>");
    }
    out.push_str("</td><td class=\"ua\">");
    push_escaped(out, c.user_agent.as_deref().unwrap_or("-"));
    out.push_str("</td><td>");
    push_escaped(out, c.origin.as_deref().unwrap_or("-"));
    out.push_str("</td><td>");
    push_escaped(out, &c.route);
    // Which HTTP the WebSocket runs over, beside its route as the clock is beside the RTT.
    if let Some(version) = c.http_version {
        let _ = write!(out, " <small>HTTP/{}</small>", version.as_str());
    }
    out.push_str("</td><td class=\"ext\">");
    // The server wrote it, but the page escapes every string in a report alike.
    push_escaped(
        out,
        if c.extensions.is_empty() {
            "-"
        } else {
            &c.extensions
        },
    );
    let since = since(c.connected_at_unix_ms);
    // RFC 3339 for machines; for people the same instant without the `T` and the `Z`,
    // since the column heading says UTC.
    let _ = writeln!(
        out,
        "</td><td><time datetime=\"{since}\">{}</time></td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
        since.trim_end_matches('Z').replace('T', " "),
        c.pings_sent,
        c.pongs_received,
        last_rtt(c.rtt_last_us, c.rtt_clock),
        rtt(c.rtt_min_us),
        rtt(c.rtt_avg_us),
        rtt(c.rtt_max_us),
    );
}

/// The latest RTT, and the clock it was taken on: `52 µs <small>kernel</small>`.
fn last_rtt(us: Option<u64>, clock: Option<Clock>) -> String {
    match clock {
        Some(clock) if us.is_some() => format!("{} <small>{clock}</small>", rtt(us)),
        _ => rtt(us),
    }
}

/// An RTT for people: microseconds below a millisecond, milliseconds above.
fn rtt(us: Option<u64>) -> String {
    match us {
        None => "-".into(),
        Some(us) if us < 1000 => format!("{us} µs"),
        Some(us) => format!("{:.2} ms", us as f64 / 1000.0),
    }
}

/// The connection time in UTC, RFC 3339 to the second.
fn since(unix_ms: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(unix_ms);
    humantime::format_rfc3339_seconds(t).to_string()
}

fn uptime(secs: u64) -> String {
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

fn duration_ms(ms: u64) -> String {
    humantime::format_duration(Duration::from_millis(ms)).to_string()
}

/// A count with thousands separators: 12,345 reads at a glance, 12345 does not.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Escapes text for an HTML element or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

/// [`escape`] straight into the page, without a string per cell.
fn push_escaped(out: &mut String, text: &str) {
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wspp::clients::{HttpVersion, ServerSummary};

    /// A report of `clients`, which claims `total` clients in all.
    fn report_of(clients: Vec<ClientInfo>, total: u64) -> ClientsReport {
        ClientsReport {
            server: ServerSummary {
                version: "0.1.0".into(),
                uptime_secs: 61,
                clients_now: total,
                clients_total: 12_345,
                ping_interval_ms: 1000,
                ping_timeout_ms: 5000,
            },
            clients,
            next: None,
        }
    }

    fn report(clients: Vec<ClientInfo>) -> ClientsReport {
        let total = clients.len() as u64;
        report_of(clients, total)
    }

    fn client(id: u64, user_agent: &str) -> ClientInfo {
        ClientInfo {
            id,
            peer: "127.0.0.1:51000".into(),
            via: None,
            user_agent: Some(user_agent.into()),
            origin: None,
            route: "/pingpong".into(),
            extensions: String::new(),
            connected_at_unix_ms: 0,
            pings_sent: 3,
            pongs_received: 2,
            rtt_last_us: Some(52),
            rtt_min_us: Some(41),
            rtt_avg_us: Some(1500),
            rtt_max_us: None,
            rtt_clock: Some(Clock::Kernel),
            http_version: Some(HttpVersion::Http2),
        }
    }

    fn cursor(after: u64, limit: usize) -> Cursor {
        Cursor { after, limit }
    }

    /// The first page with the default limit, and nothing around it.
    fn first() -> (Cursor, Neighbours) {
        (Cursor::first(DEFAULT_LIMIT), Neighbours::default())
    }

    #[test]
    fn escape_covers_the_html_specials() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("plain µs"), "plain µs");
    }

    #[test]
    fn a_hostile_user_agent_is_shown_escaped() {
        let html = render(
            &report(vec![client(4, "<img src=x onerror=alert(1)>")]),
            first().0,
            first().1,
        );
        assert!(!html.contains("<img src=x"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }

    #[test]
    fn a_placeholder_in_client_text_stays_text() {
        let html = render(
            &report(vec![client(4, "{{rows}}{{pager}}")]),
            first().0,
            first().1,
        );
        assert!(html.contains("<td class=\"ua\">{{rows}}{{pager}}</td>"));
    }

    #[test]
    fn a_row_shows_every_column() {
        let html = render(&report(vec![client(4, "curl/8")]), first().0, first().1);
        for want in [
            ">4<",
            "127.0.0.1:51000",
            "curl/8",
            "/pingpong <small>HTTP/2</small>",
            "datetime=\"1970-01-01T00:00:00Z\">1970-01-01 00:00:00<",
            ">3<",
            ">2<",
            "52 µs <small>kernel</small>",
            "41 µs",
            "1.50 ms",
        ] {
            assert!(html.contains(want), "missing {want}");
        }
    }

    #[test]
    fn the_summary_shows_the_server() {
        let html = render(&report(vec![client(4, "curl/8")]), first().0, first().1);
        for want in [
            "<span id=\"clients-now\" class=\"value\">1</span>",
            "<span class=\"value\">12,345</span>",
            "<span class=\"value\">1m 1s</span>",
            "<span class=\"value\">1s</span>",
            "timeout 5s",
            "wsppsrv 0.1.0",
            "Showing 1 client.",
            "href=\"/clients.json?limit=500\"",
            "src=\"/page.js\"",
            "data-socket-path=\"/pingpong\"",
        ] {
            assert!(html.contains(want), "missing {want}");
        }
    }

    #[test]
    fn an_empty_registry_says_so() {
        let html = render(&report(Vec::new()), first().0, first().1);
        assert!(html.contains("no WebSocket client is connected"));
        assert!(html.contains("No WebSocket client is connected."));
        assert!(!html.contains("{{"));
        assert!(!html.contains("rel=\"next\""));
    }

    #[test]
    fn the_page_has_no_inline_script() {
        // The Content-Security-Policy would block it; the script is /page.js.
        let html = render(&report(vec![client(1, "a")]), first().0, first().1);
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains("<script src=\"/page.js\" defer></script>"));
        let handler = html.match_indices(" on").find(|(at, _)| {
            let name: String = html[at + 3..]
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect();
            !name.is_empty() && html[at + 3 + name.len()..].starts_with('=')
        });
        assert_eq!(handler, None, "no event-handler attributes");
    }

    #[test]
    fn a_middle_page_links_both_ways_and_to_its_json() {
        let clients = (21..=30).map(|id| client(id, "a")).collect();
        let around = Neighbours {
            previous: Some(10),
            next: Some(30),
            last: Some(85),
        };
        let html = render(&report_of(clients, 95), cursor(20, 10), around);
        assert!(html.contains("Showing 10 of 95 clients (ids 21\u{2013}30, oldest first)."));
        for want in [
            "rel=\"first\" href=\"/?limit=10\"",
            "rel=\"prev\" href=\"/?after=10&amp;limit=10\"",
            "rel=\"next\" href=\"/?after=30&amp;limit=10\"",
            "rel=\"last\" href=\"/?after=85&amp;limit=10\"",
            "<a href=\"/clients.json?after=20&amp;limit=10\">/clients.json?after=20&limit=10</a>",
        ] {
            assert!(html.contains(want), "missing {want}");
        }
    }

    #[test]
    fn the_first_page_has_no_way_back_and_a_default_limit_is_not_repeated() {
        let clients = (1..=500).map(|id| client(id, "a")).collect();
        let around = Neighbours {
            previous: None,
            next: Some(500),
            last: Some(700),
        };
        let html = render(&report_of(clients, 1200), first().0, around);
        assert!(html.contains("Showing 500 of 1,200 clients (ids 1\u{2013}500, oldest first)."));
        assert!(!html.contains("rel=\"prev\"") && !html.contains("rel=\"first\""));
        assert!(html.contains("rel=\"next\" href=\"/?after=500\""));
        assert!(html.contains("rel=\"last\" href=\"/?after=700\""));
        assert!(html.contains("<a href=\"/clients.json?limit=500\">"));
    }

    #[test]
    fn rows_beyond_the_limit_are_not_shown() {
        let clients = (1..=3)
            .map(|id| client(id, &format!("agent-{id}")))
            .collect();
        let html = render(&report(clients), cursor(0, 2), Neighbours::default());
        assert!(html.contains("agent-2") && !html.contains("agent-3"));
        assert!(html.contains("Showing 2 of 3 clients"));
    }

    #[test]
    fn a_hand_built_zero_limit_shows_one_row() {
        let clients = (1..=3).map(|id| client(id, "a")).collect();
        let html = render(&report(clients), cursor(0, 0), Neighbours::default());
        assert!(html.contains("Showing 1 of 3 clients"));
    }

    #[test]
    fn a_cursor_past_the_end_says_so_and_links_back() {
        let around = Neighbours {
            previous: Some(0),
            ..Neighbours::default()
        };
        let html = render(&report_of(Vec::new(), 3), cursor(40, 10), around);
        assert!(html.contains("Showing none of 3 clients: no client after id 40."));
        assert!(html.contains("no client on this page"));
        assert!(html.contains("rel=\"first\" href=\"/?limit=10\""));
        assert!(html.contains("rel=\"prev\" href=\"/?limit=10\""));
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
