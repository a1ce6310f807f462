//! The command line's tests: what each argument becomes in the [`Invocation`], and
//! that every catalog entry has its subcommand.

use std::time::Duration;

use clap::CommandFactory;

use super::*;
use crate::commands::catalog::Request;
use crate::commands::ping::PingOptions;
use crate::commands::ping::output::PingFormat;
use crate::commands::{InspectOptions, Options, Outgoing};

fn parse(args: &[&str]) -> Invocation {
    try_parse_from(std::iter::once("wsppclient").chain(args.iter().copied()))
        .expect("valid command line")
        .into_invocation()
}

/// The request `inv` runs, with its options and whether it dumps payloads in hex.
fn request(inv: &Invocation) -> (Request, &Options, bool) {
    match &inv.front_end {
        FrontEnd::Request {
            request,
            options,
            hex,
        } => (*request, options, *hex),
        other => panic!("not a request: {other:?}"),
    }
}

/// The ping session `inv` runs, and how it prints.
fn ping(inv: &Invocation) -> (&PingOptions, PingFormat) {
    match &inv.front_end {
        FrontEnd::Ping { options, format } => (options, *format),
        other => panic!("not ping: {other:?}"),
    }
}

#[test]
fn inspect_keeps_its_messages_in_the_order_typed() {
    let inv = parse(&[
        "inspect",
        "ws://h:1/x?y=1",
        "--send",
        "one",
        "--send-binary",
        "00 ff",
        "--send",
        "two",
        "--wait",
        "250ms",
        "--hex",
    ]);
    let (asked, options, hex) = request(&inv);
    assert_eq!(asked, Request::Inspect);
    assert!(hex);
    let inspect = &options.inspect;
    assert_eq!(inspect.url.as_deref(), Some("ws://h:1/x?y=1"));
    assert_eq!(
        inspect.messages,
        [
            Outgoing::Text("one".into()),
            Outgoing::Binary(vec![0, 255]),
            Outgoing::Text("two".into()),
        ]
    );
    assert_eq!(inspect.wait, Duration::from_millis(250));
    let defaults = parse(&["inspect"]);
    assert_eq!(request(&defaults).1.inspect, InspectOptions::default());
    let all = ["wsppclient", "inspect", "--send-binary", "abc"];
    assert!(try_parse_from(all).is_err());
}

#[test]
fn the_cli_is_well_formed() {
    Cli::command().debug_assert();
}

#[test]
fn every_catalog_entry_is_a_subcommand_with_its_help() {
    let cmd = Cli::command();
    // The subcommands that are no request of the menu: the docs, `load` and `merge`,
    // and `listen`, which is a server rather than a request.
    let others = ["completions", "man", "load", "merge", "listen"];
    assert_eq!(
        cmd.get_subcommands()
            .filter(|sub| !others.contains(&sub.get_name()))
            .count(),
        Request::ALL.len()
    );
    for request in Request::ALL {
        let sub = cmd
            .find_subcommand(request.subcommand())
            .unwrap_or_else(|| panic!("no subcommand for {request:?}"));
        assert_eq!(
            sub.get_about().map(|s| s.to_string()).as_deref(),
            Some(request.description())
        );
    }
}

#[test]
fn subcommands_map_back_to_their_entry() {
    for request in Request::ALL {
        let invocation = parse(&[request.subcommand()]);
        let got = match invocation.front_end {
            FrontEnd::Request { request, .. } => request,
            FrontEnd::Ping { .. } => Request::Ping,
            other => panic!("{request:?} parsed as {other:?}"),
        };
        assert_eq!(got, request);
    }
}

#[test]
fn ping_takes_ping8_style_options() {
    let inv = parse(&[
        "--server",
        "h:1",
        "ping",
        "ws://x:2/p",
        "-c",
        "3",
        "-i",
        "0.2",
        "-W",
        "1.5",
        "-s",
        "32",
        "--json",
        "--busy-poll",
        "1ms",
    ]);
    let (p, format) = ping(&inv);
    assert_eq!(format, PingFormat::Json);
    assert_eq!(inv.server.addr, "h:1");
    assert_eq!(p.url.as_deref(), Some("ws://x:2/p"));
    assert_eq!(p.count, Some(3));
    assert_eq!(p.interval, Duration::from_millis(200));
    assert_eq!(p.timeout, Duration::from_millis(1500));
    assert_eq!(p.payload_size, 32);
    assert_eq!(p.busy_poll, Duration::from_millis(1));
    assert_eq!(ping(&parse(&["ping"])).0.busy_poll, Duration::ZERO);
}

#[test]
fn ping_refuses_out_of_range_values() {
    for args in [
        &["ping", "-s", "15"][..],
        &["ping", "-s", "126"],
        &["ping", "-c", "0"],
        &["ping", "-W", "0"],
        &["ping", "-i", "-1"],
    ] {
        let all = std::iter::once("wsppclient").chain(args.iter().copied());
        assert!(Cli::try_parse_from(all).is_err(), "{args:?}");
    }
}

#[test]
fn global_options_work_after_the_subcommand() {
    let inv = parse(&[
        "hold",
        "--interval",
        "250ms",
        "-H",
        "X-A: 1",
        "--origin",
        "http://o",
    ]);
    let (asked, options, _) = request(&inv);
    assert_eq!(asked, Request::Hold);
    assert_eq!(options.hold.interval, Duration::from_millis(250));
    assert_eq!(inv.headers.custom.len(), 1);
    assert_eq!(inv.headers.origin.as_deref(), Some("http://o"));
}

#[test]
fn tls_servers_are_named_by_scheme_or_flag() {
    let plain = parse(&["page"]);
    assert_eq!(plain.server.addr, wspp::routes::DEFAULT_ADDR);
    assert!(!plain.server.tls);

    let flag = parse(&["--tls", "page"]);
    assert_eq!(flag.server.addr, wspp::routes::DEFAULT_TLS_ADDR);
    assert!(flag.server.tls);

    let flag_and_addr = parse(&["--server", "h:1", "--tls", "page"]);
    assert_eq!(
        (flag_and_addr.server.addr.as_str(), flag_and_addr.server.tls),
        ("h:1", true)
    );

    for (given, addr, tls) in [
        ("wss://localhost:8443", "localhost:8443", true),
        ("https://localhost:8443/", "localhost:8443", true),
        ("wss://example.test", "example.test:443", true),
        ("wss://[::1]", "[::1]:443", true),
        ("wss://[::1]:9443", "[::1]:9443", true),
        ("ws://127.0.0.1:8080", "127.0.0.1:8080", false),
    ] {
        let inv = parse(&["--server", given, "page"]);
        assert_eq!(
            (inv.server.addr.as_str(), inv.server.tls),
            (addr, tls),
            "{given}"
        );
    }
    for bad in ["ftp://h:1", "wss://h:1/pingpong", "wss://"] {
        let all = ["wsppclient", "--server", bad, "page"];
        assert!(Cli::try_parse_from(all).is_err(), "{bad}");
    }
}

#[test]
fn a_server_that_is_not_host_port_says_what_is_expected() {
    for good in [
        "localhost:8080",
        "127.0.0.1:1",
        "[::1]:8080",
        "example.test:65535",
    ] {
        assert_eq!(parse_server(good).map(|s| s.addr), Ok(good.to_owned()));
    }
    for bad in [
        "notahost", "a b:80", "h:0", "h:65536", "h:", ":80", "::1:80", "[::1]",
    ] {
        let err = parse_server(bad).expect_err(bad);
        assert!(
            err.contains("HOST:PORT") && err.contains("ws://"),
            "{bad}: {err}"
        );
    }
    assert!(parse_server("ws://a b:80").is_err());
    // The port rule of every URL: said, never replaced by a default.
    for bad in [
        "h:99999",
        "h:0",
        "ws://h:99999",
        "wss://h:65536/",
        "http://h:abc",
    ] {
        let err = parse_server(bad).expect_err(bad);
        assert!(err.contains("from 1 to 65535"), "{bad}: {err}");
    }
}

#[test]
fn tls_options_reach_the_config() {
    let inv = parse(&[
        "ping",
        "wss://localhost:1/x",
        "--ca",
        "ca.pem",
        "--insecure",
        "--key-log",
        "keys.log",
    ]);
    assert_eq!(
        inv.dial.tls,
        TlsOptions {
            ca: Some("ca.pem".into()),
            insecure: true,
            key_log: Some("keys.log".into()),
        }
    );
    assert_eq!(parse(&["page"]).dial.tls, TlsOptions::default());
}

#[test]
fn only_an_unnamed_server_may_be_started_here() {
    assert!(parse(&["page"]).server.may_start);
    assert!(!parse(&["--no-local-server", "page"]).server.may_start);
    assert!(
        !parse(&["--server", "127.0.0.1:8080", "page"])
            .server
            .may_start
    );
    let moved = parse(&["--default-server", "127.0.0.1:0", "page"]).server;
    assert_eq!(
        (moved.addr.as_str(), moved.may_start),
        ("127.0.0.1:0", true)
    );
    let named = parse(&["--default-server", "127.0.0.1:0", "--server", "h:1", "page"]);
    assert_eq!(named.server.addr, "h:1");
}

#[test]
fn k_is_insecure_and_subprotocols_keep_their_order() {
    let inv = parse(&[
        "-k",
        "ping",
        "--subprotocol",
        "v2.chat",
        "--subprotocol",
        "chat",
    ]);
    assert!(inv.dial.tls.insecure);
    assert_eq!(inv.headers.subprotocols, ["v2.chat", "chat"]);
    for bad in ["a,b", "", "with space", "x;y"] {
        let all = ["wsppclient", "--subprotocol", bad, "ping"];
        assert!(Cli::try_parse_from(all).is_err(), "{bad:?}");
    }
}

#[test]
fn proxies_are_given_checked_or_turned_off() {
    let inv = parse(&["--proxy", "http://u:p@127.0.0.1:3128", "page"]);
    let route = inv.dial.proxy.route("h:80", false).expect("usable");
    assert_eq!(route.map(|r| r.addr).as_deref(), Some("127.0.0.1:3128"));
    assert!(parse(&["--proxy", "", "page"]).dial.proxy.is_direct());
    assert!(parse(&["--no-proxy", "page"]).dial.proxy.is_direct());
    for bad in ["ftp://h:1", "https://h:1", "http://"] {
        let all = ["wsppclient", "--proxy", bad, "page"];
        assert!(Cli::try_parse_from(all).is_err(), "{bad}");
    }
}

#[test]
fn completions_and_man_run_nothing() {
    let cli = Cli::try_parse_from(["wsppclient", "completions", "zsh"]).expect("parses");
    assert_eq!(
        cli.docs(),
        Some(&DocsCommand::Completions {
            shell: wsppsrv::docs::Shell::Zsh
        })
    );
    let cli = Cli::try_parse_from(["wsppclient", "man", "--dir", "d"]).expect("parses");
    assert_eq!(
        cli.docs(),
        Some(&DocsCommand::Man {
            dir: Some("d".into())
        })
    );
    assert_eq!(
        Cli::try_parse_from(["wsppclient", "page"])
            .expect("parses")
            .docs(),
        None
    );
}

#[test]
fn no_subcommand_is_the_menu() {
    let menu = |plain| FrontEnd::Menu {
        plain,
        options: Options::default(),
        hex: false,
    };
    assert_eq!(parse(&[]).front_end, menu(false));
    assert_eq!(parse(&["--plain"]).front_end, menu(true));
}

#[test]
fn load_takes_its_options_apart_from_the_connection_settings() {
    let inv = parse(&[
        "--server",
        "h:1",
        "load",
        "--connections",
        "5000",
        "--open-rate",
        "500",
        "--duration",
        "30s",
        "-i",
        "0.5",
        "--source",
        "127.0.0.2,127.0.0.3",
        "--echo",
        "--binary",
        "--hdr-log",
        "run.hlog",
        "--ndjson",
    ]);
    let FrontEnd::Load(options) = inv.front_end else {
        panic!("not load: {:?}", inv.front_end);
    };
    assert_eq!(inv.server.addr, "h:1");
    assert_eq!(options.connections, 5000);
    assert_eq!(options.open_every, Some(Duration::from_millis(2)));
    assert_eq!(
        options.open_concurrency,
        crate::commands::load::options::DEFAULT_OPEN_CONCURRENCY
    );
    assert_eq!(options.duration, Duration::from_secs(30));
    assert_eq!(options.interval, Duration::from_millis(500));
    assert_eq!(options.timeout, Duration::from_secs(5));
    assert_eq!(options.sources.len(), 2);
    assert_eq!(
        options.probes,
        crate::probe::Probes::Echo(wspp::payload::Encoding::Binary)
    );
    assert_eq!(options.format, crate::commands::load::LoadFormat::Ndjson);
    assert_eq!(
        options.hdr_log.as_deref(),
        Some(std::path::Path::new("run.hlog"))
    );
    let merge = parse(&["merge", "a.hlog", "b.hlog", "--json"]);
    assert!(matches!(merge.front_end, FrontEnd::Merge(m) if m.files.len() == 2 && m.json));
    for bad in [
        &["load", "--connections", "0"][..],
        &["load", "--open-rate", "0"],
        &["load", "--source", "nowhere"],
        &["load", "--binary"],
        &["load", "--json", "--ndjson"],
        &["merge"],
    ] {
        let args: Vec<&str> = std::iter::once("wsppclient")
            .chain(bad.iter().copied())
            .collect();
        let err = super::try_parse_from(args).expect_err(&format!("{bad:?}"));
        assert_eq!(err.exit_code(), 2, "{bad:?}");
    }
    // A negative rate gets the rate's own words, not clap's "unexpected argument".
    for flag in ["--open-rate", "--churn"] {
        let err = super::try_parse_from(["wsppclient", "load", flag, "-5"]).expect_err(flag);
        assert!(err.to_string().contains("is not a rate"), "{flag}: {err}");
    }
    // So do negative counts: the value is named, and refused by its own parser.
    for flag in ["--connections", "--streams", "--open-concurrency"] {
        let err =
            super::try_parse_from(["wsppclient", "--http2", "load", flag, "-1"]).expect_err(flag);
        let said = err.to_string();
        assert!(said.contains("invalid value '-1'"), "{flag}: {said}");
    }
}

#[test]
fn listen_takes_its_options_and_the_global_subprotocols() {
    let invocation = parse(&[
        "--subprotocol",
        "chat",
        "--hex",
        "listen",
        "9002",
        "--deflate",
        "--refuse",
        "403",
        "--close-after",
        "2",
        "--close-code",
        "4000",
        "--ping-interval",
        "500ms",
        "--max-clients",
        "3",
        "--to",
        "1",
    ]);
    let FrontEnd::Listen { options } = invocation.front_end else {
        panic!("not listen: {:?}", invocation.front_end);
    };
    assert_eq!(options.addr, "127.0.0.1:9002");
    assert_eq!(options.subprotocols, ["chat"]);
    assert!(options.deflate);
    assert_eq!(options.refuse, Some(403));
    assert_eq!((options.close_after, options.close_code), (Some(2), 4000));
    assert_eq!(options.ping_interval, Some(Duration::from_millis(500)));
    assert_eq!((options.max_clients, options.to), (Some(3), Some(1)));
    assert_eq!(
        options.format,
        crate::commands::listen::ListenFormat::Text { hex: true }
    );
    let defaults = parse(&["listen"]);
    let FrontEnd::Listen { options } = defaults.front_end else {
        panic!("not listen");
    };
    assert_eq!(options.addr, "127.0.0.1:9001");
    assert!(!options.deflate);
    for bad in [
        &["wsppclient", "listen", "--close-code", "4000"][..],
        &["wsppclient", "listen", "--tls-cert", "c.pem"],
        &["wsppclient", "listen", "--refuse", "101"],
        &["wsppclient", "listen", "host"],
    ] {
        assert!(try_parse_from(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn load_streams_need_http2_before_or_after_the_subcommand() {
    for args in [
        &["wsppclient", "--http2", "load", "--streams", "4"][..],
        &["wsppclient", "load", "--http2", "--streams", "4"][..],
    ] {
        let inv = try_parse_from(args).expect("parses").into_invocation();
        let FrontEnd::Load(options) = inv.front_end else {
            panic!("not load: {:?}", inv.front_end);
        };
        assert!(inv.dial.http2);
        assert_eq!(options.streams, 4);
    }
    let err = try_parse_from(["wsppclient", "load", "--streams", "4"])
        .expect_err("--streams without --http2");
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("it needs --http2"), "{err}");
    let FrontEnd::Load(options) = parse(&["load"]).front_end else {
        panic!("not load");
    };
    assert_eq!(
        options.streams, 1,
        "a connection of its own for each WebSocket"
    );
}
