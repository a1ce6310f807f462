//! Looking a `HOST:PORT` up, within a time limit and with the client's errors: the
//! first step of every connection, whether it goes to the server or, through a proxy
//! that resolves nothing itself, to the proxy's target.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::error::Error;

/// The addresses `addr` (`HOST:PORT`) resolves to, within `timeout`.
pub async fn resolve(addr: &str, timeout: Duration) -> Result<Vec<SocketAddr>, Error> {
    let timed_out = |_| Error::ConnectTimeout {
        addr: addr.to_owned(),
        after: timeout,
    };
    let failed = |source| Error::Connect {
        addr: addr.to_owned(),
        source,
    };
    let found = tokio::time::timeout(timeout, tokio::net::lookup_host(addr))
        .await
        .map_err(timed_out)?
        .map_err(failed)?
        .collect::<Vec<_>>();
    if found.is_empty() {
        return Err(failed(io::Error::new(
            io::ErrorKind::NotFound,
            "the name resolves to no address",
        )));
    }
    Ok(found)
}
