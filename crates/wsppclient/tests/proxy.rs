//! Through proxies and with subprotocols: `ws://` and `wss://` (TLS inside the tunnel)
//! through an HTTP `CONNECT` proxy and a SOCKS5 proxy started here, each counting its
//! tunnels so that a test proves the traffic went through it; the environment's
//! `*_PROXY` and `NO_PROXY` (set only on a child process); the one-line refusals; and
//! the server's choice of subprotocol, right or wrong.

use std::ffi::OsStr;
use std::time::Duration;

use wsppclient::commands::catalog::Request;
use wsppclient::net::proxy::{Proxies, ProxyKind};
use wsppclient::probe::PingEvent;

use crate::support::proxies::{Answer, Proxy};
use crate::support::subprotocols::{Choice, SubprotocolServer};
use crate::support::{
    self, Server, Session, assert_open_close_wire, fast_server_config, last_json_line,
    ping_session, refused_addr, run_binary, run_binary_with_env, transcript_of,
};

/// A session pinging `url` `count` times back to back through `proxy`.
fn pinging(url: String, count: u64, proxy: Proxies) -> Session {
    let mut session = support::pinging(url, count);
    session.0.dial.proxy = proxy;
    session
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn ws_ping_goes_through_an_http_connect_proxy() {
    let server = Server::start(fast_server_config()).await;
    let proxy = Proxy::http(Answer::Open).await;
    let url = format!("ws://{}/pingpong", server.addr);
    let session = pinging(url, 3, Proxies::given(&proxy.url("http"), ""));
    let (events, report) = ping_session(&session).await;
    let report = report.expect("the session runs");
    assert!(report.all_answered(), "{:?}", report.counts);
    assert_eq!(proxy.tunnels(), 1);
    let requests = proxy.requests();
    assert!(
        requests[0].starts_with(&format!(
            "CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n",
            server.addr
        )),
        "{requests:?}"
    );

    let Some(PingEvent::Started { setup, peer, .. }) = events.first() else {
        panic!("no start event: {events:?}");
    };
    assert_eq!(*peer, proxy.addr, "the TCP peer is the proxy");
    let info = setup.proxy.as_ref().expect("the proxy's handshake");
    assert_eq!(info.kind, ProxyKind::Http);
    assert_eq!(info.target, server.addr.to_string());
    assert_eq!(info.from, "--proxy");
    assert!(info.handshake > Duration::ZERO);
    assert_eq!(info.response, ["HTTP/1.1 200 Connection established"]);
}

#[tokio::test]
async fn wss_runs_tls_inside_the_tunnel_with_basic_credentials() {
    let (_server, tls) = Server::start_tls(fast_server_config()).await;
    let proxy = Proxy::http(Answer::Credentials("alice", "s3cret")).await;
    let url = format!("wss://localhost:{}/pingpong", tls.addr.port());
    let proxy_url = format!("http://alice:s3cret@{}", proxy.addr);
    let ca = tls.ca.to_string_lossy().into_owned();
    let args = [
        "--ca", &ca, "--proxy", &proxy_url, "ping", &url, "-c", "2", "-i", "0",
    ];
    let output = run_binary(&args).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[1],
        format!(
            "http proxy http://alice:***@{} (--proxy): CONNECT localhost:{} → 200 Connection established",
            proxy.addr,
            tls.addr.port()
        ),
        "{out}"
    );
    assert!(lines[2].starts_with("tls handshake "), "{out}");
    assert!(lines[3].starts_with("connected in "), "{out}");
    assert!(
        lines[3].contains(", proxy ") && lines[3].contains(", tls handshake "),
        "{out}"
    );
    assert!(
        !out.contains("s3cret"),
        "the password is never shown: {out}"
    );
    assert_eq!(proxy.tunnels(), 1);
    // The proxy saw only CONNECT and then TLS: the upgrade went inside the tunnel.
    assert!(proxy.requests()[0].contains("Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n"));

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let output = run_binary(&json_args).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json = last_json_line(&output);
    assert!(
        json["proxy_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{json}"
    );
    assert_eq!(json["proxy"], format!("http://alice:***@{}", proxy.addr));
    assert!(json["tls_handshake_ms"].is_number(), "{json}");
    assert_eq!(proxy.tunnels(), 2);
}

#[tokio::test]
async fn proxy_refusals_are_one_line_and_exit_2() {
    let server = Server::start(fast_server_config()).await;
    let url = format!("ws://{}/pingpong", server.addr);
    let asks = Proxy::http(Answer::Credentials("alice", "s3cret")).await;
    let forbids = Proxy::http(Answer::Refuse("403 Forbidden")).await;
    let wrong_login = format!("http://alice:nope@{}", asks.addr);
    let held = refused_addr();
    let unreachable = format!("http://{held}");
    for (proxy_url, expected) in [
        (
            asks.url("http"),
            format!(
                "the proxy {} refused to open a tunnel to {}: 407 Proxy Authentication \
                 Required; give the credentials in the proxy URL: http://USER:PASSWORD@HOST:PORT",
                asks.addr, server.addr
            ),
        ),
        (
            wrong_login,
            format!(
                "the proxy {} refused to open a tunnel to {}: 407 Proxy Authentication \
                 Required; it did not accept the credentials given",
                asks.addr, server.addr
            ),
        ),
        (
            forbids.url("http"),
            format!(
                "the proxy {} refused to open a tunnel to {}: 403 Forbidden",
                forbids.addr, server.addr
            ),
        ),
        (
            unreachable.clone(),
            format!(
                "cannot connect to the proxy {} (from --proxy): Connection refused (os error 111)",
                unreachable.trim_start_matches("http://")
            ),
        ),
    ] {
        let output = run_binary(&["--proxy", &proxy_url, "ping", &url, "-c", "1"]).await;
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        assert_eq!(stderr(&output), format!("wsppclient: {expected}\n"));
        assert!(output.stdout.is_empty(), "{output:?}");
    }
    assert_eq!(asks.tunnels() + forbids.tunnels(), 0);
}

#[tokio::test]
async fn a_bad_proxy_url_is_one_line_and_exit_2() {
    let output = run_binary(&["--proxy", "ftp://127.0.0.1:1", "ping", "ws://127.0.0.1:1/"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let err = stderr(&output);
    assert!(
        err.contains("ftp:// proxies are not supported: use http://, socks5:// or socks5h://"),
        "{err}"
    );

    let server = Server::start(fast_server_config()).await;
    let url = format!("ws://{}/pingpong", server.addr);
    let output = run_binary_with_env(
        &["ping", &url, "-c", "1"],
        &[("HTTP_PROXY", OsStr::new("https://127.0.0.1:1"))],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(
        stderr(&output),
        "wsppclient: bad proxy url \"https://127.0.0.1:1\" (from HTTP_PROXY): https:// proxies \
         (TLS to the proxy itself) are not supported: use http:// (wss:// still runs TLS end \
         to end inside the tunnel) or socks5://\n"
    );
}

#[tokio::test]
async fn the_environment_picks_the_proxy_by_scheme_and_no_proxy_bypasses_it() {
    let (server, tls) = Server::start_tls(fast_server_config()).await;
    let ws = format!("ws://127.0.0.1:{}/pingpong", server.addr.port());
    let wss = format!("wss://localhost:{}/pingpong", tls.addr.port());
    let ca = tls.ca.to_string_lossy().into_owned();
    let for_ws = Proxy::http(Answer::Open).await;
    let for_wss = Proxy::http(Answer::Open).await;
    let (ws_url, wss_url) = (for_ws.url("http"), for_wss.url("http"));
    let env = [
        ("http_proxy", OsStr::new(&ws_url)),
        ("HTTPS_PROXY", OsStr::new(&wss_url)),
    ];
    let run = async |url: &str, env: &[(&str, &OsStr)]| {
        let args = ["--ca", ca.as_str(), "ping", url, "-c", "1", "--json"];
        let output = run_binary_with_env(&args, env).await;
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        last_json_line(&output)["proxy"].clone()
    };

    assert_eq!(run(&ws, &env).await, ws_url);
    assert_eq!((for_ws.tunnels(), for_wss.tunnels()), (1, 0));
    assert_eq!(run(&wss, &env).await, wss_url);
    assert_eq!((for_ws.tunnels(), for_wss.tunnels()), (1, 1));

    // ALL_PROXY serves the scheme that has no proxy of its own.
    let all = [env[0], ("ALL_PROXY", OsStr::new(&wss_url))];
    assert_eq!(run(&wss, &all).await, wss_url);
    assert_eq!((for_ws.tunnels(), for_wss.tunnels()), (1, 2));

    // NO_PROXY, --no-proxy and --proxy '' each go direct.
    let bypass = [
        env[0],
        env[1],
        ("NO_PROXY", OsStr::new("localhost,127.0.0.0/8")),
    ];
    assert!(run(&ws, &bypass).await.is_null());
    assert!(run(&wss, &bypass).await.is_null());
    for opt_out in [&["--no-proxy"][..], &["--proxy", ""]] {
        let mut args = opt_out.to_vec();
        args.extend(["ping", ws.as_str(), "-c", "1"]);
        let output = run_binary_with_env(&args, &env).await;
        assert_eq!(output.status.code(), Some(0), "{output:?}");
    }
    assert_eq!((for_ws.tunnels(), for_wss.tunnels()), (1, 2));
}

#[tokio::test]
async fn menu_requests_show_the_connect_exchange_in_their_transcript() {
    let server = Server::start(wsppsrv::Config {
        open_close_pings: 2,
        ..fast_server_config()
    })
    .await;
    let proxy = Proxy::http(Answer::Credentials("bob", "pw")).await;
    let mut settings = server.client_settings();
    settings.dial.proxy = Proxies::given(&format!("http://bob:pw@{}", proxy.addr), "");
    let (result, text) = transcript_of(Request::OpenClose, &settings).await;
    result.expect("open-close through the proxy");
    assert!(
        text.contains(&format!(
            "http proxy http://bob:***@{} (from --proxy): a tunnel to {}",
            proxy.addr, server.addr
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("→ CONNECT {} HTTP/1.1", server.addr)),
        "{text}"
    );
    assert!(
        text.contains("Proxy-Authorization: Basic (hidden)"),
        "{text}"
    );
    assert!(
        text.contains("← HTTP/1.1 200 Connection established"),
        "{text}"
    );
    assert!(text.contains("tunnel open in "), "{text}");
    // Then the same wire as without a proxy: the tunnel carries it unchanged.
    assert_open_close_wire(&text, 2);

    let (result, text) = transcript_of(Request::Page, &settings).await;
    result.expect("the page through the proxy");
    assert!(text.contains("← HTTP/1.1 200 OK"), "{text}");
    assert_eq!(proxy.tunnels(), 2);
}

#[tokio::test]
async fn socks5_and_socks5h_proxies_carry_the_session() {
    let server = Server::start(fast_server_config()).await;
    let socks = Proxy::socks5(None).await;
    let url = format!("ws://localhost:{}/pingpong", server.addr.port());

    // socks5:// resolves the name here and asks for an address.
    let session = pinging(url.clone(), 2, Proxies::given(&socks.url("socks5"), ""));
    let (events, report) = ping_session(&session).await;
    assert!(report.expect("the session runs").all_answered());
    assert_eq!(socks.tunnels(), 1);
    let asked = &socks.requests()[0];
    assert!(
        asked.ends_with(&format!(":{}", server.addr.port())),
        "{asked}"
    );
    assert_ne!(asked, &format!("localhost:{}", server.addr.port()));
    let Some(PingEvent::Started { setup, .. }) = events.first() else {
        panic!("no start event");
    };
    let info = setup.proxy.as_ref().expect("the proxy's handshake");
    assert_eq!(info.kind, ProxyKind::Socks5 { remote_dns: false });

    // socks5h:// leaves the name to the proxy.
    let session = pinging(url.clone(), 1, Proxies::given(&socks.url("socks5h"), ""));
    assert!(ping_session(&session).await.1.expect("runs").all_answered());
    assert_eq!(
        socks.requests()[1],
        format!("localhost:{}", server.addr.port())
    );

    // With a login, and a refused one.
    let guarded = Proxy::socks5(Some(("carol", "pw"))).await;
    let good = format!("socks5h://carol:pw@{}", guarded.addr);
    let session = pinging(url.clone(), 1, Proxies::given(&good, ""));
    assert!(ping_session(&session).await.1.expect("runs").all_answered());
    assert_eq!(guarded.tunnels(), 1);
    let bad = format!("socks5h://carol:nope@{}", guarded.addr);
    let output = run_binary(&["--proxy", &bad, "ping", &url, "-c", "1"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(
        stderr(&output),
        format!(
            "wsppclient: the proxy {} refused to open a tunnel to localhost:{}: \
             credentials not accepted\n",
            guarded.addr,
            server.addr.port()
        )
    );
}

#[tokio::test]
async fn the_chosen_subprotocol_is_shown_and_in_the_json() {
    let server = SubprotocolServer::start(Choice::Speaks(&["chat", "superchat"])).await;
    let url = server.url();
    let offer = [
        "--subprotocol",
        "v2.chat",
        "--subprotocol",
        "superchat",
        "--subprotocol",
        "chat",
    ];
    let mut args = offer.to_vec();
    args.extend(["ping", url.as_str(), "-c", "1", "-i", "0"]);
    let output = run_binary(&args).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let out = stdout(&output);
    assert_eq!(
        out.lines().nth(1),
        Some("subprotocol: chat (the server's choice)"),
        "{out}"
    );
    args.push("--json");
    let output = run_binary(&args).await;
    assert_eq!(last_json_line(&output)["subprotocol"], "chat");

    // Without one, this server refuses, and says why.
    let output = run_binary(&["ping", &url, "-c", "1"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(
        stderr(&output),
        format!("wsppclient: {url} refused the upgrade: 400 Bad Request (missing subprotocol)\n")
    );

    // Against wsppsrv, which speaks none: null in the JSON.
    let wspp = Server::start(fast_server_config()).await;
    let plain = format!("ws://{}/pingpong", wspp.addr);
    let output = run_binary(&["ping", &plain, "-c", "1", "--json"]).await;
    assert!(last_json_line(&output)["subprotocol"].is_null());
}

#[tokio::test]
async fn a_wrong_choice_of_subprotocol_is_one_line_and_exit_2() {
    let liar = SubprotocolServer::start(Choice::Always("superchat")).await;
    let deaf = SubprotocolServer::start(Choice::Never).await;
    for (url, args, problem) in [
        (
            liar.url(),
            &["--subprotocol", "chat"][..],
            "the server chose a subprotocol that was not offered (offered: chat), which \
             RFC 6455 says to refuse",
        ),
        (
            liar.url(),
            &[],
            "the server chose a subprotocol although none was offered; offer the one it \
             speaks with --subprotocol NAME",
        ),
        (
            deaf.url(),
            &["--subprotocol", "chat", "--subprotocol", "v2"],
            "the server accepted none of the subprotocols offered (chat, v2): it may not \
             speak them; try another --subprotocol, or none",
        ),
    ] {
        let mut all = args.to_vec();
        all.extend(["ping", url.as_str(), "-c", "1"]);
        let output = run_binary(&all).await;
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        assert_eq!(stderr(&output), format!("wsppclient: {url}: {problem}\n"));
    }
    let output = run_binary(&["--subprotocol", "a,b", "ping", &liar.url()]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        stderr(&output).contains("is not a subprotocol name"),
        "{output:?}"
    );
}

#[tokio::test]
async fn inspect_shows_a_refused_connect_before_its_one_line_error() {
    let server = Server::start(fast_server_config()).await;
    let url = format!("ws://{}/pingpong", server.addr);
    let asks = Proxy::http(Answer::Credentials("alice", "s3cret")).await;
    let wrong_login = format!("http://alice:nope@{}", asks.addr);
    let output = run_binary(&["--proxy", &wrong_login, "inspect", &url]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let (out, err) = (stdout(&output), stderr(&output));
    for shown in [
        format!("CONNECT {} HTTP/1.1", server.addr),
        "Proxy-Authorization: Basic (hidden)".to_owned(),
        "HTTP/1.1 407 Proxy Authentication Required".to_owned(),
    ] {
        assert!(out.contains(&shown), "{shown:?} in\n{out}");
    }
    assert!(!out.contains("nope"), "the password in\n{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.ends_with("it did not accept the credentials given\n"),
        "{err}"
    );

    // A proxy that answers 401 to credentials refused them too.
    let unauthorized = Proxy::http(Answer::Refuse("401 Unauthorized")).await;
    let login = format!("http://alice:nope@{}", unauthorized.addr);
    let output = run_binary(&["--proxy", &login, "ping", &url, "-c", "1"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        stderr(&output).ends_with("401 Unauthorized; it did not accept the credentials given\n"),
        "{}",
        stderr(&output)
    );
}
