//! A log's histogram checked before hdrhistogram reads it.
//!
//! An interval's histogram comes from another generator's file, so it is a peer's
//! bytes, and hdrhistogram's V2 reader trusts two of them: the payload length in the
//! header, which it allocates before reading (a 100-byte log could ask for 4 GiB),
//! and each run of zero counts, which it negates (a run of `i64::MIN` overflows).
//! Both are checked here, on the inflated bytes, which are then handed over as the
//! uncompressed V2 form hdrhistogram reads without inflating them again. The format:
//! a cookie and the compressed length, then zlib; inside, a cookie, a 36-byte
//! header whose first field is the counts' length, then the counts as zigzag LEB128
//! varints (a negative one is a run of zeros), the ninth byte of a varint carrying
//! eight bits.

use std::io::Read;

use flate2::read::ZlibDecoder;

/// The V2 cookies hdrhistogram writes for `u64` counts: plain, and deflated.
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_DEFLATED_COOKIE: u32 = 0x1c84_9314;
/// The plain form's cookie and header, before the counts.
const V2_HEAD: usize = 40;
/// The most bytes of counts an interval may hold. A one-hour, three-digit histogram's
/// counts take under 24,000 varints, at most 9 bytes each; 16 MiB leaves room for
/// logs of finer histograms while a crafted header cannot ask for more.
const MAX_COUNTS: u64 = 16 << 20;

/// A big-endian `u32` at `at`, if the bytes reach that far.
fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(field.try_into().ok()?))
}

/// The plain V2 serialization of the deflated one in `encoded` (one interval's
/// histogram, base64 already undone), once its lengths and counts are known to be
/// safe to read.
pub fn checked(encoded: &[u8]) -> Result<Vec<u8>, String> {
    // A compressed length past the bytes is read as far as they go, as hdrhistogram
    // reads it: zlib's own end decides.
    let deflated = match (u32_at(encoded, 0), u32_at(encoded, 4)) {
        (Some(V2_DEFLATED_COOKIE), Some(length)) => {
            let rest = &encoded[8..];
            &rest[..usize::try_from(length).map_or(rest.len(), |l| l.min(rest.len()))]
        }
        _ => return Err("it is not a compressed V2 histogram".into()),
    };
    // Read as hdrhistogram reads it: the header, then as many bytes as it says, so a
    // stream that goes on (or breaks off) after them is no concern of either.
    let mut zlib = ZlibDecoder::new(deflated);
    let mut plain = vec![0; V2_HEAD];
    zlib.read_exact(&mut plain)
        .map_err(|e| format!("it does not inflate to a V2 header: {e}"))?;
    if u32_at(&plain, 0) != Some(V2_COOKIE) {
        return Err("its inflated header is not a V2 histogram's".into());
    }
    let length = u32_at(&plain, 4).map_or(0, u64::from);
    if length > MAX_COUNTS {
        return Err(format!("its header asks for {length} bytes of counts"));
    }
    zlib.take(length)
        .read_to_end(&mut plain)
        .map_err(|e| format!("its counts do not inflate: {e}"))?;
    let counts = &plain[V2_HEAD..];
    if counts.len() as u64 != length {
        return Err("its counts are shorter than its header says".into());
    }
    check_counts(counts)?;
    Ok(plain)
}

/// Refuses counts that end inside a varint or hold a run of zeros whose length
/// cannot be negated.
fn check_counts(mut counts: &[u8]) -> Result<(), String> {
    while !counts.is_empty() {
        let mut value = 0u64;
        let mut read = 0;
        for (i, &byte) in counts.iter().take(9).enumerate() {
            read = i + 1;
            if i == 8 {
                value |= u64::from(byte) << 56;
                break;
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                break;
            }
        }
        let last = counts[read - 1];
        if read < 9 && last & 0x80 != 0 {
            return Err("its counts end inside a number".into());
        }
        // Zigzag's all-ones is i64::MIN: a run of zeros of that length.
        if value == u64::MAX {
            return Err("a run of zero counts is out of range".into());
        }
        counts = &counts[read..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use flate2::Compression;
    use flate2::write::ZlibEncoder;
    use std::io::Write;

    /// A deflated V2 histogram around `counts`, with `length` as its header's
    /// counts length.
    fn deflated(counts: &[u8], length: u32) -> Vec<u8> {
        let mut plain = V2_COOKIE.to_be_bytes().to_vec();
        plain.extend(length.to_be_bytes());
        plain.extend(0u32.to_be_bytes());
        plain.extend(3u32.to_be_bytes());
        plain.extend(1u64.to_be_bytes());
        plain.extend(3_600_000_000u64.to_be_bytes());
        plain.extend(1f64.to_be_bytes());
        plain.extend(counts);
        let mut zlib = ZlibEncoder::new(Vec::new(), Compression::fast());
        zlib.write_all(&plain).expect("in memory");
        let zlib = zlib.finish().expect("in memory");
        let mut out = V2_DEFLATED_COOKIE.to_be_bytes().to_vec();
        out.extend(u32::try_from(zlib.len()).expect("small").to_be_bytes());
        out.extend(zlib);
        out
    }

    #[test]
    fn a_histogram_hdrhistogram_wrote_passes_unchanged() {
        use hdrhistogram::Histogram;
        use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        for us in [40, 50, 60, 3000] {
            h.record(us).expect("in range");
        }
        let mut encoded = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&h, &mut encoded)
            .expect("in memory");
        let plain = checked(&encoded).expect("a real histogram");
        let back: Histogram<u64> = Deserializer::new()
            .deserialize(&mut plain.as_slice())
            .expect("readable");
        assert_eq!(back, h);
    }

    #[test]
    fn a_run_of_i64_min_zeros_is_refused() {
        let run = [0xff; 9];
        let refused = checked(&deflated(&run, 9)).expect_err("out of range");
        assert!(refused.contains("out of range"), "{refused}");
        // A run two shorter is one hdrhistogram can negate: it reads as empty.
        let mut long = [0xff; 9];
        long[0] = 0xfb;
        let plain = checked(&deflated(&long, 9)).expect("a run it can skip");
        let read: hdrhistogram::Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
            .deserialize(&mut plain.as_slice())
            .expect("readable");
        assert_eq!(read.len(), 0);
    }

    #[test]
    fn a_header_asking_for_more_than_it_holds_is_refused() {
        let refused = checked(&deflated(&[2, 4], u32::MAX)).expect_err("too much");
        assert!(refused.contains("asks for"), "{refused}");
        let refused = checked(&deflated(&[2, 4], 1000)).expect_err("lies");
        assert!(refused.contains("shorter than"), "{refused}");
        let refused = checked(&deflated(&[2, 0x80], 2)).expect_err("cut short");
        assert!(refused.contains("inside a number"), "{refused}");
    }

    #[test]
    fn cut_short_or_not_a_histogram_is_refused() {
        let encoded = deflated(&[2], 1);
        let refused = checked(&encoded[..12]).expect_err("short");
        assert!(refused.contains("V2 header"), "{refused}");
        assert!(checked(b"").is_err());
        assert!(checked(&[0x1c, 0x84, 0x93, 0x14]).is_err());
    }
}
