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
//! Anything the layer cannot follow (reserved bits other than a message's RSV1, a
//! reserved opcode, a data frame inside a message) is passed on as it came and the
//! layer stops following: tungstenite then refuses it with its own close code, as it
//! would without the extension.
//!
//! Buffers are freed as soon as they are empty, and the compression state at the end
//! of each message, so a connection between messages holds no more than the layer's
//! own few dozen bytes.

pub mod codec;
pub mod negotiation;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub use codec::InvalidDeflate;
use codec::{Deflater, Inflater, TAIL};
pub use negotiation::Agreement;

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

/// The permessage-deflate layer: inflates what is read, compresses what is written.
#[derive(Debug)]
pub struct Deflate {
    read: Reader,
    write: Writer,
}

impl Deflate {
    /// The layer for what the handshake agreed.
    pub fn new(agreement: Agreement) -> Self {
        Deflate {
            read: Reader::new(Inflater::new(agreement.keep_inflate_context)),
            write: Writer::new(Deflater::new(agreement.deflate_window_bits)),
        }
    }

    /// Whether no message is half compressed or half inflated and no bytes are held:
    /// the state of an idle connection.
    pub fn is_idle(&self) -> bool {
        self.read.is_idle() && self.write.is_idle()
    }
}

impl Layer for Deflate {
    fn poll_read<S: AsyncRead + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.read.poll_read(inner, cx, buf)
    }

    fn poll_write<S: AsyncWrite + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.write.poll_drain(inner, cx))?;
        self.write.take(buf);
        // Out now if the socket takes it; otherwise on flush.
        if let Poll::Ready(Err(e)) = self.write.poll_drain(inner, cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush<S: AsyncWrite + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        ready!(self.write.poll_drain(inner, cx))?;
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
    inflater: Inflater,
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
    fn new(inflater: Inflater) -> Self {
        Reader {
            at: ReadAt::Header(Box::default()),
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
            && self.inflater.is_idle()
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
                        self.inflater
                            .inflate(&unmasked[..n], &mut self.plain, room)?
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
                        *tail_left -= self.inflater.inflate(tail, &mut self.plain, room)?;
                    } else {
                        self.inflater.inflate(&[], &mut self.plain, room)?;
                        if self.plain.len() == before {
                            self.inflater.end_message();
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
    deflater: Deflater,
    /// Inside a data message: its continuation frames carry no RSV1.
    in_message: bool,
    /// The compressed payload of the frame being written.
    frame: Vec<u8>,
    /// Bytes for the socket.
    out: Vec<u8>,
    out_pos: usize,
}

impl Writer {
    fn new(deflater: Deflater) -> Self {
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
            && self.deflater.is_idle()
            && self.frame.capacity() == 0
            && self.out.capacity() == 0
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
                    self.deflater.compress(&plain[..n], &mut self.frame);
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
        self.deflater.end_frame(&mut self.frame, header.fin);
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
