//! What a new user types: durations past any clock, negative numbers, URLs with a
//! port that is not one or without a scheme. Each is refused with one line and exit 2
//! before anything connects, never a panic and never a connection somewhere else.

use clap::CommandFactory;
use proptest::prelude::*;
use std::time::Duration;

use crate::support::{Server, fast_server_config, run_binary};

/// Runs the binary with `args` against a live server (so that an input which got past
/// the parser would reach the clocks it could overflow) and checks that it was refused
/// with exit 2 and a first line on stderr that says `words`, and returns stderr.
async fn assert_refused(args: &[&str], words: &str) -> String {
    let server = Server::start(fast_server_config()).await;
    let addr = server.addr.to_string();
    let output = run_binary(&[&["--server", &addr][..], args].concat()).await;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    let line = stderr.lines().next().unwrap_or_default();
    assert!(line.contains(words), "{args:?}: {line}");
    stderr
}

/// Past a year, a duration could overflow a clock; below a millisecond, a timer
/// would not keep it.
#[tokio::test]
async fn durations_a_clock_cannot_keep_are_refused_before_connecting() {
    let (long, short) = ("at most 365d", "at least 1ms");
    for (args, words) in [
        (&["ping", "-i", "1e19"][..], long),
        (&["ping", "-w", "1e19"], long),
        (&["ping", "-W", "1e19"], long),
        (&["ping", "--echo", "-i", "1e19"], long),
        (&["ping", "--busy-poll", "1e30"], long),
        (&["inspect", "--wait", "10000000000000000000s"], long),
        (&["hold", "--interval", "400d"], long),
        (&["ping", "-W", "0.00001"], short),
        (&["ping", "-w", "0"], short),
        (&["ping", "-i", "0.0001"], short),
        (&["hold", "--interval", "0"], short),
    ] {
        assert_refused(args, words).await;
    }
}

#[tokio::test]
async fn a_negative_value_gets_its_own_error() {
    for (args, words) in [
        (&["ping", "-W", "-1"][..], "negative"),
        (&["ping", "-i", "-0.5"], "negative"),
        (&["ping", "-w", "-5s"], "negative"),
        (&["inspect", "--wait", "-2"], "negative"),
        (&["ping", "-c", "-1"], "a whole number from 1"),
        (&["ping", "-s", "-1"], "-1 is not in 16..=125"),
    ] {
        let stderr = assert_refused(args, words).await;
        assert!(
            !stderr.contains("unexpected argument"),
            "{args:?}: {stderr}"
        );
    }
}

#[tokio::test]
async fn a_port_that_is_not_one_is_refused_not_replaced() {
    for url in [
        "ws://127.0.0.1:99999/pingpong",
        "ws://127.0.0.1:65536/pingpong",
        "ws://127.0.0.1:0/pingpong",
        "ws://127.0.0.1:abc/pingpong",
        "wss://127.0.0.1:99999/pingpong",
    ] {
        for request in ["ping", "inspect"] {
            assert_refused(&[request, url], "from 1 to 65535").await;
        }
    }
    for server in ["127.0.0.1:99999", "ws://127.0.0.1:0", "wss://h:65536"] {
        let output = run_binary(&["--server", server, "ping"]).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{server}: {stderr}");
        assert!(stderr.contains("1 to 65535"), "{server}: {stderr}");
    }
}

#[tokio::test]
async fn a_bad_url_says_what_a_url_looks_like() {
    for (url, words) in [
        (
            "ws://",
            "expected ws://HOST[:PORT]/PATH or wss://HOST[:PORT]/PATH",
        ),
        (
            "http://x/",
            "expected ws://HOST[:PORT]/PATH or wss://HOST[:PORT]/PATH",
        ),
        (
            "not a url",
            "expected ws://HOST[:PORT]/PATH or wss://HOST[:PORT]/PATH",
        ),
        ("localhost:8080/pingpong", "ws://localhost:8080/pingpong"),
    ] {
        let stderr = assert_refused(&["ping", url], words).await;
        assert_eq!(stderr.lines().count(), 1, "{url}: {stderr}");
    }
}

/// Every duration flag of both programs, as the user would type it, with the value
/// the parsed arguments hold under its id.
const CLIENT_FLAGS: [(&str, &str, &str); 6] = [
    ("ping", "-i", "interval"),
    ("ping", "-w", "deadline"),
    ("ping", "-W", "timeout"),
    ("ping", "--busy-poll", "busy_poll"),
    ("hold", "--interval", "interval"),
    ("inspect", "--wait", "wait"),
];
const SERVER_FLAGS: [(&str, &str); 5] = [
    ("--ping-interval", "ping_interval"),
    ("--first-ping-delay", "first_ping_delay"),
    ("--ping-timeout", "ping_timeout"),
    ("--header-timeout", "header_timeout"),
    ("--busy-poll", "busy_poll"),
];

/// What a user might type for a duration: numbers of seconds up to 1e30 and below
/// zero, with and without units, NaN, infinities and junk.
fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0.0..1e30f64).prop_map(|s| s.to_string()),
        (-1e30..0.0f64).prop_map(|s| s.to_string()),
        (0.0..1e30f64).prop_map(|s| format!("{s:e}")),
        any::<f64>().prop_map(|s| s.to_string()),
        "-?[0-9]{1,30}(ns|us|ms|s|m|h|d|y|w)?",
        prop::sample::select(vec!["NaN", "nan", "inf", "-inf", "infinity", "1e19", "-0"])
            .prop_map(str::to_owned),
        "\\PC{0,12}",
    ]
}

proptest! {
    #[test]
    fn no_duration_flag_panics_or_exceeds_the_cap(text in duration_text()) {
        for (sub, flag, id) in CLIENT_FLAGS {
            let args = ["wsppclient", sub, flag, &text];
            if let Ok(matches) = wsppclient::front::cli::Cli::command().try_get_matches_from(args) {
                let sub = matches.subcommand_matches(sub).expect("the subcommand");
                let d = sub.get_one::<Duration>(id).expect("a duration");
                prop_assert!(*d <= wspp::duration::MAX, "{args:?} gave {d:?}");
            }
        }
        for (flag, id) in SERVER_FLAGS {
            let args = ["wsppsrv", flag, &text];
            if let Ok(matches) = wsppsrv::cli::Args::command().try_get_matches_from(args) {
                let d = matches.get_one::<Duration>(id).expect("a duration");
                prop_assert!(*d <= wspp::duration::MAX, "{args:?} gave {d:?}");
            }
        }
    }
}
