//! The HTML page of connected clients.
//!
//! A pure function from a [`ClientsReport`] to a string: the page needs no JavaScript,
//! refreshing it shows the current set, and it can be tested without a server. Every
//! string a client supplied (User-Agent, Origin) passes through [`escape`], because the
//! page shows text from strangers.

use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

use wspp::clients::{ClientInfo, ClientsReport};

/// The static skeleton, compiled in so the server needs no files at run time.
const TEMPLATE: &str = include_str!("page.html");

/// Renders the whole page.
pub fn render(report: &ClientsReport) -> String {
    let s = &report.server;
    let summary = format!(
        "<b>{}</b> connected now, <b>{}</b> served since start, up <b>{}</b>, pinging every <b>{} ms</b> (timeout {} ms), wsppsrv {}",
        s.clients_now,
        s.clients_total,
        humantime::format_duration(Duration::from_secs(s.uptime_secs)),
        s.ping_interval_ms,
        s.ping_timeout_ms,
        escape(&s.version),
    );
    let mut rows = String::with_capacity(report.clients.len() * 400);
    if report.clients.is_empty() {
        rows.push_str(
            r#"<tr><td colspan="11" class="empty">no WebSocket client is connected</td></tr>"#,
        );
    }
    for client in &report.clients {
        row(&mut rows, client);
    }
    TEMPLATE
        .replacen("{{summary}}", &summary, 1)
        .replacen("{{rows}}", &rows, 1)
}

fn row(out: &mut String, c: &ClientInfo) {
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"ua\">{}</td><td>{}</td><td>{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
        c.id,
        escape(&c.peer),
        escape(c.user_agent.as_deref().unwrap_or("-")),
        escape(&c.route),
        since(c.connected_at_unix_ms),
        c.pings_sent,
        c.pongs_received,
        rtt(c.rtt_last_us),
        rtt(c.rtt_min_us),
        rtt(c.rtt_avg_us),
        rtt(c.rtt_max_us),
    );
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

/// Escapes text for an HTML element or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wspp::clients::ServerSummary;

    fn report(clients: Vec<ClientInfo>) -> ClientsReport {
        ClientsReport {
            server: ServerSummary {
                version: "0.1.0".into(),
                uptime_secs: 61,
                clients_now: clients.len() as u64,
                clients_total: 9,
                ping_interval_ms: 1000,
                ping_timeout_ms: 5000,
            },
            clients,
        }
    }

    fn client(user_agent: &str) -> ClientInfo {
        ClientInfo {
            id: 4,
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
        }
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
        let html = render(&report(vec![client("<img src=x onerror=alert(1)>")]));
        assert!(!html.contains("<img src=x"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }

    #[test]
    fn a_row_shows_every_column() {
        let html = render(&report(vec![client("curl/8")]));
        for want in [
            ">4<",
            "127.0.0.1:51000",
            "curl/8",
            "/pingpong",
            "1970-01-01T00:00:00Z",
            ">3<",
            ">2<",
            "52 µs",
            "41 µs",
            "1.50 ms",
        ] {
            assert!(html.contains(want), "missing {want}");
        }
        assert!(html.contains("<b>1</b> connected now"));
        assert!(html.contains("up <b>1m 1s</b>"));
    }

    #[test]
    fn an_empty_registry_says_so() {
        let html = render(&report(Vec::new()));
        assert!(html.contains("no WebSocket client is connected"));
        assert!(!html.contains("{{"));
    }
}
