//! The built-in framers by name, for command-line tools and configuration files.

use super::{
    AnyDecoder, AnyEncoder, ByteOrder, CobsFramer, CobsZpeFramer, ContentLengthFramer,
    DelimiterFramer, DotFramer, IdentityFramer, LengthFramer, LengthPrefix, LineFramer,
    NetstringFramer, StuffingFramer,
};

/// The names [`named`] knows.
pub const NAMES: &[&str] = &[
    "identity",
    "line",
    "line-lf",
    "length-u8",
    "length-u16",
    "length-u32",
    "length-u64",
    "length-u16le",
    "length-u32le",
    "length-i32",
    "stuffing",
    "cobs",
    "cobs-zpe",
    "netstring",
    "nul",
    "dot",
    "content-length",
];

/// A built-in framer by name, with its default settings, as a receive and send pair: `identity`, `line` (CRLF), `line-lf`, `length-u8`, `length-u16`, `length-u32`,
/// `length-u64` (big-endian unsigned), `length-u16le`, `length-u32le`, `length-i32`
/// (signed big-endian), `stuffing` (default markers), `cobs`, `cobs-zpe`, `netstring`,
/// `nul` (NUL-delimited), `dot` (the SMTP `DATA` body) and `content-length` (the LSP
/// base protocol's header).
///
/// ```
/// use tendril_net::framer::named;
///
/// assert!(named("length-u16").is_some());
/// assert!(named("morse").is_none());
/// ```
pub fn named(name: &str) -> Option<(AnyDecoder, AnyEncoder)> {
    use ByteOrder::{BigEndian, LittleEndian};
    let length = |prefix, order| pair(LengthFramer::new(prefix, order));
    Some(match name {
        "identity" => pair(IdentityFramer::new()),
        "line" => pair(LineFramer::new()),
        "line-lf" => pair(LineFramer::lf()),
        "length-u8" => length(LengthPrefix::U8, BigEndian),
        "length-u16" => length(LengthPrefix::U16, BigEndian),
        "length-u32" => length(LengthPrefix::U32, BigEndian),
        "length-u64" => length(LengthPrefix::U64, BigEndian),
        "length-u16le" => length(LengthPrefix::U16, LittleEndian),
        "length-u32le" => length(LengthPrefix::U32, LittleEndian),
        "length-i32" => length(LengthPrefix::I32, BigEndian),
        "stuffing" => pair(StuffingFramer::new()),
        "cobs" => pair(CobsFramer::new()),
        "cobs-zpe" => pair(CobsZpeFramer::new()),
        "netstring" => pair(NetstringFramer::new()),
        "nul" => pair(DelimiterFramer::new(*b"\0")),
        "dot" => pair(DotFramer::new()),
        "content-length" => pair(ContentLengthFramer::new()),
        _ => return None,
    })
}

fn pair<C>(framer: C) -> (AnyDecoder, AnyEncoder)
where
    C: tokio_util::codec::Decoder<Item = bytes::Bytes>
        + tokio_util::codec::Encoder<bytes::Bytes>
        + Clone
        + Send
        + 'static,
    <C as tokio_util::codec::Decoder>::Error: Into<crate::BoxError>,
    <C as tokio_util::codec::Encoder<bytes::Bytes>>::Error: Into<crate::BoxError>,
{
    (AnyDecoder::new(framer.clone()), AnyEncoder::new(framer))
}

#[cfg(test)]
mod tests {
    use super::{named, NAMES};

    #[test]
    fn every_listed_name_is_known() {
        for name in NAMES {
            assert!(named(name).is_some(), "{name}");
        }
    }
}
