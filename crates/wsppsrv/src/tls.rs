//! TLS for `https://` and `wss://`: certificates, the rustls settings, the handshake.
//!
//! Encrypted WebSockets are what users run in production and what they find hardest to
//! inspect, so the server speaks them next to plain ones (`--tls-addr`), with a
//! certificate from PEM files (`--tls-cert`, `--tls-key`) or one generated at start-up
//! (`--tls-self-signed`) for `localhost`, `127.0.0.1` and `::1`. A generated certificate
//! is written as PEM, for the client's `--ca`, and its SHA-256 fingerprint is logged, so
//! it can be compared with what a browser or `openssl x509 -fingerprint` shows.
//!
//! Only the accept path knows about TLS. The handshake runs inside each connection's
//! task, bounded by the header read timeout: in the accept loop one slow or hostile
//! client (a handshake costs round trips and CPU) would hold up every other. A failed
//! handshake is that client's problem, logged at debug, and the connection is dropped.
//! After it, hyper serves the decrypted stream as it serves a TCP one: both are one
//! type, `transport::Transport` (plain or TLS over the stamped socket), so a session
//! takes its connection back out of hyper's `Upgraded` by downcasting to that type
//! (`transport::upgraded`) and runs on the TLS stream itself, its kernel timestamps
//! reachable through it. Nothing above the accept path needs to know which it got.
//!
//! The crypto provider is `ring`: rustls' default, aws-lc-rs, needs cmake and minutes of
//! C compilation, and wspp needs nothing it lacks. ALPN offers `http/1.1` only, because
//! WebSocket upgrades are HTTP/1.1 and hyper is set up for HTTP/1.1 alone.
//!
//! `SSLKEYLOGFILE` is honoured here too (rustls' `KeyLogFile`): the client writes its
//! own key log, but browsers and other clients may not, and with the server's log any
//! capture of any client can be decrypted in Wireshark.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, info, warn};

/// The names a `--tls-self-signed` certificate is valid for: every way of saying "this
/// machine" that a user types.
pub const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The file name of a generated certificate when no path is given, in the temporary
/// directory: one well-known place, so the documented client command works as is.
pub const SELF_SIGNED_FILE: &str = "wsppsrv-self-signed.pem";

/// Why TLS could not be set up. Each message names the file or step; the cause, when
/// there is one, is the error's `source`, for the binary to print after it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("cannot read {}: {reason}", .path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong, from the PEM parser.
        reason: String,
    },
    /// The certificate file holds no certificate.
    #[error("{} holds no CERTIFICATE block", .path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// rcgen could not generate the self-signed certificate.
    #[error("cannot generate a self-signed certificate")]
    Generate(#[from] rcgen::Error),
    /// The generated certificate could not be written for the client.
    #[error("cannot write the certificate to {}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// rustls refused the certificate or key (a key that does not match, say).
    #[error("unusable certificate or key")]
    Rustls(#[from] rustls::Error),
}

/// Where the server's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// PEM files: the certificate chain (leaf first) and its private key.
    Files {
        /// The certificate chain.
        cert: PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
    /// Generated at start-up; the certificate is written to this file as PEM.
    SelfSigned {
        /// Where the certificate goes, for the client's `--ca`.
        write_cert_to: PathBuf,
    },
}

impl CertSource {
    /// The default place for a generated certificate: `$TMPDIR/wsppsrv-self-signed.pem`.
    pub fn default_self_signed_path() -> PathBuf {
        std::env::temp_dir().join(SELF_SIGNED_FILE)
    }
}

/// A certificate chain and its private key: what the server proves itself with.
#[derive(Debug)]
pub struct Identity {
    /// The chain, leaf first.
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// A freshly generated self-signed identity and its certificate as PEM.
#[derive(Debug)]
pub struct SelfSigned {
    /// The certificate and key to serve with.
    pub identity: Identity,
    /// The certificate alone, as PEM: what a client trusts with `--ca`.
    pub cert_pem: String,
}

impl Identity {
    /// Reads a certificate chain and a private key from PEM files.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
        let pem_error = |path: &Path, error: rustls_pki_types::pem::Error| TlsError::Pem {
            path: path.to_owned(),
            reason: error.to_string(),
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| pem_error(cert, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_error(cert, e))?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate {
                path: cert.to_owned(),
            });
        }
        let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, e))?;
        Ok(Identity {
            chain,
            key: key_der,
        })
    }

    /// Generates a certificate for [`SELF_SIGNED_NAMES`] with a new ECDSA P-256 key.
    ///
    /// It is its own issuer, so a client that trusts this one certificate (`--ca`)
    /// verifies the server fully: chain, names and signature. It is marked for server
    /// authentication and not as a CA, which is what browsers expect of a leaf.
    pub fn self_signed() -> Result<SelfSigned, TlsError> {
        Identity::self_signed_for(&SELF_SIGNED_NAMES)
    }

    /// [`Identity::self_signed`] for other names (DNS names or IP addresses); tests use
    /// it to make a certificate that does not name the server.
    pub fn self_signed_for(names: &[&str]) -> Result<SelfSigned, TlsError> {
        let key = KeyPair::generate()?;
        let mut params =
            CertificateParams::new(names.iter().map(|&n| n.to_owned()).collect::<Vec<_>>())?;
        // A name of its own (from its key), so that a client holding another run's
        // certificate is told UnknownIssuer, not BadSignature from a same-named one.
        let key_id = fingerprint(key.public_key_raw());
        let mut name = DistinguishedName::new();
        name.push(
            DnType::CommonName,
            format!("wsppsrv self-signed {}", &key_id[..11]),
        );
        params.distinguished_name = name;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.self_signed(&key)?;
        Ok(SelfSigned {
            cert_pem: cert.pem(),
            identity: Identity {
                chain: vec![cert.der().clone()],
                key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
            },
        })
    }

    /// The SHA-256 fingerprint of the leaf certificate, as `AB:CD:…`.
    pub fn fingerprint(&self) -> String {
        self.chain
            .first()
            .map(|leaf| fingerprint(leaf))
            .unwrap_or_default()
    }

    /// The rustls settings to serve this identity with: TLS 1.3 and 1.2.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        self.server_config_with_versions(rustls::DEFAULT_VERSIONS)
    }

    /// [`Identity::server_config`] with only the protocol `versions` given, say TLS 1.2
    /// alone, whose key log lines (`CLIENT_RANDOM`) differ from TLS 1.3's.
    pub fn server_config_with_versions(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        // Reads SSLKEYLOGFILE; without it, this logs nothing.
        config.key_log = Arc::new(rustls::KeyLogFile::new());
        Ok(Arc::new(config))
    }
}

/// The one crypto provider of wspp (see the module doc for why `ring`).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The SHA-256 digest of `der`, as colon-separated upper-case hex: the form browsers
/// and `openssl x509 -noout -fingerprint -sha256` show.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = String::with_capacity(digest.as_ref().len() * 3);
    for (i, byte) in digest.as_ref().iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{byte:02X}");
    }
    out
}

/// Loads or generates the certificate `source` names, logs its fingerprint (and, for
/// a generated one, writes it and logs where), and returns the settings to serve with.
pub fn load(source: &CertSource) -> Result<Arc<ServerConfig>, TlsError> {
    // Each branch logs only once rustls has accepted the certificate and key, so that
    // a "loaded" line is never followed by a refusal.
    let config = match source {
        CertSource::Files { cert, key } => {
            let identity = Identity::from_pem_files(cert, key)?;
            let config = identity.server_config()?;
            info!(
                cert = %cert.display(),
                sha256 = %identity.fingerprint(),
                "tls certificate loaded"
            );
            config
        }
        CertSource::SelfSigned { write_cert_to } => {
            let SelfSigned { identity, cert_pem } = Identity::self_signed()?;
            let config = identity.server_config()?;
            write_replacing(write_cert_to, cert_pem.as_bytes()).map_err(|source| {
                TlsError::Write {
                    path: write_cert_to.clone(),
                    source,
                }
            })?;
            info!(
                names = ?SELF_SIGNED_NAMES,
                sha256 = %identity.fingerprint(),
                cert = %write_cert_to.display(),
                "self-signed tls certificate generated; clients trust it with --ca {}",
                write_cert_to.display()
            );
            config
        }
    };
    if let Some(path) = std::env::var_os("SSLKEYLOGFILE").filter(|p| !p.is_empty()) {
        warn!(
            path = %Path::new(&path).display(),
            "SSLKEYLOGFILE is set: the secrets of every tls connection are written there"
        );
    }
    Ok(config)
}

/// Writes `bytes` to `path` through a new file renamed over it, so that a symbolic
/// link planted at `path` (the default lives in a shared temporary directory) is
/// replaced rather than followed.
fn write_replacing(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".{}.tmp", std::process::id()));
    let temp = PathBuf::from(temp);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut file| file.write_all(bytes))
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// A listener whose connections speak TLS.
#[derive(Debug)]
pub struct TlsListener {
    pub(crate) listener: TcpListener,
    /// Shared by every connection; an acceptor is an `Arc` of it, made per connection.
    pub(crate) config: Arc<ServerConfig>,
}

impl TlsListener {
    /// Serves TLS with `config` on `listener`.
    pub fn new(listener: TcpListener, config: Arc<ServerConfig>) -> Self {
        TlsListener { listener, config }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// Why a TLS handshake failed: a short, fixed `reason` (the label of
/// `wspp_tls_handshake_failures_total`) and what rustls said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeFailure {
    /// `not_tls`, `timeout`, `closed`, `incompatible`, `alert_<name>` for an alert
    /// the client sent (`alert_unknown_ca`: it distrusts our certificate), or `other`.
    pub reason: &'static str,
    /// The error itself, or the time limit.
    pub detail: String,
}

impl HandshakeFailure {
    fn of(error: &io::Error) -> Self {
        let reason = match error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(rustls::Error::InvalidMessage(_)) => "not_tls",
            Some(rustls::Error::AlertReceived(alert)) => alert_reason(*alert),
            Some(rustls::Error::PeerIncompatible(_) | rustls::Error::NoApplicationProtocol) => {
                "incompatible"
            }
            Some(_) => "other",
            None => match error.kind() {
                io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe => "closed",
                _ => "other",
            },
        };
        HandshakeFailure {
            reason,
            detail: error.to_string(),
        }
    }
}

/// The label of an alert a client ends a handshake with: the usual ones by name, so a
/// dashboard tells "clients distrust our certificate" from the rest; a fixed few, so a
/// client cannot make a series per alert code.
fn alert_reason(alert: rustls::AlertDescription) -> &'static str {
    use rustls::AlertDescription as A;
    match alert {
        A::UnknownCA => "alert_unknown_ca",
        A::BadCertificate => "alert_bad_certificate",
        A::CertificateUnknown => "alert_certificate_unknown",
        A::CertificateExpired => "alert_certificate_expired",
        A::HandshakeFailure => "alert_handshake_failure",
        A::ProtocolVersion => "alert_protocol_version",
        A::DecryptError => "alert_decrypt_error",
        A::NoApplicationProtocol => "alert_no_application_protocol",
        _ => "alert_other",
    }
}

/// Runs the server side of the handshake on `stream`, for at most `limit`.
///
/// A failure is not the server's fault (a plain HTTP request on the TLS port, a port
/// scanner, a client that distrusts our certificate and hangs up), so the caller
/// counts it and logs it as often as it sees fit.
pub(crate) async fn handshake<S>(
    config: Arc<ServerConfig>,
    stream: S,
    limit: Duration,
) -> Result<TlsStream<S>, HandshakeFailure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(limit, TlsAcceptor::from(config).accept(stream)).await {
        Ok(Ok(tls)) => {
            let session = tls.get_ref().1;
            debug!(
                version = ?session.protocol_version(),
                cipher_suite = ?session.negotiated_cipher_suite().map(|s| s.suite()),
                sni = session.server_name(),
                "tls handshake done"
            );
            Ok(tls)
        }
        Ok(Err(error)) => Err(HandshakeFailure::of(&error)),
        Err(_) => Err(HandshakeFailure {
            reason: "timeout",
            detail: format!("no handshake within {limit:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_look_like_openssls() {
        // SHA-256 of the empty string, a well-known value.
        assert_eq!(
            fingerprint(b""),
            "E3:B0:C4:42:98:FC:1C:14:9A:FB:F4:C8:99:6F:B9:24:\
             27:AE:41:E4:64:9B:93:4C:A4:95:99:1B:78:52:B8:55"
        );
    }

    #[test]
    fn a_self_signed_identity_serves_and_parses_back() {
        let SelfSigned { identity, cert_pem } = Identity::self_signed().expect("generated");
        assert!(cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let parsed = CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("pem parses");
        assert_eq!(fingerprint(&parsed), identity.fingerprint());
        let config = identity.server_config().expect("rustls takes it");
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
    }

    #[test]
    fn pem_files_load_and_missing_ones_are_named() {
        let dir = std::env::temp_dir().join(format!("wsppsrv-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let SelfSigned { identity, cert_pem } = Identity::self_signed().expect("generated");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, &cert_pem).expect("write cert");
        let key_pem = match &identity.key {
            PrivateKeyDer::Pkcs8(der) => KeyPair::try_from(der.secret_pkcs8_der())
                .expect("key parses")
                .serialize_pem(),
            other => panic!("rcgen makes PKCS#8 keys, not {other:?}"),
        };
        std::fs::write(&key, key_pem).expect("write key");

        let loaded = Identity::from_pem_files(&cert, &key).expect("loads");
        assert_eq!(loaded.fingerprint(), identity.fingerprint());
        loaded.server_config().expect("rustls takes it");

        let other = Identity::self_signed().expect("generated");
        let other_cert = dir.join("other.pem");
        std::fs::write(&other_cert, &other.cert_pem).expect("write cert");
        let mismatched = Identity::from_pem_files(&other_cert, &key).expect("both parse");
        let error = mismatched
            .server_config()
            .expect_err("the key is not the cert's");
        assert!(matches!(error, TlsError::Rustls(_)), "{error}");

        let missing = dir.join("missing.pem");
        let error = Identity::from_pem_files(&missing, &key).expect_err("no such file");
        assert!(
            error
                .to_string()
                .starts_with(&format!("cannot read {}", missing.display()))
        );
        let error = Identity::from_pem_files(&key, &key).expect_err("a key is no certificate");
        assert!(
            error.to_string().ends_with("holds no CERTIFICATE block"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_generated_certificate_replaces_what_was_there() {
        let path =
            std::env::temp_dir().join(format!("wsppsrv-write-test-{}.pem", std::process::id()));
        std::fs::write(&path, "old").expect("write");
        let source = CertSource::SelfSigned {
            write_cert_to: path.clone(),
        };
        load(&source).expect("loads");
        let written = std::fs::read_to_string(&path).expect("read back");
        assert!(written.starts_with("-----BEGIN CERTIFICATE-----"));
        let _ = std::fs::remove_file(&path);
    }
}
