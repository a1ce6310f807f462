//! `wss://` against wsppsrv's TLS listener: trusting its certificate with `--ca` or
//! not at all, the one-line refusals, `SSLKEYLOGFILE`, the handshake reported apart
//! from the RTTs, and the menu requests over TLS with a plaintext transcript.

use std::time::Duration;

use wsppclient::Error;
use wsppclient::commands::catalog::Request;
use wsppclient::commands::ping::PingOptions;
use wsppclient::net::settings::ConnectSettings;
use wsppclient::probe::PingEvent;

use crate::support::{
    self, Server, Session, TlsSide, assert_open_close_wire, fast_server_config, last_json_line,
    ping_session, raw, run_binary, run_binary_with_env, temp_file, transcript_of, within,
};

/// A session pinging `url` `count` times back to back, trusting `tls.ca`.
fn pinging(url: String, count: u64, tls: &TlsSide) -> Session {
    let mut session = support::pinging(url, count);
    session.0.dial.tls.ca = Some(tls.ca.clone());
    session
}

#[tokio::test]
async fn wss_ping_trusting_the_servers_certificate() {
    let (_server, tls) = Server::start_tls(fast_server_config()).await;
    let url = format!("wss://localhost:{}/pingpong", tls.addr.port());
    let (events, report) = ping_session(&pinging(url, 3, &tls)).await;
    let report = report.expect("the session runs");
    assert!(report.all_answered(), "{:?}", report.counts);

    let Some(PingEvent::Started { setup, .. }) = events.first() else {
        panic!("no start event: {events:?}");
    };
    let info = setup.tls.as_ref().expect("a tls handshake");
    assert_eq!(info.version, "TLSv1.3");
    assert_eq!(info.alpn.as_deref(), Some("http/1.1"));
    assert_eq!(info.sni.as_deref(), Some("localhost"));
    assert!(info.verified);
    assert!(info.handshake > Duration::ZERO);
    assert_eq!(report.setup, **setup);
}

#[tokio::test]
async fn the_binary_reports_the_handshake_apart_from_the_rtts() {
    let (_server, tls) = Server::start_tls(fast_server_config()).await;
    let url = format!("wss://127.0.0.1:{}/pingpong", tls.addr.port());
    let ca = tls.ca.to_string_lossy().into_owned();

    let output = run_binary(&["--ca", &ca, "ping", &url, "-c", "2", "-i", "0"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with(&format!("PING {url} (")), "{stdout}");
    assert!(lines[1].starts_with("tls handshake "), "{stdout}");
    assert!(
        lines[1].contains("TLSv1.3")
            && lines[1].contains("ALPN http/1.1")
            && lines[1].contains("no SNI (IP address)")
            && lines[1].ends_with("certificate verified"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("connected in ")
            && lines[2].contains(": resolve ")
            && lines[2].contains(", tls handshake ")
            && lines[2].ends_with(" ms"),
        "{stdout}"
    );
    // The clock of the RTTs, named under the setup: over wss:// too, the kernel
    // stamps the ciphertext's arrival.
    assert!(lines[3].starts_with("rtt: "), "{stdout}");
    assert!(lines[4].contains(": seq=0 rtt="), "{stdout}");
    assert!(output.stderr.is_empty(), "{output:?}");

    let output = run_binary(&["--ca", &ca, "ping", &url, "-c", "2", "-i", "0", "--json"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json = last_json_line(&output);
    assert_eq!(json["received"], 2);
    assert!(
        json["tls_handshake_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{json}"
    );
    assert!(json["tcp_connect_ms"].is_number(), "{json}");
    assert!(json["upgrade_ms"].is_number(), "{json}");
    assert_eq!(json["tls_version"], "TLSv1.3");
    assert!(
        json["tls_cipher_suite"]
            .as_str()
            .is_some_and(|s| s.starts_with("TLS13_")),
        "{json}"
    );
}

#[tokio::test]
async fn insecure_skips_verification_and_warns_once() {
    let (_server, tls) = Server::start_tls(fast_server_config()).await;
    let url = format!("wss://127.0.0.1:{}/pingpong", tls.addr.port());
    let output = run_binary(&["--insecure", "ping", &url, "-c", "1", "-i", "0"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("wsppclient: warning: --insecure: server certificates are not verified"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("certificate NOT verified (--insecure)"),
        "{stdout}"
    );
}

#[tokio::test]
async fn an_untrusted_certificate_exits_2_with_one_clear_line() {
    let (_server, tls) = Server::start_tls(fast_server_config()).await;
    // Trust some other certificate: the server's then has no known issuer.
    let other = wsppsrv::tls::Identity::self_signed().expect("a certificate");
    let other_ca = temp_file("other-ca.pem", &other.cert_pem);
    let url = format!("wss://127.0.0.1:{}/pingpong", tls.addr.port());
    let output = run_binary(&["--ca", &other_ca.to_string_lossy(), "ping", &url, "-c", "1"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "wsppclient: tls handshake with {} failed: the server's certificate is not signed \
             by any CA this client trusts: {} holds no certificate that signed it: give --ca \
             the server's own certificate or its CA's, or skip verification with -k \
             (--insecure)\n",
            tls.addr,
            other_ca.display()
        )
    );
    assert!(output.stdout.is_empty(), "{output:?}");

    // Without --ca, the system's roots do not know it either: the advice names both ways.
    let output = run_binary(&["ping", &url, "-c", "1"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "wsppclient: tls handshake with {} failed: the server's certificate is not signed \
             by any CA this client trusts: if it is self-signed or from a private CA, trust \
             that certificate with --ca FILE (PEM), or skip verification with -k \
             (--insecure)\n",
            tls.addr
        )
    );

    // -k is --insecure.
    let output = run_binary(&["-k", "ping", &url, "-c", "1", "-i", "0"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

#[tokio::test]
async fn a_certificate_for_another_name_exits_2_naming_both() {
    let (_server, tls) = Server::start_tls_with(
        fast_server_config(),
        &["wspp.invalid"],
        rustls::DEFAULT_VERSIONS,
    )
    .await;
    let url = format!("wss://127.0.0.1:{}/pingpong", tls.addr.port());
    let ca = tls.ca.to_string_lossy().into_owned();
    let output = run_binary(&["--ca", &ca, "ping", &url, "-c", "1"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "wsppclient: tls handshake with {} failed: the server's certificate is not valid \
             for 127.0.0.1 (it names wspp.invalid): connect by a name it lists, or skip \
             verification with -k (--insecure)\n",
            tls.addr
        )
    );
}

#[tokio::test]
async fn sslkeylogfile_receives_the_tls13_secrets() {
    let (_server, tls) = Server::start_tls(fast_server_config()).await;
    let key_log = temp_file("keys.log", "");
    let url = format!("wss://localhost:{}/pingpong", tls.addr.port());
    let ca = tls.ca.to_string_lossy().into_owned();
    let output = run_binary_with_env(
        &["--ca", &ca, "ping", &url, "-c", "1"],
        &[("SSLKEYLOGFILE", key_log.as_os_str())],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let log = std::fs::read_to_string(&key_log).expect("the key log");
    for label in [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
    ] {
        assert_eq!(
            log.lines()
                .filter(|l| l.starts_with(&format!("{label} ")))
                .count(),
            1,
            "{label}: {log}"
        );
    }
    // NSS format: LABEL, the 32-byte client random, the secret, all in hex; one
    // session, so one client random.
    let randoms: std::collections::HashSet<&str> = log
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(fields.len(), 3, "{line}");
            assert_eq!(fields[1].len(), 64, "{line}");
            assert!(fields[2].chars().all(|c| c.is_ascii_hexdigit()), "{line}");
            fields[1]
        })
        .collect();
    assert_eq!(randoms.len(), 1, "{log}");
}

#[tokio::test]
async fn a_tls12_session_logs_client_random() {
    let (_server, tls) = Server::start_tls_with(
        fast_server_config(),
        &wsppsrv::tls::SELF_SIGNED_NAMES,
        &[&rustls::version::TLS12],
    )
    .await;
    let key_log = temp_file("keys12.log", "");
    let mut session = pinging(
        format!("wss://localhost:{}/pingpong", tls.addr.port()),
        1,
        &tls,
    );
    session.0.dial.tls.key_log = Some(key_log.clone());
    let (events, report) = ping_session(&session).await;
    assert!(report.expect("the session runs").all_answered());
    let Some(PingEvent::Started { setup, .. }) = events.first() else {
        panic!("no start event: {events:?}");
    };
    let info = setup.tls.as_ref().expect("a tls handshake");
    assert_eq!(info.version, "TLSv1.2");
    assert_eq!(info.key_log.as_ref(), Some(&key_log));
    let log = std::fs::read_to_string(&key_log).expect("the key log");
    assert!(log.starts_with("CLIENT_RANDOM "), "{log}");
}

#[tokio::test]
async fn menu_requests_over_tls_show_plaintext_frames() {
    let (_server, tls) = Server::start_tls(wsppsrv::Config {
        open_close_pings: 2,
        ..fast_server_config()
    })
    .await;
    let mut settings = ConnectSettings::new(format!("localhost:{}", tls.addr.port()));
    settings.server.tls = true;
    settings.dial.tls.ca = Some(tls.ca.clone());

    let (result, text) = transcript_of(Request::OpenClose, &settings).await;
    result.expect("open-close over tls");
    assert!(text.contains("tls handshake "), "{text}");
    assert!(
        text.contains("SNI localhost, certificate verified"),
        "{text}"
    );
    // The tap is inside TLS: the same HTTP and frames as over plain TCP.
    assert_open_close_wire(&text, 2);

    let (result, text) = transcript_of(Request::Page, &settings).await;
    result.expect("the page over https");
    assert!(text.contains("← HTTP/1.1 200 OK"), "{text}");

    let (result, text) = transcript_of(Request::BadVersion, &settings).await;
    result.expect("a refusal is the expected answer");
    assert!(text.contains("← HTTP/1.1 426 Upgrade Required"), "{text}");
}

#[tokio::test]
async fn a_wss_server_url_works_for_the_binarys_requests() {
    let (_server, tls) = Server::start_tls(fast_server_config()).await;
    let server = format!("wss://localhost:{}", tls.addr.port());
    let ca = tls.ca.to_string_lossy().into_owned();
    let output = run_binary(&["--server", &server, "--ca", &ca, "open-close"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("tls handshake "), "{stdout}");
    assert!(
        stdout.contains("← HTTP/1.1 101 Switching Protocols"),
        "{stdout}"
    );
}

#[tokio::test]
async fn plain_and_tls_pings_run_side_by_side() {
    let (server, tls) = Server::start_tls(fast_server_config()).await;
    let plain = pinging(format!("ws://{}/pingpong", server.addr), 5, &tls);
    let secure = pinging(
        format!("wss://localhost:{}/pingpong", tls.addr.port()),
        5,
        &tls,
    );
    let ((_, plain), (_, secure)) = tokio::join!(ping_session(&plain), ping_session(&secure));
    let (plain, secure) = (plain.expect("ws runs"), secure.expect("wss runs"));
    assert!(plain.all_answered() && secure.all_answered());
    assert!(plain.setup.tls.is_none());
    assert!(secure.setup.tls.is_some());
}

#[tokio::test]
async fn plain_to_a_tls_port_suggests_wss() {
    let (_server, tls) = Server::start_tls(fast_server_config()).await;
    let url = format!("ws://127.0.0.1:{}/pingpong", tls.addr.port());
    let output = run_binary(&["ping", &url, "-c", "1"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.ends_with("(a wss:// port?)\n"), "{stderr}");
    // inspect keeps the answer's first bytes, and sees they are TLS.
    let output = run_binary(&["inspect", &url]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.ends_with("it answered in TLS: a wss:// port?\n"),
        "{stderr}"
    );
}

#[tokio::test]
async fn tls_to_a_plain_port_says_the_server_does_not_speak_it() {
    let (server, tls) = Server::start_tls(fast_server_config()).await;
    let session = pinging(format!("wss://{}/pingpong", server.addr), 1, &tls);
    let (_, report) = ping_session(&session).await;
    let err = report.expect_err("no tls there");
    assert!(matches!(err, Error::NotTls { .. }), "{err:?}");
    assert!(
        wsppclient::error::one_line(&err).starts_with(&format!(
            "tls handshake with {} failed: the server does not speak TLS there",
            server.addr
        )),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_the_handshake_times_out() {
    let (addr, _peer) = raw::serve_one(|stream| async move {
        // Accept, read nothing, say nothing, until the test is over.
        let _held = stream;
        std::future::pending::<()>().await;
    })
    .await;
    let mut settings = ConnectSettings::new("unused:1");
    let options = PingOptions {
        url: Some(format!("wss://{addr}/pingpong")),
        count: Some(1),
        ..PingOptions::default()
    };
    settings.dial.timeout = Duration::from_millis(200);
    // Whatever the system trusts, the handshake never gets that far.
    settings.dial.tls.insecure = true;
    let (_, report) = ping_session(&(settings, options)).await;
    let err = report.expect_err("no handshake");
    assert_eq!(
        err.to_string(),
        format!("tls handshake with {addr} timed out after 200ms")
    );
}

#[tokio::test]
async fn a_server_hanging_up_without_close_notify_is_an_ordinary_end() {
    // A TLS WebSocket server that closes with 1000 and then drops the connection
    // without TLS's close_notify, as many servers do.
    let (tls_config, config) = raw_tls_server("abrupt-ca.pem");
    let (addr, peer) = raw::serve_one(move |stream| async move {
        let tls = close_handshake_over_tls(tls_config, stream).await;
        // Hang up on the TCP level only.
        let (tcp, _) = tls.into_inner();
        drop(tcp);
    })
    .await;
    let settings = config(addr);
    let (result, text) = transcript_of(Request::OpenClose, &settings).await;
    result.expect("an ordinary end");
    assert!(
        text.contains("the server closed: 1000 (Normal Closure)"),
        "{text}"
    );
    within(peer).await.expect("peer task");
}

#[tokio::test]
async fn the_client_ends_tls_with_close_notify() {
    let (tls_config, config) = raw_tls_server("notify-ca.pem");
    let (addr, peer) = raw::serve_one(move |stream| async move {
        let mut tls = close_handshake_over_tls(tls_config, stream).await;
        tokio::io::AsyncWriteExt::shutdown(&mut tls)
            .await
            .expect("our close_notify");
        // rustls reports a peer that hangs up without close_notify as an error.
        let mut rest = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut tls, &mut rest)
            .await
            .expect("the client's close_notify, then the end");
    })
    .await;
    let settings = config(addr);
    let (result, _) = transcript_of(Request::OpenClose, &settings).await;
    result.expect("an ordinary end");
    within(peer).await.expect("the peer saw close_notify");
}

/// A self-signed identity for a hand-written TLS peer, and how to build a client config
/// that trusts it (given the peer's address), its CA written to `ca_file`.
fn raw_tls_server(
    ca_file: &str,
) -> (
    std::sync::Arc<rustls::ServerConfig>,
    impl FnOnce(std::net::SocketAddr) -> ConnectSettings,
) {
    let generated = wsppsrv::tls::Identity::self_signed().expect("a certificate");
    let tls_config = generated.identity.server_config().expect("rustls takes it");
    let ca = temp_file(ca_file, &generated.cert_pem);
    let settings = move |addr: std::net::SocketAddr| {
        let mut settings = ConnectSettings::new(format!("localhost:{}", addr.port()));
        settings.server.tls = true;
        settings.dial.tls.ca = Some(ca);
        settings
    };
    (tls_config, settings)
}

/// The peer's side of an upgrade and a close handshake over TLS: it closes with 1000
/// and waits for the client's Close; how the transport then ends is the caller's test.
async fn close_handshake_over_tls(
    tls_config: std::sync::Arc<rustls::ServerConfig>,
    stream: tokio::net::TcpStream,
) -> tokio_rustls::server::TlsStream<tokio::net::TcpStream> {
    let mut tls = tokio_rustls::TlsAcceptor::from(tls_config)
        .accept(stream)
        .await
        .expect("tls handshake");
    raw::accept_upgrade(&mut tls).await;
    raw::send(&mut tls, raw::CLOSE, &[0x03, 0xe8]).await;
    let _ = raw::read_frame(&mut tls).await;
    tls
}

/// Certificates as people make them: `openssl req -x509` marks its certificate CA:TRUE,
/// private CAs sign through an intermediate, and Debian's snakeoil is CN=localhost.
mod made_by_hand {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

    /// A key and its certificate, as PEM.
    pub struct Made {
        pub cert_pem: String,
        pub key_pem: String,
    }

    fn params(names: &[&str], cn: &str, ca: bool) -> CertificateParams {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("names");
        params.distinguished_name.push(DnType::CommonName, cn);
        if ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        params
    }

    /// Self-signed with the CA bit set, as `openssl req -x509 -newkey rsa:2048 -addext
    /// subjectAltName=...` makes it with OpenSSL 3.
    pub fn openssl_req_x509(names: &[&str], cn: &str) -> Made {
        self_signed(names, cn, true)
    }

    /// Self-signed, with the CA bit set or not.
    pub fn self_signed(names: &[&str], cn: &str, ca: bool) -> Made {
        let key = KeyPair::generate().expect("a key");
        let cert = params(names, cn, ca).self_signed(&key).expect("signed");
        Made {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A root, an intermediate it signed, and a leaf for `names` the intermediate
    /// signed: the root's PEM and the leaf's.
    pub fn chain(names: &[&str]) -> (String, Made) {
        let root = CertifiedIssuer::self_signed(
            params(&[], "wspp test root", true),
            KeyPair::generate().expect("a key"),
        )
        .expect("root");
        let intermediate = CertifiedIssuer::signed_by(
            params(&[], "wspp test intermediate", true),
            KeyPair::generate().expect("a key"),
            &root,
        )
        .expect("intermediate");
        let key = KeyPair::generate().expect("a key");
        let leaf = params(names, "wspp test leaf", false)
            .signed_by(&key, &intermediate)
            .expect("leaf");
        (
            root.pem(),
            Made {
                cert_pem: leaf.pem(),
                key_pem: key.serialize_pem(),
            },
        )
    }
}

/// A server whose TLS listener serves `made`, trusted (as [`TlsSide::ca`]) by `ca_pem`.
async fn serving(made: &made_by_hand::Made, ca_pem: &str) -> (Server, TlsSide) {
    let cert = temp_file("served-cert.pem", &made.cert_pem);
    let key = temp_file("served-key.pem", &made.key_pem);
    let identity = wsppsrv::tls::Identity::from_pem_files(&cert, &key).expect("loads");
    let tls_config = identity.server_config().expect("rustls takes it");
    Server::start_tls_serving(fast_server_config(), tls_config, ca_pem).await
}

#[tokio::test]
async fn the_servers_own_certificate_given_with_ca_is_trusted_whatever_its_ca_bit() {
    let made = made_by_hand::openssl_req_x509(&["localhost", "127.0.0.1"], "localhost");
    let (_server, tls) = serving(&made, &made.cert_pem).await;
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("wss://{host}:{}/pingpong", tls.addr.port());
        let (_, report) = ping_session(&pinging(url, 1, &tls)).await;
        let report = report.unwrap_or_else(|e| panic!("{host}: {e}"));
        assert!(report.all_answered(), "{host}: {:?}", report.counts);
    }

    // The name is still checked.
    let other = made_by_hand::openssl_req_x509(&["wspp.invalid"], "wspp.invalid");
    let (_server, tls) = serving(&other, &other.cert_pem).await;
    let url = format!("wss://127.0.0.1:{}/pingpong", tls.addr.port());
    let output = run_binary(&["--ca", &tls.ca.to_string_lossy(), "ping", &url, "-c", "1"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is not valid for 127.0.0.1 (it names wspp.invalid)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_trusted_certificate_that_only_shares_the_issuers_name_is_named() {
    // The server's certificate says CN=localhost issued it; the trusted store holds
    // another CN=localhost (Debian's snakeoil is one), which did not.
    let served = made_by_hand::self_signed(&["localhost"], "localhost", false);
    let snakeoil = made_by_hand::openssl_req_x509(&["localhost"], "localhost");
    let (_server, tls) = serving(&served, &served.cert_pem).await;
    let store = temp_file("system-roots.pem", &snakeoil.cert_pem);
    let url = format!("wss://localhost:{}/pingpong", tls.addr.port());
    let output = run_binary_with_env(
        &["ping", &url, "-c", "1"],
        &[
            ("SSL_CERT_FILE", store.as_os_str()),
            ("SSL_CERT_DIR", std::ffi::OsStr::new("/nonexistent")),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for words in [
        "issued by CN=localhost",
        "the system's roots",
        "matched CN=localhost (serial ",
        "did not sign it",
        "--ca",
    ] {
        assert!(stderr.contains(words), "{words:?} in {stderr}");
    }
}

#[tokio::test]
async fn a_server_that_sends_its_certificate_alone_has_an_incomplete_chain() {
    let (root_pem, leaf) = made_by_hand::chain(&["localhost"]);
    let (_server, tls) = serving(&leaf, &root_pem).await;
    let url = format!("wss://localhost:{}/pingpong", tls.addr.port());
    let output = run_binary(&["--ca", &tls.ca.to_string_lossy(), "ping", &url, "-c", "1"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for words in [
        "issued by CN=wspp test intermediate",
        "chain is incomplete",
        "CN=wspp test root",
        "full chain",
    ] {
        assert!(stderr.contains(words), "{words:?} in {stderr}");
    }
}
