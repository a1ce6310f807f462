//! TLS for `wss://` (and `https://` for the page): trust, key logging, the handshake.
//!
//! Encrypted WebSockets are what production runs, and what people struggle to look
//! into, so TLS here is built to be *seen through*:
//!
//! * **Key logging.** With `SSLKEYLOGFILE` (or `--key-log`) set, every session's secrets
//!   are appended to that file in the NSS key log format, which Wireshark reads
//!   (Preferences → Protocols → TLS → (Pre)-Master-Secret log filename) to decrypt the
//!   capture. The file is ours to write rather than rustls' `KeyLogFile`, which reads
//!   the variable itself: a path in [`TlsOptions`] lets tests and front-ends choose it
//!   without touching the process environment, and a file that cannot be opened is an
//!   error the user sees, not a silent nothing.
//! * **The transcript** taps the stream *inside* TLS (see [`crate::watch::tap`]), so it still
//!   shows HTTP and frames; what TLS itself negotiated (version, cipher suite, key
//!   exchange, ALPN, SNI) and how long the handshake took is reported as [`TlsInfo`].
//!
//! Trust: the operating system's roots (rustls-native-certs), or only the PEM
//! certificates of `--ca` (like curl's `--cacert`: a self-signed server is trusted
//! exactly, and the system store is not even read), or nothing at all with
//! `--insecure`, which still checks that the server holds the key of the certificate
//! it shows, and only skips asking who vouches for it.
//!
//! A certificate given with `--ca` that *is* the server's certificate is trusted as
//! that server's own whatever its CA bit, as curl and Python's `ssl` trust it:
//! `openssl req -x509` (OpenSSL 3) marks the certificate most people make CA:TRUE,
//! which webpki refuses as a server's own. Its name and dates are still checked, and
//! the handshake's signature still proves the server holds its key.
//!
//! A refusal names what was tried (the `--ca` file or the system's roots), what
//! matched the certificate's issuer (a CN=localhost snakeoil in /etc/ssl/certs takes
//! the place of the CN=localhost a server made for itself), and the one thing to do;
//! a server that sent its certificate without the intermediate that links it to a
//! trusted root is told apart as an incomplete chain.
//!
//! The crypto provider is `ring`, as in wsppsrv, for the same reason: aws-lc-rs needs
//! cmake and minutes of C compilation, and buys wspp nothing.

use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use x509_parser::certificate::X509Certificate;
use x509_parser::time::ASN1Time;

use crate::error::Error;

/// The ALPN protocol offered: WebSocket upgrades are HTTP/1.1 (RFC 6455), unless
/// `--http2` asks for the HTTP/2 form of RFC 8441.
pub const ALPN_HTTP_1_1: &[u8] = b"http/1.1";
/// The ALPN protocol id of HTTP/2, offered alone with `--http2`.
pub const ALPN_H2: &[u8] = b"h2";

/// How `wss://` servers are trusted, and where session secrets go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Trust only the certificates in this PEM file instead of the system's roots.
    pub ca: Option<PathBuf>,
    /// Do not verify the server's certificate at all.
    pub insecure: bool,
    /// Append every session's secrets here, for Wireshark (`SSLKEYLOGFILE`).
    pub key_log: Option<PathBuf>,
}

/// What a TLS handshake negotiated, and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// From the first byte of the ClientHello to the end of the handshake.
    pub handshake: Duration,
    /// `TLSv1.3`, `TLSv1.2`: as Wireshark names them.
    pub version: String,
    /// The cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// The key exchange group, e.g. `X25519`.
    pub key_exchange: Option<String>,
    /// The application protocol the server chose, if it chose one.
    pub alpn: Option<String>,
    /// The server name sent; `None` for an IP address, which TLS does not send.
    pub sni: Option<String>,
    /// Whether the server's certificate was verified (`false` with `--insecure`).
    pub verified: bool,
    /// Where the session's secrets were written, if anywhere.
    pub key_log: Option<PathBuf>,
}

impl TlsInfo {
    /// One line for the transcript and ping's header:
    /// `TLSv1.3, TLS13_AES_256_GCM_SHA384, X25519, ALPN http/1.1, SNI localhost`.
    pub fn summary(&self) -> String {
        let mut out = format!("{}, {}", self.version, self.cipher_suite);
        if let Some(group) = &self.key_exchange {
            out.push_str(&format!(", {group}"));
        }
        match &self.alpn {
            Some(alpn) => out.push_str(&format!(", ALPN {alpn}")),
            None => out.push_str(", no ALPN"),
        }
        match &self.sni {
            Some(sni) => out.push_str(&format!(", SNI {sni}")),
            None => out.push_str(", no SNI (IP address)"),
        }
        out
    }
}

/// The rustls client settings for `options`.
///
/// Fails when the `--ca` file cannot be read or holds no certificate, when the system
/// has no root certificates (say so, and point at `--ca` and `--insecure`), or when the
/// key log cannot be opened.
/// `alpn` is the application protocol offered: `http/1.1`, or `h2` for `--http2`.
pub fn client_config(options: &TlsOptions, alpn: &[u8]) -> Result<Arc<ClientConfig>, Error> {
    Ok(configured(options, alpn)?.0)
}

/// [`client_config`], and the [`Trust`] it verifies with, which keeps what a refused
/// handshake showed for the words of the refusal.
fn configured(options: &TlsOptions, alpn: &[u8]) -> Result<(Arc<ClientConfig>, Arc<Trust>), Error> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::TlsSetup(e.to_string()))?
        .dangerous();
    let checked = if options.insecure {
        None
    } else {
        Some(Checked::new(
            roots(options.ca.as_deref())?,
            Arc::clone(&provider),
        )?)
    };
    let trust = Arc::new(Trust {
        checked,
        provider,
        presented: Mutex::new(Vec::new()),
    });
    let mut config = builder
        .with_custom_certificate_verifier(Arc::clone(&trust) as Arc<dyn ServerCertVerifier>)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    if let Some(path) = &options.key_log {
        config.key_log = Arc::new(KeyLogWriter::open(path)?);
    }
    Ok((Arc::new(config), trust))
}

/// The key log at `path`, for a TLS server this client runs (`listen`): the same
/// file, in the same format, as its connections write.
pub fn key_log(path: &Path) -> Result<Arc<dyn rustls::KeyLog>, Error> {
    Ok(Arc::new(KeyLogWriter::open(path)?))
}

/// The one crypto provider of wspp (see the module doc for why `ring`).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates trusted, and where they came from.
#[derive(Debug)]
struct Roots {
    store: RootCertStore,
    /// Each one as it was read, to name the one a refused certificate matched.
    certs: Vec<CertificateDer<'static>>,
    /// The `--ca` file; `None` for the system's roots.
    ca: Option<PathBuf>,
}

/// The certificates of `ca`, or else the system's roots.
fn roots(ca: Option<&Path>) -> Result<Roots, Error> {
    let mut store = RootCertStore::empty();
    let mut kept = Vec::new();
    match ca {
        Some(path) => {
            let bad = |reason: String| Error::CaFile {
                path: path.to_owned(),
                reason,
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(e.to_string()))?;
            if certs.is_empty() {
                return Err(bad("no CERTIFICATE block in it".into()));
            }
            for cert in certs {
                store.add(cert.clone()).map_err(|e| bad(e.to_string()))?;
                kept.push(cert);
            }
        }
        None => {
            // Certificates the system has but rustls cannot parse are skipped, as every
            // TLS client does; only an empty store is worth stopping for.
            let native = rustls_native_certs::load_native_certs();
            kept.clone_from(&native.certs);
            let (added, _ignored) = store.add_parsable_certificates(native.certs);
            if added == 0 {
                return Err(Error::TlsSetup(
                    "no root certificates found on this system; trust the server with \
                     --ca FILE, or skip verification with --insecure"
                        .into(),
                ));
            }
        }
    }
    Ok(Roots {
        store,
        certs: kept,
        ca: ca.map(Path::to_owned),
    })
}

/// Runs the client side of the TLS handshake with `addr` (`HOST:PORT`) over `stream`,
/// within `limit`.
pub async fn handshake<S>(
    stream: S,
    addr: &str,
    options: &TlsOptions,
    alpn: &[u8],
    limit: Duration,
) -> Result<(TlsStream<S>, TlsInfo), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (config, trust) = configured(options, alpn)?;
    let name = server_name(addr)?;
    let sni = match &name {
        ServerName::DnsName(dns) => Some(dns.as_ref().to_owned()),
        _ => None,
    };
    let start = Instant::now();
    let connecting = TlsConnector::from(config).connect(name, stream);
    let tls = match tokio::time::timeout(limit, connecting).await {
        Err(_) => {
            return Err(Error::TlsTimeout {
                addr: addr.to_owned(),
                after: limit,
            });
        }
        Ok(Err(source)) if refused_certificate(&source).is_some() => {
            let (cause, advice) = refused_certificate(&source)
                .map(|e| explain_certificate(e, options.ca.as_deref(), &trust))
                .unwrap_or_default();
            return Err(Error::Certificate {
                addr: addr.to_owned(),
                cause,
                advice,
            });
        }
        Ok(Err(source)) if is_not_tls(&source) => {
            return Err(Error::NotTls {
                addr: addr.to_owned(),
                source,
            });
        }
        Ok(Err(source)) => {
            return Err(Error::Tls {
                addr: addr.to_owned(),
                source,
            });
        }
        Ok(Ok(tls)) => tls,
    };
    let handshake = start.elapsed();
    let session = tls.get_ref().1;
    let info = TlsInfo {
        handshake,
        version: session
            .protocol_version()
            .map(|v| match v {
                rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
                rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
                other => format!("{other:?}"),
            })
            .unwrap_or_default(),
        cipher_suite: session
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default(),
        key_exchange: session
            .negotiated_key_exchange_group()
            .map(|g| format!("{:?}", g.name())),
        alpn: session
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        sni,
        verified: !options.insecure,
        key_log: options.key_log.clone(),
    };
    Ok((tls, info))
}

/// The name to verify the certificate against (and send as SNI): the host of
/// `HOST:PORT`, brackets taken off an IPv6 address.
fn server_name(addr: &str) -> Result<ServerName<'static>, Error> {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _port)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|e| Error::TlsSetup(format!("{host:?}: {e}")))
}

/// Appends session secrets to a file in the NSS key log format that Wireshark reads:
/// `LABEL <client random in hex> <secret in hex>`, one line each.
#[derive(Debug)]
struct KeyLogWriter {
    /// A lock because rustls may log from any thread; lines must not interleave.
    file: Mutex<File>,
}

impl KeyLogWriter {
    /// Opens `path` for appending, creating it readable by its owner only: whoever
    /// reads it can decrypt every session logged there.
    fn open(path: &Path) -> Result<Self, Error> {
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(|source| Error::KeyLog {
            path: path.to_owned(),
            source,
        })?;
        Ok(KeyLogWriter {
            file: Mutex::new(file),
        })
    }
}

impl rustls::KeyLog for KeyLogWriter {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let line = format!("{label} {} {}\n", hex(client_random), hex(secret));
        // One write per line, so two processes appending to one file do not interleave.
        let written = match self.file.lock() {
            Ok(mut file) => file.write_all(line.as_bytes()),
            Err(poisoned) => poisoned.into_inner().write_all(line.as_bytes()),
        };
        if let Err(error) = written {
            tracing::warn!(%error, "cannot write to the tls key log");
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How every handshake verifies the server: its certificate by [`Checked`], or, with
/// `--insecure`, not at all; the handshake's signatures always, so the server must
/// hold the key of the certificate it shows. What the server presented is kept to
/// explain a refusal.
#[derive(Debug)]
struct Trust {
    /// `None` with `--insecure`.
    checked: Option<Checked>,
    provider: Arc<CryptoProvider>,
    /// The chain the server presented, leaf first; empty until it has.
    presented: Mutex<Vec<CertificateDer<'static>>>,
}

/// A certificate's verification: webpki's, and a certificate given with `--ca` that
/// is the server's own trusted as such (see the module doc).
#[derive(Debug)]
struct Checked {
    webpki: Arc<WebPkiServerVerifier>,
    roots: Roots,
}

impl Checked {
    fn new(roots: Roots, provider: Arc<CryptoProvider>) -> Result<Self, Error> {
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots.store.clone()), provider)
                .build()
                .map_err(|e| Error::TlsSetup(e.to_string()))?;
        Ok(Checked { webpki, roots })
    }

    /// Whether `cert` is one of the certificates given with `--ca`, byte for byte.
    fn given(&self, cert: &CertificateDer<'_>) -> bool {
        self.roots.ca.is_some() && self.roots.certs.iter().any(|c| c.as_ref() == cert.as_ref())
    }
}

impl Trust {
    /// What to say of `err`, where what the server sent tells more than rustls' error:
    /// a trusted certificate of the issuer's name that did not sign it, or a chain
    /// that stops short of the roots. `None` to say what rustls said.
    fn explain(&self, err: &CertificateError) -> Option<(String, String)> {
        let roots = &self.checked.as_ref()?.roots;
        let presented = lock(&self.presented).clone();
        explain_chain(err, &presented, roots)
    }
}

/// The server's own certificate, given with `--ca`: its name and dates checked, its CA
/// bit not asked about.
fn exactly_trusted(
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, rustls::Error> {
    verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
    let parsed = parse(end_entity).ok_or(CertificateError::BadEncoding)?;
    let at = i64::try_from(now.as_secs())
        .ok()
        .and_then(|secs| ASN1Time::from_timestamp(secs).ok())
        .ok_or(CertificateError::BadEncoding)?;
    let validity = parsed.validity();
    if at < validity.not_before {
        return Err(CertificateError::NotValidYet.into());
    }
    if at > validity.not_after {
        return Err(CertificateError::Expired.into());
    }
    Ok(ServerCertVerified::assertion())
}

/// [`Trust::explain`] of the chain the server `presented`, against `roots`.
fn explain_chain(
    err: &CertificateError,
    presented: &[CertificateDer<'static>],
    roots: &Roots,
) -> Option<(String, String)> {
    let top = parse(presented.last()?)?;
    let issuer = top.issuer();
    let tried = match &roots.ca {
        Some(ca) => format!("tried {} ({})", ca.display(), count(roots.certs.len())),
        None => format!("tried the system's roots ({})", count(roots.certs.len())),
    };
    let skip = "or skip verification with -k (--insecure)";
    match err {
        CertificateError::BadSignature => {
            let matched: Vec<String> = roots
                .certs
                .iter()
                .filter_map(|der| parse(der))
                .filter(|root| root.subject().as_raw() == issuer.as_raw())
                .map(|root| describe(&root))
                .collect();
            if matched.is_empty() {
                return None;
            }
            Some((
                format!(
                    "is issued by {issuer}, and the trusted certificate of that name did not \
                         sign it ({tried}; matched {})",
                    matched.join(", ")
                ),
                format!(
                    "two certificates share the name: trust the one the server uses with \
                         --ca FILE (PEM), {skip}"
                ),
            ))
        }
        CertificateError::UnknownIssuer
            if presented.len() == 1 && issuer.as_raw() != top.subject().as_raw() =>
        {
            let held = match &roots.ca {
                Some(_) => format!(", which holds {}", subjects(&roots.certs)),
                None => String::new(),
            };
            Some((
                format!(
                    "is issued by {issuer}, whose certificate the server did not send with \
                         its own: its chain is incomplete ({tried}{held})"
                ),
                format!(
                    "serve the full chain on the server (its certificate, then the \
                         intermediates, as in fullchain.pem), {skip}"
                ),
            ))
        }
        _ => None,
    }
}

impl ServerCertVerifier for Trust {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *lock(&self.presented) = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        let Some(checked) = &self.checked else {
            return Ok(ServerCertVerified::assertion());
        };
        let verified = checked.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match verified {
            Err(_) if checked.given(end_entity) => exactly_trusted(end_entity, server_name, now),
            verified => verified,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The lock, even after a panic while it was held: it guards a plain copy.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn parse<'a>(der: &'a CertificateDer<'_>) -> Option<X509Certificate<'a>> {
    x509_parser::parse_x509_certificate(der.as_ref())
        .ok()
        .map(|(_, cert)| cert)
}

/// `CN=localhost (serial 1A:2B:…, valid until 2036-01-01)`: which certificate it is, in
/// the words `openssl x509 -noout -subject -serial -enddate` shows.
fn describe(cert: &X509Certificate<'_>) -> String {
    let until = cert.validity().not_after.to_datetime().date();
    format!(
        "{} (serial {}, valid until {until})",
        cert.subject(),
        cert.raw_serial_as_string().to_uppercase()
    )
}

/// The subjects of a few `certs`, and how many more.
fn subjects(certs: &[CertificateDer<'_>]) -> String {
    const SHOWN: usize = 3;
    let mut names: Vec<String> = certs
        .iter()
        .take(SHOWN)
        .map(|der| {
            parse(der).map_or_else(
                || "an unreadable certificate".into(),
                |c| c.subject().to_string(),
            )
        })
        .collect();
    if certs.len() > SHOWN {
        names.push(format!("{} more", certs.len() - SHOWN));
    }
    names.join(", ")
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 certificate".into()
    } else {
        format!("{n} certificates")
    }
}

/// The reason rustls refused the server's certificate, if that is what `err` is.
fn refused_certificate(err: &io::Error) -> Option<&CertificateError> {
    match err.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(cert) => Some(cert),
        _ => None,
    }
}

/// What is wrong with a refused certificate, and what the user can do about it, in
/// words: rustls' `UnknownIssuer` tells a newcomer nothing. `-k` is always the last
/// resort, never the first advice.
fn explain_certificate(
    err: &CertificateError,
    ca: Option<&Path>,
    trust: &Trust,
) -> (String, String) {
    let skip = "or skip verification with -k (--insecure)";
    if let Some(said) = trust.explain(err) {
        return said;
    }
    let trust = match ca {
        Some(ca) => format!(
            "{} holds no certificate that signed it: give --ca the server's own \
             certificate or its CA's, {skip}",
            ca.display()
        ),
        None => format!(
            "if it is self-signed or from a private CA, trust that certificate with \
             --ca FILE (PEM), {skip}"
        ),
    };
    match err {
        CertificateError::UnknownIssuer => {
            ("is not signed by any CA this client trusts".into(), trust)
        }
        CertificateError::BadSignature => ("has a signature that does not verify".into(), trust),
        CertificateError::NotValidForName => (
            "does not name the host connected to".into(),
            format!("connect by a name the certificate lists, {skip}"),
        ),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => (
            format!(
                "is not valid for {} (it names {})",
                expected.to_str(),
                presented
                    .iter()
                    .map(|name| bare_name(name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!("connect by a name it lists, {skip}"),
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => (
            "has expired".into(),
            format!("renew it on the server (or check this machine's clock), {skip}"),
        ),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => (
            "is not valid yet".into(),
            format!("check this machine's clock, {skip}"),
        ),
        CertificateError::Other(other) if other.to_string().contains("CaUsedAsEndEntity") => (
            "is a CA certificate used as a server's own".into(),
            format!("make the server a leaf certificate (basicConstraints CA:FALSE), {skip}"),
        ),
        other => (format!("was refused ({other})"), trust),
    }
}

/// `wspp.invalid` from rustls' `DnsName("wspp.invalid")`; anything else as it is.
fn bare_name(name: &str) -> &str {
    name.split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .map_or(name, |inner| inner.trim_matches('"'))
}

/// Whether `err` is a TLS record where HTTP was expected or the reverse: the sign of
/// TLS spoken to a plain port.
fn is_not_tls(err: &io::Error) -> bool {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| matches!(e, rustls::Error::InvalidMessage(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::KeyLog as _;

    #[test]
    fn server_names_come_from_host_port() {
        assert!(matches!(
            server_name("localhost:8443"),
            Ok(ServerName::DnsName(d)) if d.as_ref() == "localhost"
        ));
        assert!(matches!(
            server_name("127.0.0.1:8443"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("[::1]:8443"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(server_name("bad host:1").is_err());
    }

    #[test]
    fn the_summary_names_what_was_negotiated() {
        let mut info = TlsInfo {
            handshake: Duration::from_millis(2),
            version: "TLSv1.3".into(),
            cipher_suite: "TLS13_AES_256_GCM_SHA384".into(),
            key_exchange: Some("X25519".into()),
            alpn: Some("http/1.1".into()),
            sni: Some("localhost".into()),
            verified: true,
            key_log: None,
        };
        assert_eq!(
            info.summary(),
            "TLSv1.3, TLS13_AES_256_GCM_SHA384, X25519, ALPN http/1.1, SNI localhost"
        );
        info.sni = None;
        info.alpn = None;
        assert!(info.summary().ends_with("no ALPN, no SNI (IP address)"));
    }

    #[test]
    fn key_log_lines_are_nss_format_and_private() {
        let path = std::env::temp_dir().join(format!("wspp-keylog-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let writer = KeyLogWriter::open(&path).expect("open");
        writer.log("CLIENT_RANDOM", &[0xab, 0x01], &[0xff]);
        writer.log("EXPORTER_SECRET", &[0x00], &[0x10, 0x20]);
        let text = std::fs::read_to_string(&path).expect("read back");
        assert_eq!(text, "CLIENT_RANDOM ab01 ff\nEXPORTER_SECRET 00 1020\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_bad_ca_file_is_named() {
        let missing = Path::new("/nonexistent/wspp-ca.pem");
        let err = roots(Some(missing)).expect_err("no such file");
        assert!(
            err.to_string().contains("/nonexistent/wspp-ca.pem"),
            "{err}"
        );
        let empty = std::env::temp_dir().join(format!("wspp-empty-ca-{}", std::process::id()));
        std::fs::write(&empty, "not pem\n").expect("write");
        let err = roots(Some(&empty)).expect_err("no certificate");
        assert!(
            err.to_string().ends_with("no CERTIFICATE block in it"),
            "{err}"
        );
        let _ = std::fs::remove_file(&empty);
    }
}
