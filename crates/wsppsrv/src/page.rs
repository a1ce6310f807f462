//! The HTML page of connected clients, and the query that picks which of them it shows.
//!
//! [`render`] is a pure function from a report to a string, so the page is complete
//! without JavaScript (reloading it shows the current set) and is tested without a
//! server. Every string a client supplied (User-Agent, peer, route) passes through
//! [`escape`], because the page shows text from strangers. The response also carries
//! [`CONTENT_SECURITY_POLICY`], which forbids inline script: should an escape ever be
//! missed, injected markup still cannot run code. That is why the page's optional
//! script ([`SCRIPT`], the "connect this browser" control) is a file of its own.
//!
//! With thousands of clients a page of every row would be megabytes, so a page shows a
//! [`Window`] of them (`?offset=&limit=`, 500 rows by default), says "showing N of M"
//! and links to the rest and to `/clients.json`. The registry copies out only the
//! window's clients, so a page costs the same with 100 clients or 100,000.
//! `docs/page.md` has the measured render times.

use std::fmt::{self, Write};
use std::time::{Duration, UNIX_EPOCH};

use wspp::clients::{ClientInfo, ClientsReport};
use wspp::routes;
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

/// Which slice of the client list one page shows: the `offset`-th oldest client on, at
/// most `limit` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// How many clients (oldest first) to skip.
    pub offset: usize,
    /// The most rows to show; always within `1..=Window::MAX_LIMIT`.
    pub limit: usize,
}

impl Window {
    /// Rows per page unless `?limit=` says otherwise: a few hundred kilobytes of HTML
    /// that a phone lays out without stalling.
    pub const DEFAULT_LIMIT: usize = 500;
    /// The most rows one page will show; the whole list is `/clients.json`'s job.
    pub const MAX_LIMIT: usize = 10_000;

    /// Reads `offset` and `limit` from a raw query string; other keys are ignored, so
    /// cache-busting parameters do no harm. An empty value keeps the default (that is
    /// what an empty form field sends); a value that is not a whole number is refused.
    /// A limit outside `1..=MAX_LIMIT` is clamped into it rather than refused, since
    /// the page says how many rows it shows.
    pub fn from_query(query: Option<&str>) -> Result<Window, BadQuery> {
        let mut window = Window::default();
        for pair in query.unwrap_or("").split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (slot, reason) = match key {
                "offset" => (&mut window.offset, "offset must be a whole number"),
                "limit" => (&mut window.limit, "limit must be a whole number"),
                _ => continue,
            };
            if !value.is_empty() {
                *slot = whole_number(value).ok_or(BadQuery { reason })?;
            }
        }
        window.limit = window.limit.clamp(1, Self::MAX_LIMIT);
        Ok(window)
    }

    /// The query string that asks for this window, defaults left out.
    fn query(self) -> String {
        if self.limit == Self::DEFAULT_LIMIT {
            format!("?offset={}", self.offset)
        } else {
            format!("?offset={}&limit={}", self.offset, self.limit)
        }
    }
}

impl Default for Window {
    fn default() -> Self {
        Window {
            offset: 0,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

/// A page query that cannot be read; the server answers 400 with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadQuery {
    /// What was wrong, in one line.
    pub reason: &'static str,
}

impl fmt::Display for BadQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason)
    }
}

impl std::error::Error for BadQuery {}

/// ASCII digits only (no sign, no percent-encoding); too many digits saturate, which
/// for an offset simply means "past the end".
fn whole_number(text: &str) -> Option<usize> {
    text.bytes().try_fold(0usize, |n, b| {
        b.is_ascii_digit()
            .then(|| n.saturating_mul(10).saturating_add(usize::from(b - b'0')))
    })
}

/// Renders the page for `window`.
///
/// `report.clients` must hold the window's clients, as
/// [`crate::registry::Registry::report_window`] returns them (rows past `window.limit`
/// are not shown), and `report.server.clients_now` must count every client.
pub fn render(report: &ClientsReport, window: Window) -> String {
    // The fields are public, so a hand-built window may break the invariant that
    // `from_query` keeps; the pager divides by the limit.
    let window = Window {
        limit: window.limit.clamp(1, Window::MAX_LIMIT),
        ..window
    };
    let shown = &report.clients[..report.clients.len().min(window.limit)];
    let total = usize::try_from(report.server.clients_now).unwrap_or(usize::MAX);
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
            "pager" => pager(out, window, shown.len(), total),
            "rows" => rows(out, shown, total),
            "clients_json" => out.push_str(routes::CLIENTS_JSON),
            "page_script" => out.push_str(routes::PAGE_SCRIPT),
            "socket_path" => out.push_str(routes::PINGPONG),
            _ => return false,
        }
        true
    });
    out
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

/// "Showing N of M", and links to the neighbouring windows when there are any.
fn pager(out: &mut String, window: Window, shown: usize, total: usize) {
    let Window { offset, limit } = window;
    let plural = |n: usize| if n == 1 { "client" } else { "clients" };
    // Writing to a String cannot fail.
    let _ = match (shown, total) {
        (_, 0) => write!(out, "No WebSocket client is connected."),
        (0, _) => write!(
            out,
            "Showing none of {} {}: offset {} is past the end.",
            grouped(total as u64),
            plural(total),
            grouped(offset as u64),
        ),
        (1, 1) => write!(out, "Showing 1 client."),
        (n, m) if n == m => write!(out, "Showing all {} clients.", grouped(m as u64)),
        (n, m) => write!(
            out,
            "Showing {} of {} clients ({}\u{2013}{}, oldest first).",
            grouped(n as u64),
            grouped(m as u64),
            grouped(offset as u64 + 1),
            grouped((offset + n) as u64),
        ),
    };
    let last = Window {
        offset: total.saturating_sub(1) / limit * limit,
        limit,
    };
    let mut links = Vec::new();
    if offset > 0 {
        links.push(("first", "\u{ab} first", Window { offset: 0, limit }));
        // From past the end, "previous" is the last page, not a window of nothing.
        let previous = Window {
            offset: offset.saturating_sub(limit).min(last.offset),
            limit,
        };
        links.push(("prev", "\u{2039} previous", previous));
    }
    if offset.saturating_add(shown) < total {
        let next = Window {
            offset: offset + shown,
            limit,
        };
        links.push(("next", "next \u{203a}", next));
        links.push(("last", "last \u{bb}", last));
    }
    if !links.is_empty() {
        out.push_str(" <span class=\"nav\">");
        for (rel, label, target) in links {
            // `&` between query parameters must be `&amp;` inside an attribute.
            let href = format!("{}{}", routes::PAGE, target.query()).replace('&', "&amp;");
            let _ = write!(out, "<a rel=\"{rel}\" href=\"{href}\">{label}</a> ");
        }
        out.push_str("</span>");
    }
}

fn rows(out: &mut String, shown: &[ClientInfo], total: usize) {
    let empty = match (shown.is_empty(), total) {
        (false, _) => None,
        (true, 0) => Some("no WebSocket client is connected"),
        (true, _) => Some("no client on this page"),
    };
    if let Some(message) = empty {
        let _ = writeln!(
            out,
            "<tr><td colspan=\"11\" class=\"empty\">{message}</td></tr>"
        );
    }
    for client in shown {
        row(out, client);
    }
}

fn row(out: &mut String, c: &ClientInfo) {
    let _ = write!(out, "<tr><td class=\"num\">{}</td><td>", c.id);
    push_escaped(out, &c.peer);
    out.push_str("</td><td class=\"ua\">");
    push_escaped(out, c.user_agent.as_deref().unwrap_or("-"));
    out.push_str("</td><td>");
    push_escaped(out, &c.route);
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
    use wspp::clients::ServerSummary;

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
            user_agent: Some(user_agent.into()),
            origin: None,
            route: "/pingpong".into(),
            connected_at_unix_ms: 0,
            pings_sent: 3,
            pongs_received: 2,
            rtt_last_us: Some(52),
            rtt_min_us: Some(41),
            rtt_avg_us: Some(1500),
            rtt_max_us: None,
            rtt_clock: Some(Clock::Kernel),
        }
    }

    fn window(offset: usize, limit: usize) -> Window {
        Window { offset, limit }
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
            Window::default(),
        );
        assert!(!html.contains("<img src=x"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }

    #[test]
    fn a_placeholder_in_client_text_stays_text() {
        let html = render(
            &report(vec![client(4, "{{rows}}{{pager}}")]),
            Window::default(),
        );
        assert!(html.contains("<td class=\"ua\">{{rows}}{{pager}}</td>"));
    }

    #[test]
    fn a_row_shows_every_column() {
        let html = render(&report(vec![client(4, "curl/8")]), Window::default());
        for want in [
            ">4<",
            "127.0.0.1:51000",
            "curl/8",
            "/pingpong",
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
        let html = render(&report(vec![client(4, "curl/8")]), Window::default());
        for want in [
            "<span id=\"clients-now\" class=\"value\">1</span>",
            "<span class=\"value\">12,345</span>",
            "<span class=\"value\">1m 1s</span>",
            "<span class=\"value\">1s</span>",
            "timeout 5s",
            "wsppsrv 0.1.0",
            "Showing 1 client.",
            "href=\"/clients.json\"",
            "src=\"/page.js\"",
            "data-socket-path=\"/pingpong\"",
        ] {
            assert!(html.contains(want), "missing {want}");
        }
    }

    #[test]
    fn an_empty_registry_says_so() {
        let html = render(&report(Vec::new()), Window::default());
        assert!(html.contains("no WebSocket client is connected"));
        assert!(html.contains("No WebSocket client is connected."));
        assert!(!html.contains("{{"));
        assert!(!html.contains("rel=\"next\""));
    }

    #[test]
    fn the_page_has_no_inline_script() {
        // The Content-Security-Policy would block it; the script is /page.js.
        let html = render(&report(vec![client(1, "a")]), Window::default());
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
    fn a_middle_window_links_both_ways() {
        let clients = (21..=30).map(|id| client(id, "a")).collect();
        let html = render(&report_of(clients, 95), window(20, 10));
        assert!(html.contains("Showing 10 of 95 clients (21\u{2013}30, oldest first)."));
        for want in [
            "rel=\"first\" href=\"/?offset=0&amp;limit=10\"",
            "rel=\"prev\" href=\"/?offset=10&amp;limit=10\"",
            "rel=\"next\" href=\"/?offset=30&amp;limit=10\"",
            "rel=\"last\" href=\"/?offset=90&amp;limit=10\"",
        ] {
            assert!(html.contains(want), "missing {want}");
        }
    }

    #[test]
    fn the_first_window_has_no_way_back_and_a_default_limit_is_not_repeated() {
        let clients = (1..=500).map(|id| client(id, "a")).collect();
        let html = render(&report_of(clients, 1200), Window::default());
        assert!(html.contains("Showing 500 of 1,200 clients (1\u{2013}500, oldest first)."));
        assert!(!html.contains("rel=\"prev\""));
        assert!(html.contains("rel=\"next\" href=\"/?offset=500\""));
        assert!(html.contains("rel=\"last\" href=\"/?offset=1000\""));
    }

    #[test]
    fn rows_beyond_the_limit_are_not_shown() {
        let clients = (1..=3)
            .map(|id| client(id, &format!("agent-{id}")))
            .collect();
        let html = render(&report(clients), window(0, 2));
        assert!(html.contains("agent-2") && !html.contains("agent-3"));
        assert!(html.contains("Showing 2 of 3 clients"));
    }

    #[test]
    fn a_hand_built_zero_limit_shows_one_row() {
        let clients = (1..=3).map(|id| client(id, "a")).collect();
        let html = render(&report(clients), window(0, 0));
        assert!(html.contains("Showing 1 of 3 clients"));
    }

    #[test]
    fn an_offset_past_the_end_says_so_and_links_back() {
        let html = render(&report_of(Vec::new(), 3), window(40, 10));
        assert!(html.contains("Showing none of 3 clients: offset 40 is past the end."));
        assert!(html.contains("no client on this page"));
        assert!(html.contains("rel=\"first\" href=\"/?offset=0&amp;limit=10\""));
        assert!(html.contains("rel=\"prev\" href=\"/?offset=0&amp;limit=10\""));
    }

    #[test]
    fn the_query_picks_the_window() {
        let w = |q| Window::from_query(q);
        assert_eq!(w(None), Ok(Window::default()));
        assert_eq!(w(Some("")), Ok(Window::default()));
        assert_eq!(w(Some("offset=20&limit=10")), Ok(window(20, 10)));
        assert_eq!(w(Some("limit=10&fresh=1&offset=3")), Ok(window(3, 10)));
        assert_eq!(w(Some("offset=&limit=")), Ok(Window::default()));
        assert_eq!(w(Some("limit=0")), Ok(window(0, 1)));
        assert_eq!(w(Some("limit=99999999")), Ok(window(0, Window::MAX_LIMIT)));
        assert_eq!(
            w(Some("offset=99999999999999999999999")),
            Ok(window(usize::MAX, Window::DEFAULT_LIMIT))
        );
        assert_eq!(
            w(Some("offset=-1")),
            Err(BadQuery {
                reason: "offset must be a whole number"
            })
        );
        assert_eq!(
            w(Some("limit=ten")).map_err(|e| e.to_string()),
            Err("limit must be a whole number".to_string())
        );
        assert!(w(Some("limit=%31")).is_err(), "no percent-decoding");
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
