//! What the bytes on a connection mean, for a person watching them.
//!
//! [`wire`] is a pure parser of what crossed a connection: HTTP heads and bodies
//! (`wire/http.rs`), then WebSocket frames with their real FIN, RSV and mask bits
//! (`wire/frames.rs`). [`tap`] is the [`Layer`](wspp::stream::Layer) that feeds it
//! every byte a connection reads or writes, and [`transcript`] is where what it
//! recognised goes, as entries a front-end prints or draws. None of it knows who
//! opened the connection, so it serves a connection the client accepted as well as
//! one it opened.

pub mod tap;
pub mod transcript;
pub mod wire;
