//! The plain HTTP requests: the clients page and the favicon.
//!
//! They go through hyper's client connection (`hyper::client::conn::http1`), the
//! lowest layer that still speaks HTTP correctly: one connection we opened ourselves
//! (so it can be tapped), no pool, and keep-alive under our control, which is what
//! lets `page` show two requests on one TCP connection. [`HttpConnection`] takes any
//! socket, tapped or not, so the untapped [`fetch_clients`] shares it.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{self, HeaderValue};
use hyper::http::response::Parts;
use hyper::{Request as HttpRequest, StatusCode};
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::JoinHandle;
use wspp::clients::ClientsReport;
use wspp::routes;

use super::ctx::Ctx;
use crate::commands::clients_table::{clients_table, unix_ms_now};
use crate::error::Error;
use crate::net::connect;
use crate::net::settings::ConnectSettings;
use crate::net::url::Endpoint;

/// `GET /`, then `GET /clients.json` on the same connection, shown as a table.
pub(super) async fn page(ctx: &Ctx<'_>) -> Result<(), Error> {
    let mut conn = HttpConnection::open(ctx).await?;
    let (parts, body) = conn.get(ctx.settings, routes::PAGE).await?;
    let kind = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no content type");
    ctx.transcript.note(format!(
        "{}: {} bytes of {kind}",
        status_text(parts.status),
        body.len()
    ));

    let report = conn.clients_report(ctx.settings).await?;
    conn.close().await;
    ctx.transcript.output(clients_table(&report, unix_ms_now()));
    Ok(())
}

/// Fetches the server's clients over a connection of its own (untapped: it is not
/// part of any request's transcript). Bounded by the connect timeout only; a caller
/// that must not wait on a silent server puts its own timeout around it.
pub async fn fetch_clients(settings: &ConnectSettings) -> Result<ClientsReport, Error> {
    let (stream, _opened) =
        connect::open(&settings.dial, &Endpoint::server(&settings.server)).await?;
    let mut conn = HttpConnection::over(stream).await?;
    let report = conn.clients_report(settings).await;
    conn.close().await;
    report
}

/// `GET /favicon.ico`, which wsppsrv refuses with 404 as browsers see it do.
pub(super) async fn favicon(ctx: &Ctx<'_>) -> Result<(), Error> {
    let mut conn = HttpConnection::open(ctx).await?;
    let (parts, _) = conn.get(ctx.settings, routes::FAVICON).await?;
    conn.close().await;
    let verdict = if parts.status == StatusCode::NOT_FOUND {
        "refused, as wsppsrv does"
    } else {
        "wsppsrv would have answered 404"
    };
    ctx.transcript
        .note(format!("{}: {verdict}", status_text(parts.status)));
    Ok(())
}

/// A kept-alive HTTP/1.1 client connection over a socket we opened.
pub(super) struct HttpConnection {
    sender: SendRequest<Empty<Bytes>>,
    /// Drives the connection; aborted if the request is abandoned, so the tap (and
    /// its transcript sender) never outlives the request.
    driver: AbortOnDrop,
}

struct AbortOnDrop(JoinHandle<Result<(), hyper::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl HttpConnection {
    /// Opens the request's tapped connection to the server.
    async fn open(ctx: &Ctx<'_>) -> Result<HttpConnection, Error> {
        let tap = ctx.connect(&Endpoint::server(&ctx.settings.server)).await?;
        HttpConnection::over(tap).await
    }

    /// Speaks HTTP/1.1 over `io`.
    pub(super) async fn over<T>(io: T) -> Result<HttpConnection, Error>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // Title-case names, as browsers send them, make the capture easier to read.
        let (sender, conn) = http1::Builder::new()
            .title_case_headers(true)
            .handshake(TokioIo::new(Linger { io, shut: false }))
            .await?;
        // With upgrades, a server that wrongly accepts a broken upgrade still gets a
        // well-formed exchange instead of a parse error.
        let driver = AbortOnDrop(tokio::spawn(conn.with_upgrades()));
        Ok(HttpConnection { sender, driver })
    }

    /// Sends `GET path` with the configured headers and reads the whole answer.
    async fn get(
        &mut self,
        settings: &ConnectSettings,
        path: &str,
    ) -> Result<(Parts, Bytes), Error> {
        let mut request = HttpRequest::get(path).body(Empty::<Bytes>::new())?;
        let headers = request.headers_mut();
        if let Ok(host) = HeaderValue::from_str(&settings.server.addr) {
            headers.insert(header::HOST, host);
        }
        for (name, value) in settings.headers.extra_headers() {
            headers.append(name, value);
        }
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok((parts, body))
    }

    /// `GET /clients.json`, parsed; a status other than 2xx is an error.
    pub(super) async fn clients_report(
        &mut self,
        settings: &ConnectSettings,
    ) -> Result<ClientsReport, Error> {
        let (parts, body) = self.get(settings, routes::CLIENTS_JSON).await?;
        if !parts.status.is_success() {
            return Err(Error::Unexpected(format!(
                "{} answered {}",
                routes::CLIENTS_JSON,
                status_text(parts.status)
            )));
        }
        Ok(serde_json::from_slice(&body)?)
    }

    /// Lets hyper close the connection, and waits until it has, so that every byte
    /// (and transcript entry) is accounted for.
    pub(super) async fn close(self) {
        let HttpConnection { sender, mut driver } = self;
        drop(sender);
        match tokio::time::timeout(CLOSE_TIME, &mut driver.0).await {
            Err(_) => tracing::debug!("http connection still closing after {CLOSE_TIME:?}"),
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => {
                tracing::debug!(error = %err, "http connection ended with an error")
            }
            Ok(Err(err)) => tracing::debug!(error = %err, "http connection task ended abnormally"),
        }
    }
}

/// How long closing a connection may take: our close, and the server's.
const CLOSE_TIME: Duration = Duration::from_secs(2);

/// A socket that, once shut down, reads until the server hangs up too. Over TLS the
/// server answers our close_notify with its own; were our socket gone by then, the
/// kernel would answer those bytes with a reset (an RST at the end of every https://
/// request in a capture). Over TCP it waits for the server's FIN.
struct Linger<T> {
    io: T,
    shut: bool,
}

impl<T: AsyncRead + Unpin> AsyncRead for Linger<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Linger<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.shut {
            ready!(Pin::new(&mut self.io).poll_shutdown(cx))?;
            self.shut = true;
        }
        let mut sink = [0u8; 512];
        loop {
            let mut buf = ReadBuf::new(&mut sink);
            match ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)) {
                Ok(()) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Ok(()) => {}
                // Our side is closed either way; the server's end is its business.
                Err(_) => return Poll::Ready(Ok(())),
            }
        }
    }
}

/// `404 Not Found`.
pub(super) fn status_text(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .trim_end()
    .to_owned()
}
