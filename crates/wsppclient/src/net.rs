//! How bytes get to a server: the bottom of the client.
//!
//! A connection is made in steps, each in its own module and each timed apart:
//! [`resolve`] looks the name up, [`connect`] opens TCP (`TCP_NODELAY`, the kernel's
//! receive stamps asked for before the connection exists) and goes through the
//! [`proxy`]'s tunnel when one applies, then [`tls`] shakes hands for `wss://`;
//! [`upgrade`] turns what that opened into a WebSocket, or [`http2`] opens one as a
//! stream of an HTTP/2 connection (`--http2`). What all of it needs is
//! [`settings`], plain data parsed once; where it goes is a [`url`].
//!
//! Nothing here knows what the bytes mean or who asked for them: the transcript that
//! watches a connection (`crate::watch`) and the requests that use one
//! (`crate::commands`) sit above.

pub mod connect;
pub mod http2;
pub mod proxy;
pub mod resolve;
pub mod settings;
pub mod tls;
pub mod upgrade;
pub mod url;
