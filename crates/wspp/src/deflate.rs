//! permessage-deflate (RFC 7692) under tungstenite, which has no extensions.
//!
//! tungstenite reads and writes plain frames. A [`Deflate`] layer sits between it and
//! the socket once the handshake agreed on the extension ([`negotiation`]), and
//! follows the frames both ways with [`frame`](crate::frame)'s header reader:
//!
//! * Reading, a data message whose first frame has RSV1 set is inflated
//!   ([`codec::Inflater`]) and handed up as plain fragments of at most 16 KiB, RSV1
//!   clear, masked with a zero key when the peer's frames were masked (so tungstenite's
//!   role checks still hold) and unmasked otherwise. Fragments of the compressed
//!   message and control frames between them are followed; control frames and plain
//!   messages pass byte for byte. Inflating on demand, a fragment at a time, keeps a
//!   small message that inflates to gigabytes from being held: tungstenite's message
//!   size limit stops it as it grows. Data that is not DEFLATE fails the read with
//!   [`InvalidDeflate`], for a Close 1007.
//! * Writing, each data frame tungstenite writes is compressed ([`codec::Deflater`])
//!   into one frame, RSV1 set on a message's first, masked with the key tungstenite
//!   chose for it. Control frames pass as they are. A frame goes out whole once its
//!   last byte is written, and at the latest on flush.
//!
//! The server knows the agreement before its 101 ([`Deflate::new`]). A client learns it
//! from the 101, which tungstenite reads together with whatever frames came behind it,
//! so the client's layer goes under the upgrade ([`Deflate::client`]): it reads the
//! response head through, checks its `Sec-WebSocket-Extensions` against the offer, and
//! follows the frames from the first byte after the head.
//!
//! Anything the layer cannot follow (reserved bits other than a message's RSV1, a
//! reserved opcode, a data frame inside a message) is passed on as it came and the
//! layer stops following: tungstenite then refuses it with its own close code, as it
//! would without the extension.
//!
//! Buffers are freed as soon as they are empty, and the compression state given back
//! at the end of each message (to a few process-wide spares, `spares`), so a
//! connection between messages holds no more than the layer's own few dozen bytes.

pub mod codec;
pub mod negotiation;
mod spares;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub use codec::InvalidDeflate;
use codec::{Deflater, Inflater, TAIL};
pub use negotiation::{Agreement, NegotiationError};

use crate::frame::{Header, HeaderReader, MAX_HEADER_LEN, apply_mask, write_header};
use crate::stream::{Layer, Layered};

/// The largest fragment an inflated message is handed up in.
const FRAGMENT: usize = 16 * 1024;

/// How much is read from the socket at a time.
const READ_CHUNK: usize = 8 * 1024;

/// A stream with permessage-deflate over it.
pub type Deflated<S> = Layered<S, Deflate>;

/// Puts the agreed permessage-deflate over `inner`.
pub fn layer<S>(inner: S, agreement: Agreement) -> Deflated<S> {
    Layered::new(inner, Deflate::new(agreement))
}

/// The longest response head a client-side layer reads for the extensions; past it,
/// the layer stands aside and tungstenite refuses the head on its own.
const MAX_HEAD: usize = 64 * 1024;

/// The permessage-deflate layer: inflates what is read, compresses what is written.
#[derive(Debug)]
pub struct Deflate {
    /// Boxed: a server holds an `Option<Deflate>` for every session, compressed or
    /// not, and a box keeps that to one pointer where nothing was agreed.
    state: Box<State>,
}

#[derive(Debug)]
struct State {
    read: Reader,
    write: Writer,
    /// Client side, until the response head has been read: what was offered, and the
    /// head so far.
    awaiting: Option<Box<AwaitingResponse>>,
    /// What the response's extensions were found to mean, once read.
    outcome: Option<Result<Option<Agreement>, NegotiationError>>,
}

#[derive(Debug)]
struct AwaitingResponse {
    offered: Vec<String>,
    head: Vec<u8>,
}

impl Deflate {
    /// The layer for what the handshake agreed (the server knows it before its 101).
    pub fn new(agreement: Agreement) -> Self {
        Deflate {
            state: Box::new(State {
                read: Reader::new(Some(Inflater::new(agreement.keep_inflate_context))),
                write: Writer::new(Some(Deflater::new(agreement.deflate_window_bits))),
                awaiting: None,
                outcome: Some(Ok(Some(agreement))),
            }),
        }
    }

    /// Client side, put under the upgrade: bytes pass as they are until the server's
    /// response head has been read, whose `Sec-WebSocket-Extensions` is then checked
    /// against `offered` (the request's values of that header). An agreement turns the
    /// layer on for the frames that follow, in the same read if they came with it;
    /// anything else leaves it standing aside, the finding kept for [`outcome`]. After
    /// a 101, a read returns the head alone, the frames that came with it on the next
    /// read: tungstenite hands what its handshake read past the head to the WebSocket
    /// as its read buffer, 4 KiB of capacity whatever the configured size, so a
    /// caller that leaves nothing there can start the WebSocket on a buffer of its own.
    ///
    /// [`outcome`]: Deflate::outcome
    pub fn client(offered: Vec<String>) -> Self {
        Deflate {
            state: Box::new(State {
                read: Reader::new(None),
                write: Writer::new(None),
                awaiting: Some(Box::new(AwaitingResponse {
                    offered,
                    head: Vec::new(),
                })),
                outcome: None,
            }),
        }
    }

    /// What the handshake agreed: `Ok(None)` for no extension, an error for a response
    /// that accepted what was not offered or is not allowed; `None` until the response
    /// head has been read.
    pub fn outcome(&self) -> Option<&Result<Option<Agreement>, NegotiationError>> {
        self.state.outcome.as_ref()
    }

    /// Whether no message is half compressed or half inflated and no bytes are held:
    /// the state of an idle connection.
    pub fn is_idle(&self) -> bool {
        self.state.read.is_idle() && self.state.write.is_idle()
    }

    /// Reads the response head through, then decides.
    fn poll_read_head<S: AsyncRead + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(inner).poll_read(cx, buf))?;
        let Some(awaiting) = self.state.awaiting.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let new = &buf.filled()[before..];
        let searched_from = awaiting.head.len().saturating_sub(3);
        awaiting.head.extend_from_slice(new);
        let end = awaiting.head[searched_from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|at| searched_from + at + 4);
        let Some(end) = end else {
            if awaiting.head.len() > MAX_HEAD || new.is_empty() {
                self.state.awaiting = None;
                self.state.outcome = Some(Ok(None));
            }
            return Poll::Ready(Ok(()));
        };
        let head = String::from_utf8_lossy(&awaiting.head[..end]).into_owned();
        let in_this_read = awaiting.head.len() - end;
        let offered = std::mem::take(&mut awaiting.offered);
        self.state.awaiting = None;
        // Only a 101 switches to frames; a refusal's body is the caller's to read.
        let switched = head.split(' ').nth(1) == Some("101");
        let outcome = if switched {
            negotiation::accept(offered.iter().map(String::as_str), extension_values(&head))
        } else {
            Ok(None)
        };
        if let Ok(Some(agreement)) = outcome {
            self.state.read = Reader::new(Some(Inflater::new(agreement.keep_inflate_context)));
            self.state.write = Writer::new(Some(Deflater::new(agreement.deflate_window_bits)));
        }
        if switched && in_this_read > 0 {
            // The frames after the head go up on the next read, followed by the layer
            // when compression was agreed, passed on as they are when not: the
            // handshake reads the head alone, and leaves no bytes behind in its own
            // buffer that the WebSocket would have to inherit (see `Deflate::client`).
            let new = &buf.filled()[before..];
            self.state.read.input = new[new.len() - in_this_read..].to_vec();
            buf.set_filled(buf.filled().len() - in_this_read);
        }
        self.state.outcome = Some(outcome);
        Poll::Ready(Ok(()))
    }
}

/// The values of every `Sec-WebSocket-Extensions` header in an HTTP head.
fn extension_values(head: &str) -> Vec<&str> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-extensions"))
        .map(|(_, value)| value.trim())
        .collect()
}

impl Layer for Deflate {
    fn poll_read<S: AsyncRead + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.state.awaiting.is_some() {
            let before = buf.filled().len();
            ready!(self.poll_read_head(inner, cx, buf))?;
            if buf.filled().len() > before || self.state.awaiting.is_some() {
                return Poll::Ready(Ok(()));
            }
        }
        self.state.read.poll_read(inner, cx, buf)
    }

    fn poll_write<S: AsyncWrite + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.state.write.stands_aside() {
            return Pin::new(inner).poll_write(cx, buf);
        }
        ready!(self.state.write.poll_drain(inner, cx))?;
        self.state.write.take(buf);
        // Out now if the socket takes it; otherwise on flush.
        if let Poll::Ready(Err(e)) = self.state.write.poll_drain(inner, cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush<S: AsyncWrite + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        ready!(self.state.write.poll_drain(inner, cx))?;
        Pin::new(inner).poll_flush(cx)
    }
}

/// A frame header being collected, with its bytes as they came, so that a frame
/// passed on is passed byte for byte.
#[derive(Debug, Default)]
struct RawHeader {
    reader: HeaderReader,
    bytes: [u8; MAX_HEADER_LEN],
    have: usize,
}

impl RawHeader {
    /// Takes header bytes from `input`: how many it took, and the header once whole.
    fn feed(&mut self, input: &[u8]) -> (usize, Option<Header>) {
        let (used, header) = self.reader.feed(input);
        self.bytes[self.have..self.have + used].copy_from_slice(&input[..used]);
        self.have += used;
        (used, header)
    }

    fn bytes(&self) -> &[u8] {
        &self.bytes[..self.have]
    }
}

/// Where the reader is in the peer's frames.
#[derive(Debug)]
enum ReadAt {
    Header(Box<RawHeader>),
    /// Passing a payload on as it is.
    Pass {
        left: u64,
    },
    /// Inflating a compressed frame's payload.
    Inflate {
        left: u64,
        seen: u64,
        mask: Option<[u8; 4]>,
        fin: bool,
    },
    /// The compressed message's last frame is in: its tail, then what the inflater
    /// still holds, then the final fragment.
    Drain {
        tail_left: usize,
    },
    /// Not following: everything passes as it is.
    Off,
}

/// The data message the peer is in the middle of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InMessage {
    None,
    Plain,
    /// Compressed: the opcode its next fragment handed up carries (the message's own
    /// on the first, continuation after), and whether the peer masks.
    Compressed {
        opcode: u8,
        masked: bool,
    },
}

#[derive(Debug)]
struct Reader {
    at: ReadAt,
    message: InMessage,
    /// `None`: nothing was agreed, and the reader stands aside.
    inflater: Option<Inflater>,
    /// Bytes read from the socket and not yet followed.
    input: Vec<u8>,
    input_pos: usize,
    /// Bytes for tungstenite.
    out: Vec<u8>,
    out_pos: usize,
    /// Inflated bytes of the current message not yet in a fragment.
    plain: Vec<u8>,
    failed: bool,
}

impl Reader {
    fn new(inflater: Option<Inflater>) -> Self {
        Reader {
            at: match inflater {
                Some(_) => ReadAt::Header(Box::default()),
                None => ReadAt::Off,
            },
            message: InMessage::None,
            inflater,
            input: Vec::new(),
            input_pos: 0,
            out: Vec::new(),
            out_pos: 0,
            plain: Vec::new(),
            failed: false,
        }
    }

    fn is_idle(&self) -> bool {
        self.message == InMessage::None
            && self.inflater.as_ref().is_none_or(Inflater::is_idle)
            && self.input.capacity() == 0
            && self.out.capacity() == 0
            && self.plain.capacity() == 0
    }

    fn poll_read<S: AsyncRead + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if matches!(self.at, ReadAt::Off) && self.input.is_empty() && self.out.is_empty() {
                // Nothing to follow or hand up: straight from the socket.
                return Pin::new(inner).poll_read(cx, buf);
            }
            if self.out_pos < self.out.len() {
                let n = buf.remaining().min(self.out.len() - self.out_pos);
                buf.put_slice(&self.out[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                if self.out_pos == self.out.len() {
                    self.out = Vec::new();
                    self.out_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if self.failed {
                return Poll::Ready(Err(InvalidDeflate.into_io()));
            }
            let input = std::mem::take(&mut self.input);
            let followed = self.follow(&input[self.input_pos..]);
            self.input = input;
            match followed {
                Ok(used) => self.input_pos += used,
                Err(e) => {
                    self.failed = true;
                    self.input = Vec::new();
                    return Poll::Ready(Err(e.into_io()));
                }
            }
            if self.input_pos == self.input.len() {
                self.input = Vec::new();
                self.input_pos = 0;
            }
            if !self.out.is_empty() || !self.input.is_empty() {
                continue;
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut *inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                // End of stream: tungstenite decides what a cut-off frame means.
                return Poll::Ready(Ok(()));
            }
            self.input = read.filled().to_vec();
        }
    }

    /// Follows frames through `input`, writing what tungstenite gets to `out`, until
    /// `input` is used up (or a fragment is ready). Returns how much of it was used.
    fn follow(&mut self, input: &[u8]) -> Result<usize, InvalidDeflate> {
        let mut used = 0;
        while self.out.len() < FRAGMENT {
            let rest = &input[used..];
            match &mut self.at {
                ReadAt::Off => {
                    self.out.extend_from_slice(rest);
                    return Ok(input.len());
                }
                ReadAt::Header(raw) => {
                    if rest.is_empty() {
                        break;
                    }
                    let (n, header) = raw.feed(rest);
                    used += n;
                    if let Some(header) = header {
                        let raw = std::mem::take(raw);
                        self.start_frame(header, raw.bytes());
                    }
                }
                ReadAt::Pass { left } => {
                    if rest.is_empty() {
                        break;
                    }
                    let n = usize::try_from(*left).unwrap_or(usize::MAX).min(rest.len());
                    self.out.extend_from_slice(&rest[..n]);
                    used += n;
                    *left -= n as u64;
                    if *left == 0 {
                        self.at = ReadAt::Header(Box::default());
                    }
                }
                ReadAt::Inflate {
                    left,
                    seen,
                    mask,
                    fin,
                } => {
                    if *left > 0 && rest.is_empty() {
                        break;
                    }
                    let mut unmasked = [0u8; 4096];
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(rest.len())
                        .min(unmasked.len());
                    unmasked[..n].copy_from_slice(&rest[..n]);
                    if let Some(key) = mask {
                        apply_mask(&mut unmasked[..n], *key, *seen);
                    }
                    let room = FRAGMENT - self.plain.len();
                    let taken = if n > 0 {
                        inflater(&mut self.inflater).inflate(
                            &unmasked[..n],
                            &mut self.plain,
                            room,
                        )?
                    } else {
                        0
                    };
                    used += taken;
                    *seen += taken as u64;
                    *left -= taken as u64;
                    if *left == 0 {
                        self.at = if *fin {
                            ReadAt::Drain {
                                tail_left: TAIL.len(),
                            }
                        } else {
                            ReadAt::Header(Box::default())
                        };
                    }
                    if self.plain.len() >= FRAGMENT {
                        self.emit(false);
                    }
                }
                ReadAt::Drain { tail_left } => {
                    let room = FRAGMENT - self.plain.len();
                    let before = self.plain.len();
                    if *tail_left > 0 {
                        let tail = &TAIL[TAIL.len() - *tail_left..];
                        *tail_left -=
                            inflater(&mut self.inflater).inflate(tail, &mut self.plain, room)?;
                    } else {
                        let inflater = inflater(&mut self.inflater);
                        inflater.inflate(&[], &mut self.plain, room)?;
                        if self.plain.len() == before {
                            inflater.end_message();
                            self.emit(true);
                            self.message = InMessage::None;
                            self.at = ReadAt::Header(Box::default());
                            continue;
                        }
                    }
                    if self.plain.len() >= FRAGMENT {
                        self.emit(false);
                    }
                }
            }
        }
        Ok(used)
    }

    /// Decides what a frame is, from its header.
    fn start_frame(&mut self, header: Header, raw: &[u8]) {
        let rsv1 = header.rsv & 0b100 != 0;
        let compressed = match (header.opcode, self.message) {
            _ if header.rsv & 0b011 != 0 => None,
            (0x8..=0xA, _) if !rsv1 => Some(false),
            (0x1 | 0x2, InMessage::None) => {
                self.message = if rsv1 {
                    InMessage::Compressed {
                        opcode: header.opcode,
                        masked: header.mask.is_some(),
                    }
                } else if header.fin {
                    InMessage::None
                } else {
                    InMessage::Plain
                };
                Some(rsv1)
            }
            (0x0, InMessage::Plain) if !rsv1 => {
                if header.fin {
                    self.message = InMessage::None;
                }
                Some(false)
            }
            (0x0, InMessage::Compressed { .. }) if !rsv1 => Some(true),
            _ => None,
        };
        self.at = match compressed {
            None => {
                // tungstenite refuses this frame; it gets it as it came.
                self.out.extend_from_slice(raw);
                ReadAt::Off
            }
            Some(false) => {
                self.out.extend_from_slice(raw);
                if header.len == 0 {
                    ReadAt::Header(Box::default())
                } else {
                    ReadAt::Pass { left: header.len }
                }
            }
            Some(true) if header.len == 0 && header.fin => ReadAt::Drain {
                tail_left: TAIL.len(),
            },
            Some(true) if header.len == 0 => ReadAt::Header(Box::default()),
            Some(true) => ReadAt::Inflate {
                left: header.len,
                seen: 0,
                mask: header.mask,
                fin: header.fin,
            },
        };
    }

    /// Hands up the inflated bytes held as one fragment.
    fn emit(&mut self, fin: bool) {
        let InMessage::Compressed { opcode, masked } = self.message else {
            return;
        };
        let header = Header {
            fin,
            rsv: 0,
            opcode,
            // A zero key leaves the payload as it is and keeps the MASK bit the role
            // requires of the peer's frames.
            mask: masked.then_some([0; 4]),
            len: self.plain.len() as u64,
        };
        write_header(&mut self.out, &header);
        self.out.extend_from_slice(&self.plain);
        self.plain = Vec::new();
        self.message = InMessage::Compressed { opcode: 0, masked };
    }
}

/// The inflater of a reader that follows frames, which only an agreement makes.
fn inflater(inflater: &mut Option<Inflater>) -> &mut Inflater {
    inflater.get_or_insert_with(|| Inflater::new(false))
}

/// Where the writer is in tungstenite's frames.
#[derive(Debug)]
enum WriteAt {
    Header(Box<RawHeader>),
    Pass {
        left: u64,
    },
    Compress {
        left: u64,
        seen: u64,
        /// The frame's header as tungstenite wrote it.
        header: Header,
    },
}

#[derive(Debug)]
struct Writer {
    at: WriteAt,
    /// `None`: nothing was agreed, and the writer stands aside.
    deflater: Option<Deflater>,
    /// Inside a data message: its continuation frames carry no RSV1.
    in_message: bool,
    /// The compressed payload of the frame being written.
    frame: Vec<u8>,
    /// Bytes for the socket.
    out: Vec<u8>,
    out_pos: usize,
}

impl Writer {
    fn new(deflater: Option<Deflater>) -> Self {
        Writer {
            at: WriteAt::Header(Box::default()),
            deflater,
            in_message: false,
            frame: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
        }
    }

    fn is_idle(&self) -> bool {
        !self.in_message
            && self.deflater.as_ref().is_none_or(Deflater::is_idle)
            && self.frame.capacity() == 0
            && self.out.capacity() == 0
    }

    /// Whether writes go straight to the socket: nothing agreed and nothing held.
    fn stands_aside(&self) -> bool {
        self.deflater.is_none() && self.out.is_empty()
    }

    /// Writes out what is held.
    fn poll_drain<S: AsyncWrite + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.out_pos < self.out.len() {
            let n = ready!(Pin::new(&mut *inner).poll_write(cx, &self.out[self.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
        self.out = Vec::new();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// Follows tungstenite's frames through `input`, all of it.
    fn take(&mut self, mut input: &[u8]) {
        while !input.is_empty() {
            match &mut self.at {
                WriteAt::Header(raw) => {
                    let (n, header) = raw.feed(input);
                    input = &input[n..];
                    if let Some(header) = header {
                        let raw = std::mem::take(raw);
                        self.start_frame(header, raw.bytes());
                    }
                }
                WriteAt::Pass { left } => {
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    self.out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    *left -= n as u64;
                    if *left == 0 {
                        self.at = WriteAt::Header(Box::default());
                    }
                }
                WriteAt::Compress { left, seen, header } => {
                    let mut plain = [0u8; 4096];
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(input.len())
                        .min(plain.len());
                    plain[..n].copy_from_slice(&input[..n]);
                    if let Some(key) = header.mask {
                        apply_mask(&mut plain[..n], key, *seen);
                    }
                    if let Some(deflater) = self.deflater.as_mut() {
                        deflater.compress(&plain[..n], &mut self.frame);
                    }
                    input = &input[n..];
                    *seen += n as u64;
                    *left -= n as u64;
                    if *left == 0 {
                        let header = *header;
                        self.end_frame(header);
                    }
                }
            }
        }
    }

    fn start_frame(&mut self, header: Header, raw: &[u8]) {
        let data = matches!(
            (header.opcode, self.in_message),
            (0x1 | 0x2, false) | (0x0, true)
        );
        if !data || header.rsv != 0 {
            self.out.extend_from_slice(raw);
            self.at = if header.len == 0 {
                WriteAt::Header(Box::default())
            } else {
                WriteAt::Pass { left: header.len }
            };
            return;
        }
        if header.len == 0 {
            self.end_frame(header);
        } else {
            self.at = WriteAt::Compress {
                left: header.len,
                seen: 0,
                header,
            };
        }
    }

    /// The frame's payload is all in: its compressed frame goes out.
    fn end_frame(&mut self, header: Header) {
        if let Some(deflater) = self.deflater.as_mut() {
            deflater.end_frame(&mut self.frame, header.fin);
        }
        let first = header.opcode != 0x0;
        let out_header = Header {
            rsv: if first { 0b100 } else { 0 },
            len: self.frame.len() as u64,
            ..header
        };
        write_header(&mut self.out, &out_header);
        let start = self.out.len();
        self.out.extend_from_slice(&self.frame);
        if let Some(key) = header.mask {
            apply_mask(&mut self.out[start..], key, 0);
        }
        self.frame = Vec::new();
        self.in_message = !header.fin;
        self.at = WriteAt::Header(Box::default());
    }
}

#[cfg(test)]
mod tests;
