//! The bytes of one WebSocket frame, laid out by hand as RFC 6455 (5.2) draws them.
//!
//! A WebSocket library only writes frames it considers valid. Tests of a parser, of the
//! server's refusals and of a wire tap need the others too (wrong opcodes, missing
//! masks, a fragment where none may be), and the exact bytes of valid ones; this is
//! the one place that lays them out.

/// One frame: FIN bit, `opcode` (reserved bits as given in its high nibble), the
/// shortest length encoding for `payload`, and the payload masked with `mask` if there
/// is one (as a client must) or as it is (as a server must).
pub fn encode(fin: bool, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(14 + payload.len());
    out.push((u8::from(fin) << 7) | opcode);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_take_the_shortest_encoding() {
        assert_eq!(encode(true, 0x9, None, b"hi"), [0x89, 2, b'h', b'i']);
        let medium = encode(false, 0x2, None, &[0; 126]);
        assert_eq!(medium[..4], [0x02, 126, 0, 126]);
        let long = encode(true, 0x2, None, &[0; 0x1_0000]);
        assert_eq!(long[..10], [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(long.len(), 10 + 0x1_0000);
    }

    #[test]
    fn a_mask_is_written_and_applied() {
        let key = [1, 2, 3, 4];
        assert_eq!(
            encode(true, 0x1, Some(key), b"abcde"),
            [
                0x81,
                0x85,
                1,
                2,
                3,
                4,
                b'a' ^ 1,
                b'b' ^ 2,
                b'c' ^ 3,
                b'd' ^ 4,
                b'e' ^ 1
            ]
        );
    }
}
