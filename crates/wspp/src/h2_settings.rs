//! The SETTINGS an HTTP/2 server opens its connection with, read as they go past.
//!
//! A client may open a WebSocket over HTTP/2 (RFC 8441) only once the server has said
//! so in its SETTINGS (`SETTINGS_ENABLE_CONNECT_PROTOCOL` = 1), and neither hyper nor
//! h2 waits for that: a CONNECT sent before the SETTINGS arrive goes out all the same,
//! and hyper's client drives the connection in a task of its own, so nothing wakes a
//! caller when they do arrive. [`SettingsWatch`] sits on the read side of the
//! connection, under hyper, and parses the first frame the server sends (its preface
//! is that SETTINGS frame, RFC 9113 3.4); [`ServerSettings::wait`] resolves when the
//! frame is whole. After that, a read costs the layer one check of a flag.

use tokio::sync::watch;

use crate::stream::Layer;

/// The identifier of `SETTINGS_ENABLE_CONNECT_PROTOCOL` (RFC 8441, 3).
pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;

/// The frame type of SETTINGS (RFC 9113, 6.5).
const SETTINGS: u8 = 0x4;

/// A frame header's length (RFC 9113, 4.1).
const HEADER_LEN: usize = 9;

/// The most a first SETTINGS frame is read for: 64 settings, far more than the seven
/// RFC 9113 and RFC 8441 define; a longer frame is cut there.
const MOST: usize = HEADER_LEN + 64 * 6;

/// What the server's first frame said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstFrame {
    /// A SETTINGS frame, each `(identifier, value)` in the order sent.
    Settings(Vec<(u16, u32)>),
    /// Another frame: not an HTTP/2 server's preface. The frame's type.
    Other(u8),
}

impl FirstFrame {
    /// Whether the server enabled the extended CONNECT protocol.
    pub fn enables_connect_protocol(&self) -> bool {
        matches!(self, FirstFrame::Settings(settings)
            if settings.iter().any(|&(id, value)| id == ENABLE_CONNECT_PROTOCOL && value == 1))
    }
}

/// The name RFC 9113 (and RFC 8441) give a setting's identifier.
pub fn setting_name(id: u16) -> Option<&'static str> {
    Some(match id {
        0x1 => "HEADER_TABLE_SIZE",
        0x2 => "ENABLE_PUSH",
        0x3 => "MAX_CONCURRENT_STREAMS",
        0x4 => "INITIAL_WINDOW_SIZE",
        0x5 => "MAX_FRAME_SIZE",
        0x6 => "MAX_HEADER_LIST_SIZE",
        ENABLE_CONNECT_PROTOCOL => "ENABLE_CONNECT_PROTOCOL",
        _ => return None,
    })
}

/// The read-side layer that parses the server's first frame (see the module doc).
#[derive(Debug)]
pub struct SettingsWatch {
    /// The frame's bytes so far; emptied once it is whole.
    bytes: Vec<u8>,
    /// `None` once the frame is whole and told.
    tell: Option<watch::Sender<Option<FirstFrame>>>,
}

/// Where the server's first frame is waited for.
#[derive(Debug, Clone)]
pub struct ServerSettings(watch::Receiver<Option<FirstFrame>>);

/// A layer to put under the HTTP/2 client, and the handle to wait on.
pub fn watch() -> (SettingsWatch, ServerSettings) {
    let (tell, told) = watch::channel(None);
    let layer = SettingsWatch {
        bytes: Vec::new(),
        tell: Some(tell),
    };
    (layer, ServerSettings(told))
}

impl ServerSettings {
    /// The server's first frame, once it is whole; `None` when the connection ended,
    /// or its reading stopped, before it was.
    pub async fn wait(&mut self) -> Option<FirstFrame> {
        let frame = self.0.wait_for(Option::is_some).await.ok()?;
        frame.clone()
    }
}

impl SettingsWatch {
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && self.tell.is_some() {
            let wanted = match self.bytes.get(..HEADER_LEN) {
                None => HEADER_LEN,
                Some(header) => {
                    let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
                    (HEADER_LEN + len).min(MOST)
                }
            };
            let take = (wanted - self.bytes.len()).min(bytes.len());
            self.bytes.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.bytes.len() == wanted && wanted > HEADER_LEN || self.is_whole_empty() {
                self.finish();
            }
        }
    }

    /// A header alone is a whole frame when its length is zero.
    fn is_whole_empty(&self) -> bool {
        self.bytes.len() == HEADER_LEN && self.bytes[..3] == [0, 0, 0]
    }

    fn finish(&mut self) {
        let frame = parse(&self.bytes);
        self.bytes = Vec::new();
        if let Some(tell) = self.tell.take() {
            let _ = tell.send(Some(frame));
        }
    }
}

/// A whole first frame (cut at [`MOST`]).
fn parse(frame: &[u8]) -> FirstFrame {
    let kind = frame[3];
    if kind != SETTINGS {
        return FirstFrame::Other(kind);
    }
    let settings = frame[HEADER_LEN..]
        .chunks_exact(6)
        .map(|s| {
            (
                u16::from_be_bytes([s[0], s[1]]),
                u32::from_be_bytes([s[2], s[3], s[4], s[5]]),
            )
        })
        .collect();
    FirstFrame::Settings(settings)
}

impl Layer for SettingsWatch {
    fn read(&mut self, read: &[u8]) {
        if self.tell.is_some() {
            self.feed(read);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SETTINGS frame with `settings`, as a server sends it.
    fn settings(settings: &[(u16, u32)]) -> Vec<u8> {
        let len = (settings.len() * 6) as u32;
        let mut frame = len.to_be_bytes()[1..].to_vec();
        frame.extend_from_slice(&[SETTINGS, 0, 0, 0, 0, 0]);
        for (id, value) in settings {
            frame.extend_from_slice(&id.to_be_bytes());
            frame.extend_from_slice(&value.to_be_bytes());
        }
        frame
    }

    fn told(layer: &SettingsWatch, settings: &ServerSettings) -> Option<FirstFrame> {
        assert_eq!(layer.tell.is_none(), settings.0.borrow().is_some());
        settings.0.borrow().clone()
    }

    #[test]
    fn settings_read_in_pieces_are_told_once_whole() {
        let (mut layer, handle) = watch();
        let frame = settings(&[(3, 200), (4, 1_048_576), (ENABLE_CONNECT_PROTOCOL, 1)]);
        // A WINDOW_UPDATE follows in the same read: it is not part of the frame.
        let mut bytes = frame.clone();
        bytes.extend_from_slice(&[0, 0, 4, 0x8, 0, 0, 0, 0, 0, 0, 0, 0x10, 0]);
        for piece in bytes.chunks(5) {
            assert_eq!(told(&layer, &handle), None);
            layer.feed(piece);
            if layer.tell.is_none() {
                break;
            }
        }
        let first = told(&layer, &handle).expect("told");
        assert!(first.enables_connect_protocol());
        assert_eq!(
            first,
            FirstFrame::Settings(vec![(3, 200), (4, 1_048_576), (8, 1)])
        );
    }

    #[test]
    fn without_the_setting_or_with_another_frame_it_is_not_enabled() {
        let (mut layer, handle) = watch();
        layer.feed(&settings(&[(3, 100), (ENABLE_CONNECT_PROTOCOL, 0)]));
        assert!(
            !told(&layer, &handle)
                .expect("told")
                .enables_connect_protocol()
        );

        let (mut layer, handle) = watch();
        layer.feed(&settings(&[]));
        assert_eq!(told(&layer, &handle), Some(FirstFrame::Settings(vec![])));

        let (mut layer, handle) = watch();
        // An HTTP/1.1 answer read as a frame header: a length of megabytes, cut at MOST.
        layer.feed(&b"HTTP/1.1 400 Bad Request\r\n".repeat(20));
        assert_eq!(told(&layer, &handle), Some(FirstFrame::Other(b'P')));
        assert_eq!(
            setting_name(ENABLE_CONNECT_PROTOCOL),
            Some("ENABLE_CONNECT_PROTOCOL")
        );
        assert_eq!(setting_name(0x99), None);
    }

    #[tokio::test]
    async fn a_connection_that_ends_first_is_told_as_none() {
        let (layer, mut handle) = watch();
        drop(layer);
        assert_eq!(handle.wait().await, None);
    }
}
