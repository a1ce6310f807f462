//! A WebSocket server that speaks subprotocols, on `127.0.0.1:0`: tokio-tungstenite's
//! server side (not wsppsrv, which speaks none), answering each upgrade's
//! `Sec-WebSocket-Protocol` by a [`Choice`], then answering Pings until the Close.

use std::net::SocketAddr;

use futures_util::StreamExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

/// How the server answers the subprotocols offered.
#[derive(Debug, Clone, Copy)]
pub enum Choice {
    /// Speaks these, in its order of preference: picks the first of them offered, and
    /// refuses with `400 Bad Request` and the body `missing subprotocol` when none is.
    Speaks(&'static [&'static str]),
    /// Answers with this one whatever was offered (a broken server).
    Always(&'static str),
    /// Never answers with one.
    Never,
}

/// A running server; dropping it stops accepting.
pub struct SubprotocolServer {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for SubprotocolServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SubprotocolServer {
    // The callback's `Result` is the shape tungstenite's server handshake asks for.
    #[allow(clippy::result_large_err)]
    pub async fn start(choice: Choice) -> SubprotocolServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("bound address");
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let callback =
                        |request: &Request, response: Response| answer(choice, request, response);
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await
                    else {
                        return;
                    };
                    // Reading answers the Pings and, at the end, the Close.
                    while let Some(Ok(_)) = ws.next().await {}
                });
            }
        });
        SubprotocolServer { addr, task }
    }

    /// `ws://127.0.0.1:PORT/chat`.
    pub fn url(&self) -> String {
        format!("ws://{}/chat", self.addr)
    }
}

#[allow(clippy::result_large_err)]
fn answer(
    choice: Choice,
    request: &Request,
    mut response: Response,
) -> Result<Response, ErrorResponse> {
    let offered: Vec<String> = request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_owned()))
        .collect();
    let chosen = match choice {
        Choice::Never => None,
        Choice::Always(name) => Some(name),
        Choice::Speaks(names) => {
            let Some(name) = names.iter().find(|n| offered.iter().any(|o| o == *n)) else {
                let mut refusal = ErrorResponse::new(Some("missing subprotocol".to_owned()));
                *refusal.status_mut() = StatusCode::BAD_REQUEST;
                return Err(refusal);
            };
            Some(*name)
        }
    };
    if let Some(name) = chosen {
        response
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static(name));
    }
    Ok(response)
}
