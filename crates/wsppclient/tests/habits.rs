//! The habits of ping(8) and of scripts: `-q`, `-D`, `-w`, `--ndjson`, and how Ctrl-C
//! and SIGTERM end `ping` and `hold` (the real binary, real signals from kill(1)).

use std::time::SystemTime;

use crate::support::{
    Running, Server, fast_server_config, last_json_line, raw, run_binary, within,
};

#[tokio::test]
async fn quiet_prints_the_header_and_the_summary_only() {
    let server = Server::start(fast_server_config()).await;
    let addr = server.addr.to_string();
    let output = run_binary(&["--server", &addr, "ping", "-q", "-c", "3", "-i", "0"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("PING "), "{stdout}");
    // The header's second line: the connect phases.
    assert!(lines[1].starts_with("connected in "), "{stdout}");
    // Then the clock of the RTTs, named quiet or not.
    assert!(lines[2].starts_with("rtt: "), "{stdout}");
    assert_eq!(lines[3], "", "{stdout}");
    assert!(lines[4].starts_with("--- "), "{stdout}");
    assert!(
        lines[5].starts_with("3 pings sent, 3 pongs received"),
        "{stdout}"
    );
    assert!(!stdout.contains("bytes from"), "{stdout}");
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("wireshark filter: "))
    );
}

#[tokio::test]
async fn timestamps_stamp_each_reply_with_the_unix_time() {
    let server = Server::start(fast_server_config()).await;
    let addr = server.addr.to_string();
    let before = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    let output = run_binary(&["--server", &addr, "ping", "-D", "-c", "3", "-i", "0"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let replies: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("bytes from"))
        .collect();
    assert_eq!(replies.len(), 3, "{stdout}");
    for line in replies {
        let stamp = line
            .strip_prefix('[')
            .and_then(|l| l.split_once("] "))
            .map(|(stamp, _)| stamp)
            .unwrap_or_else(|| panic!("no stamp: {line}"));
        let (_, micros) = stamp.split_once('.').expect("seconds.micros");
        assert_eq!(micros.len(), 6, "{line}");
        let secs: f64 = stamp.parse().expect("a number");
        assert!(secs >= before.floor(), "{line} before {before}");
    }
    assert!(stdout.starts_with("PING "), "the header is not stamped");
}

#[tokio::test]
async fn a_deadline_ends_the_run_whatever_the_count() {
    // A server that never answers: without -w the 5 s timeout would decide.
    let (addr, peer) = raw::serve_one(|mut stream| async move {
        raw::accept_upgrade(&mut stream).await;
        while let Some((opcode, payload)) = raw::read_frame(&mut stream).await {
            if raw::answer_close(&mut stream, opcode, &payload).await {
                break;
            }
        }
    })
    .await;
    let url = format!("ws://{addr}/");
    let args = [
        "ping", &url, "-c", "3", "-i", "0.05", "-W", "5", "-w", "0.3", "--ndjson",
    ];
    let output = run_binary(&args).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    // Each ping cut off by the deadline gets its line, then the summary.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    for (seq, line) in lines[..3].iter().enumerate() {
        assert_eq!(line["seq"], seq, "{line}");
        assert_eq!(line["lost"], true, "{line}");
        assert!(line.get("rtt_ms").is_none(), "{line}");
    }
    let json = last_json_line(&output);
    assert_eq!(json["received"], 0);
    assert_eq!(json["sent"], 3);
    assert_eq!(json["lost"], 3, "in flight at the deadline is lost: {json}");
    let time_ms = json["time_ms"].as_f64().expect("a time");
    assert!(time_ms >= 300.0, "{json}");
    assert!(
        time_ms < 5000.0,
        "the deadline, not the timeout, ended it: {json}"
    );
    within(peer).await.expect("peer task");

    // With -c, COUNT answers end it before the deadline; without -c the deadline does,
    // and any answer passes, as ping(8) -w.
    let server = Server::start(fast_server_config()).await;
    let addr = server.addr.to_string();
    let output = run_binary(&[
        "--server", &addr, "ping", "-c", "3", "-i", "0", "-w", "30", "--json",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(last_json_line(&output)["received"], 3);
    let output = run_binary(&[
        "--server", &addr, "ping", "-i", "0.05", "-w", "0.3", "--json",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json = last_json_line(&output);
    assert!(json["received"].as_u64().is_some_and(|n| n >= 2), "{json}");
    assert!(
        json["time_ms"].as_f64().is_some_and(|t| t >= 300.0),
        "{json}"
    );
}

/// The exit status ping(8) gives after Ctrl-C: 0 if every ping sent was answered.
fn exit_by_loss(json: &serde_json::Value) -> i32 {
    if json["lost"] == 0 { 0 } else { 1 }
}

#[tokio::test]
async fn ndjson_streams_a_line_per_ping_and_ends_with_the_summary_after_ctrl_c() {
    let server = Server::start(fast_server_config()).await;
    let addr = server.addr.to_string();
    let mut run = Running::start(&["--server", &addr, "ping", "-i", "0.05", "--ndjson"]);
    // Read while it runs: each line is flushed as its ping ends.
    for seq in 0..3 {
        let line = run.line().await.expect("a line per ping");
        let json: serde_json::Value = serde_json::from_str(&line).expect("one JSON object a line");
        assert_eq!(json["seq"], seq, "{line}");
        assert_eq!(json["kind"], "ping", "{line}");
        assert!(json["rtt_ms"].is_number(), "{line}");
        assert!(
            json["unix_time_s"].as_f64().is_some_and(|t| t > 1.7e9),
            "{line}"
        );
    }
    run.signal("INT").await;
    let (rest, status, stderr) = run.finish().await;
    let last = rest.last().expect("the summary line");
    let summary: serde_json::Value = serde_json::from_str(last).expect("JSON");
    assert!(
        summary["sent"].as_u64().is_some_and(|n| n >= 3),
        "{summary}"
    );
    assert!(summary["rtt_p50_ms"].is_number(), "{summary}");
    assert_eq!(status.code(), Some(exit_by_loss(&summary)), "{stderr}");
    for line in &rest[..rest.len() - 1] {
        let json: serde_json::Value = serde_json::from_str(line).expect("JSON");
        assert!(json["seq"].is_u64(), "{line}");
    }
}

/// Ctrl-C ends `ping` as ping(8)'s does, with Close 1000, the summary and 0 or 1 by
/// loss; SIGTERM with Close 1001 (Going Away), as wsppsrv closes when it shuts down,
/// the summary and 143.
#[tokio::test]
async fn ctrl_c_and_sigterm_end_ping_with_the_summary_and_a_close() {
    for (signal, code) in [("INT", 1000), ("TERM", 1001)] {
        let (addr, server) = raw::recording_echo().await;
        let url = format!("ws://{addr}/");
        let mut run = Running::start(&["ping", &url, "-i", "0.05", "--both"]);
        run.until(|l| l.contains("echo seq=1 ")).await;
        run.signal(signal).await;
        let (rest, status, stderr) = run.finish().await;
        let text = rest.join("\n");
        assert!(
            text.contains("ws ping and echo statistics ---"),
            "{signal}: {text}"
        );
        let lost = text
            .lines()
            .any(|l| l.contains(" received, ") && !l.contains(" 0% loss"));
        let exit = if signal == "TERM" {
            143
        } else {
            i32::from(lost)
        };
        assert_eq!(status.code(), Some(exit), "{signal}: {text} {stderr}");
        assert_eq!(
            within(server).await.expect("server task"),
            Some(code),
            "{signal}"
        );
    }
}

#[tokio::test]
async fn ctrl_c_and_sigterm_end_hold_with_a_close() {
    for (signal, code, exit) in [("INT", 1000, 0), ("TERM", 1001, 143)] {
        let (addr, server) = raw::recording_echo().await;
        let addr = addr.to_string();
        let mut run = Running::start(&["--server", &addr, "hold", "--interval", "0.05"]);
        run.until(|l| l.contains("echo seq=0")).await;
        run.signal(signal).await;
        let (rest, status, stderr) = run.finish().await;
        assert_eq!(status.code(), Some(exit), "{signal}: {rest:?} {stderr}");
        let text = rest.join("\n");
        assert!(
            text.lines()
                .any(|l| l.contains("→ Close fin=1 mask=1") && l.contains(&format!(" {code} ("))),
            "{signal}: {text}"
        );
        assert_eq!(
            within(server).await.expect("server task"),
            Some(code),
            "{signal}"
        );
    }
}

#[tokio::test]
async fn hold_with_deflate_sends_and_reads_compressed_messages() {
    let server = Server::start(fast_server_config()).await;
    let addr = server.addr.to_string();
    let mut run = Running::start(&["--server", &addr, "--deflate", "hold", "--interval", "0.05"]);
    let seen = run.until(|l| l.contains("inflated")).await;
    assert!(
        seen.iter().any(|l| l.contains("rsv=100 compressed")),
        "{seen:?}"
    );
    run.signal("INT").await;
    let (_, status, stderr) = run.finish().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
}
