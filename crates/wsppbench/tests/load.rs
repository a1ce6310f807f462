//! The load section run small, as the suite runs it (`--quick --only load`): 20
//! connections, a 2 s window, a wsppsrv child and `wsppclient load` children, the
//! binaries built next to this one (`cargo test --workspace` builds them all). The
//! section checks its own figures as it goes; this reads the ones it writes into the
//! doc and checks that the server-under-load table is there and adds up.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A binary of the workspace, built next to wsppbench.
fn sibling(name: &str) -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_wsppbench")).with_file_name(name);
    assert!(
        bin.exists(),
        "{} is not built: cargo build -p {name} (cargo test --workspace builds it)",
        bin.display()
    );
    bin
}

/// The value cell of the doc's table row that starts with `figure`.
fn row<'a>(doc: &'a str, figure: &str) -> &'a str {
    let line = doc
        .lines()
        .find(|l| l.starts_with(&format!("| {figure}")))
        .unwrap_or_else(|| panic!("no row {figure:?} in:\n{doc}"));
    line.split('|').nth(2).expect("a value cell").trim()
}

/// The whole numbers in `text`, thousands separators and all.
fn numbers(text: &str) -> Vec<u64> {
    text.replace(',', "")
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .filter(|w| !w.is_empty() && !w.contains('.'))
        .map(|w| w.parse().expect("digits"))
        .collect()
}

#[test]
fn the_load_section_measures_the_server_under_wsppclient_load() {
    let dir = std::env::temp_dir().join(format!("wsppbench-load-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let doc = dir.join("benchmarks.md");
    let output = Command::new(env!("CARGO_BIN_EXE_wsppbench"))
        .args(["--quick", "--only", "load", "--load-clients", "20"])
        .arg("--server-bin")
        .arg(sibling("wsppsrv"))
        .arg("--client-bin")
        .arg(sibling("wsppclient"))
        .arg("--doc")
        .arg(&doc)
        .output()
        .expect("wsppbench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("bench-smoke: 2 passed, 0 failed"),
        "{}\n{stdout}\n{stderr}",
        output.status
    );
    let doc = std::fs::read_to_string(&doc).expect("the doc written");
    let _ = std::fs::remove_dir_all(&dir);

    // The server's own pinging, as before, then the server under the load engine.
    assert!(doc.contains("**Held under ping load: 20 clients"), "{doc}");
    assert!(
        doc.contains("**The server under wsppclient load: 20 connections from 1 generator,"),
        "{doc}"
    );
    assert!(row(&doc, "server CPU per probe").ends_with("probes a second in the window)"));
    let probes = numbers(row(&doc, "probes sent / received / lost"));
    let [sent, received, lost] = probes[..] else {
        panic!("sent / received / lost: {probes:?}")
    };
    assert!(received > 0 && received <= sent, "{probes:?}");
    assert!(lost <= sent - received, "{probes:?}");
    let rtt = numbers(row(&doc, "fleet RTT p50 / p99"));
    let [p50, p99, merged] = rtt[..] else {
        panic!("p50 / p99 (round trips): {rtt:?}")
    };
    assert!(p50 <= p99, "{rtt:?}");
    assert_eq!(merged, received, "the merged logs against the summaries");
    let late = numbers(row(&doc, "late sends"));
    assert!(!late.is_empty() && late[0] <= sent, "{late:?}");
}
