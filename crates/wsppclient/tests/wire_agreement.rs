//! The transcript's frame follower against tungstenite's frame decoder, on random
//! frame sequences cut at random points.
//!
//! The follower ([`FrameFollower`]) must report each frame exactly as the WebSocket
//! library at either end reads it, whatever the frame and however the bytes arrive.
//! Each case lays out frames of every opcode (reserved ones too), every RSV
//! combination, masked or not, with empty, short and long payloads and every length
//! encoding (7, 16 and 64 bits, the wider ones also where a narrower would do), cuts
//! the stream at random places, and feeds the pieces to the follower and to
//! tungstenite's `FrameSocket`. Both must read back the frames that were laid out:
//! FIN, RSV, opcode, mask, length and payload.
//!
//! tungstenite refuses a reserved opcode with an error that names it and leaves the
//! header unread; the oracle then reads the same header with a valid opcode in its
//! place, so that it can check the rest of that frame and go on with the next.

use std::collections::VecDeque;
use std::io::{self, Read};

use proptest::prelude::*;
use proptest::sample::Index;
use tokio_tungstenite::tungstenite::error::{Error, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameSocket};
use wsppclient::watch::wire::{FrameFollower, FrameInfo, KEPT_LEN, Opcode};

/// One frame to lay out.
#[derive(Debug, Clone)]
struct Laid {
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload: Vec<u8>,
    /// 0: the shortest length encoding; 1: at least 16 bits; 2: 64 bits.
    width: u8,
}

/// A frame as a decoder read it, the payload unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    len: u64,
    payload: Vec<u8>,
}

impl Laid {
    fn bytes(&self) -> Vec<u8> {
        let shortest = wspp::frame::encode(
            self.fin,
            (self.rsv << 4) | self.opcode,
            self.mask,
            &self.payload,
        );
        let len = self.payload.len() as u64;
        let length_bytes = match shortest[1] & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let rest = &shortest[2 + length_bytes..];
        let mask_bit = shortest[1] & 0x80;
        let mut out = vec![shortest[0]];
        match self.width {
            2 => {
                out.push(mask_bit | 127);
                out.extend(len.to_be_bytes());
            }
            1 if len <= 0xFFFF => {
                out.push(mask_bit | 126);
                out.extend((len as u16).to_be_bytes());
            }
            _ => out.extend_from_slice(&shortest[1..2 + length_bytes]),
        }
        out.extend_from_slice(rest);
        out
    }

    fn as_read(&self) -> Seen {
        Seen {
            fin: self.fin,
            rsv: self.rsv,
            opcode: self.opcode,
            mask: self.mask,
            len: self.payload.len() as u64,
            payload: self.payload.clone(),
        }
    }
}

fn laid() -> impl Strategy<Value = Laid> {
    let payload = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..3),
        4 => prop::collection::vec(any::<u8>(), 0..300),
        1 => (0x1_0000usize..0x1_0100, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ];
    (
        any::<bool>(),
        0u8..8,
        0u8..16,
        proptest::option::of(any::<[u8; 4]>()),
        payload,
        0u8..3,
    )
        .prop_map(|(fin, rsv, opcode, mask, payload, width)| Laid {
            fin,
            rsv,
            opcode,
            mask,
            payload,
            width,
        })
}

/// A reader that hands out the stream in the given pieces, one piece a read at most.
struct Pieces(VecDeque<Vec<u8>>);

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(piece) = self.0.front_mut() else {
            return Ok(0);
        };
        let n = piece.len().min(buf.len());
        buf[..n].copy_from_slice(&piece[..n]);
        piece.drain(..n);
        if piece.is_empty() {
            self.0.pop_front();
        }
        Ok(n)
    }
}

/// `stream` cut before each of `cuts`.
fn cut(stream: &[u8], cuts: &[Index]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(stream.len())).collect();
    at.extend([0, stream.len()]);
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| stream[w[0]..w[1]].to_vec()).collect()
}

/// What tungstenite reads from `pieces`, until the stream ends.
fn tungstenite_reads(pieces: Vec<Vec<u8>>) -> Vec<Seen> {
    let mut socket = FrameSocket::new(Pieces(pieces.into()));
    let mut frames = Vec::new();
    loop {
        match socket.read(None) {
            Ok(Some(frame)) => frames.push(seen(&frame, frame.header().opcode.into())),
            Ok(None) => return frames,
            Err(Error::Protocol(ProtocolError::InvalidOpcode(opcode))) => {
                // The header is still in the buffer: read it with a valid opcode.
                let (rest, mut buffered) = socket.into_inner();
                buffered[0] = (buffered[0] & 0xF0) | 0x2;
                socket = FrameSocket::from_partially_read(rest, buffered.to_vec());
                let Ok(Some(frame)) = socket.read(None) else {
                    panic!("tungstenite reads the frame once its opcode is valid");
                };
                frames.push(seen(&frame, opcode));
            }
            Err(other) => panic!("tungstenite refused the stream: {other}"),
        }
    }
}

/// `frame` as tungstenite read it, with `opcode`.
fn seen(frame: &Frame, opcode: u8) -> Seen {
    let header = frame.header();
    Seen {
        fin: header.is_final,
        rsv: (u8::from(header.rsv1) << 2) | (u8::from(header.rsv2) << 1) | u8::from(header.rsv3),
        opcode,
        mask: header.mask,
        len: frame.payload().len() as u64,
        payload: unmask(frame.payload(), header.mask),
    }
}

fn unmask(payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let key = mask.unwrap_or([0; 4]);
    payload
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ key[i % 4])
        .collect()
}

/// What the follower reads from `pieces`, checked to end where the stream ends.
fn follower_reads(pieces: &[Vec<u8>]) -> Vec<FrameInfo> {
    let mut follower = FrameFollower::new();
    let frames = pieces.iter().flat_map(|p| follower.feed(p)).collect();
    assert!(follower.at_boundary(), "the follower ended inside a frame");
    assert_eq!(follower.finish(), None);
    frames
}

/// The opcode's four bits, as the follower names them.
fn bits(opcode: Opcode) -> u8 {
    match opcode {
        Opcode::Continuation => 0x0,
        Opcode::Text => 0x1,
        Opcode::Binary => 0x2,
        Opcode::Close => 0x8,
        Opcode::Ping => 0x9,
        Opcode::Pong => 0xA,
        Opcode::Reserved(bits) => bits,
    }
}

proptest! {
    #[test]
    fn the_follower_reads_every_frame_as_tungstenite_does(
        frames in prop::collection::vec(laid(), 1..8),
        cuts in prop::collection::vec(any::<Index>(), 0..24),
    ) {
        let stream: Vec<u8> = frames.iter().flat_map(Laid::bytes).collect();
        let pieces = cut(&stream, &cuts);
        let laid: Vec<Seen> = frames.iter().map(Laid::as_read).collect();

        let theirs = tungstenite_reads(pieces.clone());
        prop_assert_eq!(&theirs, &laid, "tungstenite reads back what was laid out");

        let ours = follower_reads(&pieces);
        prop_assert_eq!(ours.len(), theirs.len());
        for (i, (ours, theirs)) in ours.iter().zip(&theirs).enumerate() {
            let keep = if theirs.opcode >= 0x8 { 125 } else { KEPT_LEN };
            let kept = &theirs.payload[..theirs.payload.len().min(keep)];
            prop_assert_eq!(
                (ours.fin, ours.rsv, bits(ours.opcode), ours.masked, ours.len),
                (theirs.fin, theirs.rsv, theirs.opcode, theirs.mask.is_some(), theirs.len),
                "frame {}", i
            );
            prop_assert_eq!(ours.preview.as_slice(), kept, "frame {}'s payload", i);
        }
    }
}
