//! Which proxy a connection goes through: `--proxy`, or the environment's
//! `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` as curl reads them, through
//! hyper-util's [`Matcher`]; a URL that cannot be used is refused when a connection
//! would go through it, naming where it came from. `*` in `NO_PROXY` turns every
//! proxy off, as in curl.

use std::str::FromStr;
use std::sync::Arc;

use hyper::Uri;
use hyper::header::HeaderValue;
use hyper_util::client::proxy::matcher::Matcher;

use crate::error::Error;

/// The option that names a proxy on the command line, as messages name it.
pub const FLAG: &str = "--proxy";
/// The port of a proxy URL without one, as curl assumes.
const DEFAULT_PORT: u16 = 1080;
/// The environment variables read, as hyper-util's matcher reads them: for each, the
/// first of the pair that is set.
const ENV_ALL: [&str; 2] = ["ALL_PROXY", "all_proxy"];
const ENV_HTTP: [&str; 2] = ["HTTP_PROXY", "http_proxy"];
const ENV_HTTPS: [&str; 2] = ["HTTPS_PROXY", "https_proxy"];
const ENV_NO: [&str; 2] = ["NO_PROXY", "no_proxy"];

/// Which proxy serves which connection; by default none.
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    /// `None`: every connection is direct.
    rules: Option<Arc<Rules>>,
}

/// The proxies of `http://` (`ws://`) and `https://` (`wss://`) destinations.
#[derive(Debug)]
struct Rules {
    /// Only the URLs that passed [`check`]; it applies `NO_PROXY` and the scheme.
    matcher: Matcher,
    http: Option<Setting>,
    https: Option<Setting>,
}

/// One configured proxy URL and where it came from.
#[derive(Debug)]
struct Setting {
    /// `--proxy`, or the variable's name.
    from: String,
    /// The URL as given.
    url: String,
    /// Why it cannot be used, if it cannot.
    bad: Option<String>,
}

impl Setting {
    fn new(from: &str, url: &str) -> Setting {
        Setting {
            from: from.to_owned(),
            url: url.trim().to_owned(),
            bad: check(url).err(),
        }
    }
}

/// The kind of proxy, by its URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// `http://` (or no scheme): an HTTP `CONNECT` tunnel.
    Http,
    /// `socks5://`: this client resolves the name; `socks5h://`: the proxy does.
    Socks5 {
        /// Whether the proxy resolves the destination's name.
        remote_dns: bool,
    },
}

impl ProxyKind {
    /// `http`, `socks5`, `socks5h`.
    pub fn scheme(self) -> &'static str {
        match self {
            ProxyKind::Http => "http",
            ProxyKind::Socks5 { remote_dns: false } => "socks5",
            ProxyKind::Socks5 { remote_dns: true } => "socks5h",
        }
    }
}

/// The proxy one connection goes through.
#[derive(Debug, Clone)]
pub struct Route {
    /// Its kind.
    pub kind: ProxyKind,
    /// `HOST:PORT` to open the TCP connection to.
    pub addr: String,
    /// The URL as shown: the password, if any, hidden.
    pub shown: String,
    /// `--proxy`, or the environment variable it came from.
    pub from: String,
    /// The proxy's URI, as hyper-util's connectors take it.
    pub(super) uri: Uri,
    /// `Proxy-Authorization` for an HTTP proxy given `user:pass@`.
    pub(super) basic: Option<HeaderValue>,
    /// The user name and password for a SOCKS5 proxy given `user:pass@`.
    pub(super) login: Option<(String, String)>,
}

impl Route {
    /// Whether credentials were given for the proxy.
    pub(super) fn has_credentials(&self) -> bool {
        self.basic.is_some() || self.login.is_some()
    }
}

impl Proxies {
    /// No proxy at all: `--no-proxy`, `--proxy ''`, and every library caller that does
    /// not ask for one.
    pub fn direct() -> Proxies {
        Proxies::default()
    }

    /// `--proxy URL` for every connection, except to the hosts of `no_proxy` (the
    /// `NO_PROXY` list, as curl also applies it to its `--proxy`).
    pub fn given(url: &str, no_proxy: &str) -> Proxies {
        if bypasses_all(no_proxy) {
            return Proxies::direct();
        }
        let good = if check(url).is_ok() { url.trim() } else { "" };
        Proxies::with(
            Matcher::builder()
                .all(good.to_owned())
                .no(no_proxy.to_owned()),
            Some(Setting::new(FLAG, url)),
            Some(Setting::new(FLAG, url)),
        )
    }

    /// The proxies the environment names: `HTTPS_PROXY` for `wss://`, `HTTP_PROXY` for
    /// `ws://`, `ALL_PROXY` for either when its own is not set, `NO_PROXY` to skip
    /// some hosts; each upper-case name first, then its lowercase twin.
    pub fn from_env() -> Proxies {
        Proxies::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Proxies::from_env`] over any source of variables (tests give a table).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Proxies {
        // The first of the pair that is set, as hyper-util reads them; empty is unset.
        let first = |names: [&'static str; 2]| {
            names
                .iter()
                .find_map(|name| var(name).map(|value| (*name, value)))
                .filter(|(_, value)| !value.trim().is_empty())
        };
        let all = first(ENV_ALL);
        let pick = |own: [&'static str; 2]| first(own).or_else(|| all.clone());
        let (http, https) = (pick(ENV_HTTP), pick(ENV_HTTPS));
        if http.is_none() && https.is_none() {
            return Proxies::direct();
        }
        let no = first(ENV_NO).map(|(_, v)| v).unwrap_or_default();
        if bypasses_all(&no) {
            return Proxies::direct();
        }
        let setting = |chosen: &Option<(&str, String)>| {
            chosen
                .as_ref()
                .map(|(name, value)| Setting::new(name, value))
        };
        let usable = |chosen: &Option<(&str, String)>| {
            chosen
                .as_ref()
                .filter(|(_, value)| check(value).is_ok())
                .map_or_else(String::new, |(_, value)| value.clone())
        };
        Proxies::with(
            Matcher::builder()
                .http(usable(&http))
                .https(usable(&https))
                .no(no),
            setting(&http),
            setting(&https),
        )
    }

    fn with(
        builder: hyper_util::client::proxy::matcher::Builder,
        http: Option<Setting>,
        https: Option<Setting>,
    ) -> Proxies {
        Proxies {
            rules: Some(Arc::new(Rules {
                matcher: builder.build(),
                http,
                https,
            })),
        }
    }

    /// Whether any proxy is configured at all.
    pub fn is_direct(&self) -> bool {
        self.rules.is_none()
    }

    /// The proxy for a connection to `addr` (`HOST:PORT`), `tls` for `wss://` and
    /// `https://`; `None` to connect directly. Fails if the proxy that applies is not
    /// a usable URL.
    pub fn route(&self, addr: &str, tls: bool) -> Result<Option<Route>, Error> {
        let Some(rules) = &self.rules else {
            return Ok(None);
        };
        let scheme = if tls { "https" } else { "http" };
        let setting = if tls { &rules.https } else { &rules.http };
        let Some(setting) = setting else {
            return Ok(None);
        };
        if let Some(reason) = &setting.bad {
            return Err(Error::BadProxy {
                url: setting.url.clone(),
                from: setting.from.clone(),
                reason: reason.clone(),
            });
        }
        let dst = Uri::from_str(&format!("{scheme}://{addr}/")).map_err(|e| Error::BadUrl {
            url: addr.to_owned(),
            reason: e.to_string(),
        })?;
        let Some(intercept) = rules.matcher.intercept(&dst) else {
            return Ok(None);
        };
        let uri = intercept.uri().clone();
        let kind = match uri.scheme_str() {
            Some("socks5") => ProxyKind::Socks5 { remote_dns: false },
            Some("socks5h") => ProxyKind::Socks5 { remote_dns: true },
            _ => ProxyKind::Http,
        };
        let host = uri.host().unwrap_or_default();
        let port = uri.port_u16().unwrap_or(DEFAULT_PORT);
        let login = intercept
            .raw_auth()
            .map(|(user, pass)| (user.to_owned(), pass.to_owned()));
        let basic = intercept.basic_auth().cloned();
        let credentials =
            user_in(&setting.url).map_or(String::new(), |user| format!("{user}:***@"));
        Ok(Some(Route {
            kind,
            addr: format!("{host}:{port}"),
            shown: format!("{}://{credentials}{host}:{port}", kind.scheme()),
            from: setting.from.clone(),
            uri,
            basic,
            login,
        }))
    }
}

/// Whether a `NO_PROXY` list holds `*`, which curl (and wget, and Python) read as
/// "no proxy for any host", and hyper-util's matcher reads as a host named `*`.
fn bypasses_all(no_proxy: &str) -> bool {
    no_proxy.split(',').any(|entry| entry.trim() == "*")
}

/// The user name in a proxy URL's `user:pass@`, as given, to show it.
fn user_in(url: &str) -> Option<String> {
    let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = authority.split('/').next().unwrap_or(authority);
    let (userinfo, _) = authority.rsplit_once('@')?;
    Some(userinfo.split(':').next().unwrap_or(userinfo).to_owned())
}

/// Whether `url` is a proxy URL this client can use; the reason if not.
pub fn check(url: &str) -> Result<(), String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("empty".into());
    }
    let uri = Uri::from_str(url).map_err(|e| format!("not a URL ({e})"))?;
    match uri.scheme_str() {
        None | Some("http" | "socks5" | "socks5h") => {}
        Some("https") => {
            return Err(
                "https:// proxies (TLS to the proxy itself) are not supported: use http:// \
                 (wss:// still runs TLS end to end inside the tunnel) or socks5://"
                    .into(),
            );
        }
        Some(other) => {
            return Err(format!(
                "{other}:// proxies are not supported: use http://, socks5:// or socks5h://"
            ));
        }
    }
    let authority = uri.authority().ok_or("no host")?;
    let host_port = authority
        .as_str()
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, hp)| hp);
    if host_port.is_empty() || host_port.starts_with(':') {
        return Err("no host".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(table: &'static [(&'static str, &'static str)]) -> Proxies {
        Proxies::from_vars(|name| {
            table
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    fn via(proxies: &Proxies, addr: &str, tls: bool) -> Option<(String, String)> {
        proxies
            .route(addr, tls)
            .expect("usable")
            .map(|r| (r.shown, r.from))
    }

    #[test]
    fn ws_is_matched_as_http_and_wss_as_https() {
        let p = vars(&[
            ("HTTP_PROXY", "http://p1:3128"),
            ("https_proxy", "socks5h://u:pw@p2:1080"),
        ]);
        assert_eq!(
            via(&p, "example.test:80", false),
            Some(("http://p1:3128".into(), "HTTP_PROXY".into()))
        );
        assert_eq!(
            via(&p, "example.test:443", true),
            Some(("socks5h://u:***@p2:1080".into(), "https_proxy".into()))
        );
    }

    #[test]
    fn all_proxy_fills_in_and_no_proxy_bypasses() {
        let p = vars(&[
            ("ALL_PROXY", "p:8080"),
            ("HTTPS_PROXY", ""),
            ("NO_PROXY", "internal.test, 10.0.0.0/8"),
        ]);
        assert_eq!(
            via(&p, "example.test:443", true),
            Some(("http://p:8080".into(), "ALL_PROXY".into()))
        );
        assert_eq!(via(&p, "ws.internal.test:80", false), None);
        assert_eq!(via(&p, "10.1.2.3:80", false), None);
        assert!(vars(&[("NO_PROXY", "x")]).is_direct());
    }

    #[test]
    fn a_star_in_no_proxy_means_no_proxy_at_all() {
        for no in ["*", " * ", "internal.test, *"] {
            let table: &'static [(&'static str, &'static str)] = Box::leak(Box::new([
                ("HTTP_PROXY", "http://p1:3128"),
                ("HTTPS_PROXY", "http://p1:3128"),
                ("no_proxy", no),
            ]));
            let p = vars(table);
            assert!(p.is_direct(), "NO_PROXY={no:?}");
            assert_eq!(via(&p, "example.test:443", true), None, "NO_PROXY={no:?}");
            let given = Proxies::given("http://p1:3128", no);
            assert_eq!(
                via(&given, "example.test:80", false),
                None,
                "NO_PROXY={no:?}"
            );
        }
        // A star inside a name is no wildcard: the proxy still applies.
        let given = Proxies::given("http://p1:3128", "*.internal.test");
        assert!(via(&given, "example.test:80", false).is_some());
    }

    #[test]
    fn upper_case_names_come_first_and_a_port_defaults_to_1080() {
        let p = vars(&[
            ("http_proxy", "http://lower:1"),
            ("HTTP_PROXY", "http://upper"),
        ]);
        assert_eq!(
            via(&p, "h:80", false),
            Some(("http://upper:1080".into(), "HTTP_PROXY".into()))
        );
        assert_eq!(via(&p, "h:443", true), None);
    }

    #[test]
    fn a_bad_url_fails_when_used_naming_its_source() {
        let p = vars(&[("HTTPS_PROXY", "ftp://x:1"), ("HTTP_PROXY", "http://ok:1")]);
        assert!(via(&p, "h:80", false).is_some());
        let err = p.route("h:443", true).expect_err("ftp is no proxy");
        assert_eq!(
            err.to_string(),
            "bad proxy url \"ftp://x:1\" (from HTTPS_PROXY): ftp:// proxies are not \
             supported: use http://, socks5:// or socks5h://"
        );
        let given = Proxies::given("http://", "");
        assert!(given.route("h:80", false).is_err());
    }

    #[test]
    fn given_proxies_serve_both_schemes_except_no_proxy_hosts() {
        let p = Proxies::given("http://alice:pw@127.0.0.1:3128", "localhost");
        let route = p
            .route("example.test:443", true)
            .expect("usable")
            .expect("a proxy");
        assert_eq!(route.addr, "127.0.0.1:3128");
        assert_eq!(route.shown, "http://alice:***@127.0.0.1:3128");
        assert_eq!(route.from, "--proxy");
        assert!(route.basic.is_some() && route.login.is_none());
        assert!(p.route("localhost:80", false).expect("usable").is_none());
        assert!(
            Proxies::direct()
                .route("h:80", false)
                .expect("ok")
                .is_none()
        );
    }

    #[test]
    fn proxy_urls_are_checked() {
        for good in [
            "http://h:1",
            "h:3128",
            "socks5://u:p@h:1",
            "socks5h://h",
            "http://[::1]:8",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "https://h:1",
            "socks4://h:1",
            "http://",
            "http://:80",
            "not a url",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_user_of_a_proxy_url_is_shown_without_its_password() {
        assert_eq!(user_in("http://alice:pw@h:1/"), Some("alice".into()));
        assert_eq!(user_in("h:1"), None);
    }
}
