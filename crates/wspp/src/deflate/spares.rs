//! Compressors and decompressors between messages, kept for the next message of any
//! connection in the process instead of being freed.
//!
//! Each message needs a compressor (about 300 KiB with a 32 KiB window) or a
//! decompressor (about 40 KiB), and no connection keeps one between its messages. Made
//! and freed per message, they were a few hundred KiB through `malloc` and `free` for
//! every echo, and glibc keeps freed blocks that size in its heap: the small
//! allocations of connections opened meanwhile land in the freed space, the next
//! compressor no longer fits there, and the heap grows. Measured with 300 connections
//! that each sent one message, the server's resident memory grew by 48 KiB per idle
//! connection instead of 4.5 KiB (docs/benchmarks.md, section 17). Taken from here and
//! given back reset, the same few states serve every message: what the process holds
//! for compression is bounded by [`MAX_SPARES`] states of each kind, whatever the
//! number of connections, and no message pays for allocating and zeroing its state.
//!
//! A state comes back from `reset`, which zlib defines as equal to a fresh one with
//! the same settings, so no message can see another's data.

use std::sync::Mutex;

use flate2::{Compress, Compression, Decompress};

/// The most spare states of each kind kept. Messages are compressed and inflated
/// within one poll of their connection, so as many are in use at once as threads poll
/// connections; more than that are freed when given back.
const MAX_SPARES: usize = 4;

/// The spare states, each compressor with the window it was made for. Boxed as the
/// codec holds them, so that they move between the two without being boxed again.
struct Spares {
    deflaters: Vec<(u8, Box<Compress>)>,
    #[allow(clippy::vec_box)]
    inflaters: Vec<Box<Decompress>>,
}

/// A `std` mutex, held only to push or pop: never across an await or a
/// (de)compression.
static SPARES: Mutex<Spares> = Mutex::new(Spares {
    deflaters: Vec::new(),
    inflaters: Vec::new(),
});

/// A compressor for raw DEFLATE with a window of at most `2^window_bits` bytes (8 to
/// 15): a spare one if there is one.
pub fn deflater(window_bits: u8) -> Box<Compress> {
    let spare = SPARES.lock().ok().and_then(|mut spares| {
        let at = spares
            .deflaters
            .iter()
            .position(|(b, _)| *b == window_bits)?;
        Some(spares.deflaters.swap_remove(at).1)
    });
    spare.unwrap_or_else(|| {
        Box::new(if window_bits < 9 {
            // zlib cannot compress with a 256-byte window; stored blocks refer to
            // nothing, so they fit any window.
            Compress::new_with_window_bits(Compression::none(), false, 9)
        } else {
            // The fastest level: wspp measures round trips, and a message that
            // waits on its compressor adds that wait to its RTT.
            Compress::new_with_window_bits(Compression::fast(), false, window_bits)
        })
    })
}

/// A decompressor for raw DEFLATE with any window: a spare one if there is one.
pub fn inflater() -> Box<Decompress> {
    let spare = SPARES
        .lock()
        .ok()
        .and_then(|mut spares| spares.inflaters.pop());
    spare.unwrap_or_else(|| Box::new(Decompress::new_with_window_bits(false, 15)))
}

/// Gives back a compressor made by [`deflater`] for `window_bits`, whatever it was in
/// the middle of.
pub fn give_back_deflater(window_bits: u8, mut state: Box<Compress>) {
    state.reset();
    if let Ok(mut spares) = SPARES.lock()
        && spares.deflaters.len() < MAX_SPARES
    {
        spares.deflaters.push((window_bits, state));
    }
}

/// Gives back a decompressor made by [`inflater`], whatever it was in the middle of.
pub fn give_back_inflater(mut state: Box<Decompress>) {
    state.reset(false);
    if let Ok(mut spares) = SPARES.lock()
        && spares.inflaters.len() < MAX_SPARES
    {
        spares.inflaters.push(state);
    }
}

#[cfg(test)]
mod tests {
    use flate2::{FlushCompress, FlushDecompress};

    use super::*;

    #[test]
    fn a_state_given_back_in_the_middle_of_a_stream_starts_afresh() {
        let text = b"the same text, compressed by a fresh state and by a reused one";
        let fresh = {
            let mut state = Compress::new_with_window_bits(Compression::fast(), false, 12);
            let mut out = Vec::with_capacity(256);
            let _ = state.compress_vec(text, &mut out, FlushCompress::Sync);
            out
        };
        // Left with input taken and nothing flushed, as a connection dropped in the
        // middle of a message leaves it.
        let mut half_done = deflater(12);
        let mut out = Vec::with_capacity(256);
        let _ = half_done.compress_vec(b"something else first", &mut out, FlushCompress::None);
        give_back_deflater(12, half_done);
        let mut reused = deflater(12);
        out.clear();
        let _ = reused.compress_vec(text, &mut out, FlushCompress::Sync);
        assert_eq!(out, fresh);
        give_back_deflater(12, reused);

        let mut half_done = inflater();
        let mut plain = Vec::with_capacity(256);
        let _ = half_done.decompress_vec(&fresh[..5], &mut plain, FlushDecompress::Sync);
        give_back_inflater(half_done);
        let mut reused = inflater();
        plain.clear();
        let _ = reused.decompress_vec(&fresh, &mut plain, FlushDecompress::Sync);
        assert_eq!(plain, text);
        give_back_inflater(reused);
    }
}
