//! The plain menu, driven through an in-memory stdin as a pipe would drive it.

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use wsppclient::commands::Options;
use wsppclient::front::menu;
use wsppclient::net::settings::ConnectSettings;
use wsppclient::outcome::Outcome;

use crate::support::{Server, fast_server_config, within};

/// Runs the menu on `input` with the default options and returns how it ended and
/// what it printed.
async fn drive(settings: &ConnectSettings, input: &'static [u8]) -> (Outcome, String) {
    drive_with(settings, &Options::default(), false, input).await
}

/// [`drive`] with `options`, and hex dumps when `hex`.
async fn drive_with(
    settings: &ConnectSettings,
    options: &Options,
    hex: bool,
    input: &'static [u8],
) -> (Outcome, String) {
    let (_interrupt, mut interrupts) = mpsc::unbounded_channel();
    let mut out = Vec::new();
    let outcome = within(menu::run(
        settings,
        options,
        hex,
        BufReader::new(input),
        &mut out,
        &mut interrupts,
    ))
    .await
    .expect("the menu runs");
    (outcome, String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn a_choice_runs_its_request_and_q_quits() {
    let server = Server::start(fast_server_config()).await;
    let (outcome, out) = drive(&server.client_settings(), b"3\nq\n").await;
    assert_eq!(outcome, Outcome::Success);
    assert!(
        out.contains(" 3) open-close   /openandclosewebsocket"),
        "{out}"
    );
    assert!(out.contains("── open-close:"), "{out}");
    assert!(out.contains("← Close fin=1 mask=0"), "{out}");
    assert!(
        out.contains("the server closed: 1000 (Normal Closure)"),
        "{out}"
    );
}

#[tokio::test]
async fn names_work_too_and_unknown_choices_are_named() {
    let server = Server::start(fast_server_config()).await;
    let (outcome, out) = drive(&server.client_settings(), b"dance\nno-upgrade\n").await;
    // End of input quits like q.
    assert_eq!(outcome, Outcome::Success);
    assert!(out.contains("unknown choice \"dance\""), "{out}");
    assert!(out.contains("← HTTP/1.1 400 Bad Request"), "{out}");
}

#[tokio::test]
async fn hold_stops_at_the_next_line_and_returns_to_the_menu() {
    let server = Server::start(fast_server_config()).await;
    let (outcome, out) = drive(&server.client_settings(), b"hold\n\nfavicon\nq\n").await;
    assert_eq!(outcome, Outcome::Success);
    assert!(out.contains("(press Enter to stop)"), "{out}");
    assert!(
        out.contains("→ Close fin=1 mask=1 len=5 1000 (Normal Closure) \"bye\""),
        "{out}"
    );
    // Back at the menu, the next choice ran.
    assert!(out.contains("← HTTP/1.1 404 Not Found"), "{out}");
}

#[tokio::test]
async fn a_failed_request_is_shown_and_the_menu_carries_on() {
    let held = crate::support::refused_addr();
    let addr = held.addr;
    let (outcome, out) = drive(&ConnectSettings::new(addr.to_string()), b"1\nq\n").await;
    assert_eq!(outcome, Outcome::Success);
    assert!(
        out.contains(&format!("error: cannot connect to {addr}: ")),
        "{out}"
    );
}

#[tokio::test]
async fn ctrl_c_at_the_prompt_leaves_the_menu() {
    let (interrupt, mut interrupts) = mpsc::unbounded_channel();
    // A stdin that stays open and silent, like a terminal nobody types into.
    let (mut keyboard, input) = tokio::io::duplex(64);
    interrupt.send(()).expect("the menu listens");
    let mut out = Vec::new();
    let outcome = within(menu::run(
        &ConnectSettings::new("127.0.0.1:1"),
        &Options::default(),
        false,
        BufReader::new(input),
        &mut out,
        &mut interrupts,
    ))
    .await
    .expect("the menu runs");
    assert_eq!(outcome, Outcome::Interrupted);
    assert_eq!(outcome.exit_code(), 130);
    keyboard.shutdown().await.expect("close the keyboard");
}

#[tokio::test]
async fn inspect_asks_for_its_url_and_a_message_and_dumps_hex_with_hex() {
    let server = Server::start(fast_server_config()).await;
    let settings = server.client_settings();
    let mut options = Options::default();
    options.inspect.wait = std::time::Duration::from_millis(100);
    let typed = format!(
        "inspect\nws://{}/pingpong?via=menu\nhello\nq\n",
        server.addr
    );
    let input: &'static [u8] = Box::leak(typed.into_bytes().into_boxed_slice());
    let (outcome, out) = drive_with(&settings, &options, true, input).await;
    assert_eq!(outcome, Outcome::Success);
    assert!(
        out.contains(&format!(
            "URL to inspect (Enter: ws://{}/pingpong)> ",
            server.addr
        )),
        "{out}"
    );
    assert!(
        out.contains("a Text message to send (Enter: none)> "),
        "{out}"
    );
    assert!(out.contains("→ GET /pingpong?via=menu HTTP/1.1"), "{out}");
    assert!(out.contains("← Text fin=1 mask=0 len=5 \"hello\""), "{out}");
    assert!(
        out.contains("0000  68 65 6c 6c 6f                                    hello"),
        "{out}"
    );
    assert!(out.contains("wireshark filter: tcp.port == "), "{out}");
}

/// A pipe that ends is not Ctrl-C: a ping chosen last runs as it would with nobody
/// pressing Enter, here to its count.
#[tokio::test]
async fn the_end_of_input_does_not_interrupt_a_ping() {
    let server = Server::start(fast_server_config()).await;
    let mut options = Options::default();
    options.ping.count = Some(2);
    options.ping.interval = std::time::Duration::ZERO;
    let (outcome, out) = drive_with(&server.client_settings(), &options, false, b"ping\n").await;
    assert_eq!(outcome, Outcome::Success);
    assert!(out.contains("(press Enter to stop)"), "{out}");
    assert!(!out.contains("interrupted"), "{out}");
    assert!(out.contains("2 pings sent, 2 pongs received"), "{out}");
}

/// A question the input ended before answering runs nothing: the menu ends as at `q`.
#[tokio::test]
async fn the_end_of_input_at_a_question_runs_nothing() {
    let server = Server::start(fast_server_config()).await;
    let (outcome, out) = drive(&server.client_settings(), b"inspect\n").await;
    assert_eq!(outcome, Outcome::Success);
    assert!(out.contains("URL to inspect"), "{out}");
    assert!(!out.contains("→ GET"), "{out}");
}

/// `load` from the numbered menu prints what the subcommand prints; the next line
/// stops it (here at once), and the menu carries on.
#[tokio::test]
async fn load_prints_its_summary_and_the_next_line_stops_it() {
    let server = Server::start(fast_server_config()).await;
    let (outcome, out) = drive(&server.client_settings(), b"11\n\nfavicon\nq\n").await;
    assert_eq!(outcome, Outcome::Success);
    assert!(out.contains("11) load"), "{out}");
    assert!(
        out.contains("── load: 100 connections to /pingpong"),
        "{out}"
    );
    assert!(out.contains("(press Enter to stop)"), "{out}");
    assert!(
        out.contains(&format!(
            "--- ws://{}/pingpong load statistics ---",
            server.addr
        )),
        "{out}"
    );
    assert!(out.contains("100 connections: "), "{out}");
    // Back at the menu, the next choice ran.
    assert!(out.contains("← HTTP/1.1 404 Not Found"), "{out}");
}
