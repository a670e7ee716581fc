//! [`AnyDecoder`] and [`AnyEncoder`]: a connection's framers behind one type, whatever
//! codec they are, without an indirect call for the built-in framers.

use std::any::Any;
use std::fmt;

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::around;
use super::{
    ChunkFramer, CobsFramer, CobsZpeFramer, ContentLengthFramer, DelimiterFramer, DotFramer,
    IdentityFramer, LengthFramer, LineFramer, NetstringFramer, StuffingFramer,
};
use crate::error::{BoxError, Error};

/// Any receive framer, type-erased: a built-in framer (called directly, through a
/// `match`) or any other tokio-util [`Decoder`] (boxed, one indirect call per frame).
///
/// Errors become the crate's [`Error`] with [`Error::is_framing`] true (I/O errors
/// stay I/O errors); the framer's own error is the cause. Made by [`AnyDecoder::new`],
/// by the `set_recv_framer` methods, and by [`named`](super::named).
///
/// ```
/// use bytes::BytesMut;
/// use tendril_net::framer::{AnyDecoder, LineFramer};
/// use tokio_util::codec::Decoder;
///
/// let mut framer = AnyDecoder::new(LineFramer::new());
/// let mut buf = BytesMut::from("HELO\r\n");
/// assert_eq!(framer.decode(&mut buf).unwrap().unwrap(), "HELO");
/// ```
pub struct AnyDecoder<In = Bytes> {
    repr: DecoderRepr<In>,
}

/// Any send framer, type-erased: see [`AnyDecoder`].
pub struct AnyEncoder<Out = Bytes> {
    repr: EncoderRepr<Out>,
}

enum DecoderRepr<In> {
    /// Only made when `In` is `Bytes`.
    Builtin(Builtin),
    Boxed(Box<dyn Decoder<Item = In, Error = Error> + Send>),
}

enum EncoderRepr<Out> {
    /// Only made when `Out` is `Bytes`.
    Builtin(Builtin),
    Boxed(Box<dyn Encoder<Out, Error = Error> + Send>),
}

/// The built-in framers, called without an indirect call.
enum Builtin {
    Identity(IdentityFramer),
    Chunk(ChunkFramer),
    Line(LineFramer),
    Length(LengthFramer),
    Netstring(NetstringFramer),
    // The larger framers are boxed, so that the common ones keep the enum (held by
    // every connection, twice) small.
    Dot(Box<DotFramer>),
    Cobs(Box<CobsFramer>),
    CobsZpe(Box<CobsZpeFramer>),
    Delimiter(Box<DelimiterFramer>),
    Stuffing(Box<StuffingFramer>),
    ContentLength(Box<ContentLengthFramer>),
}

/// Moves `value` out as a `T` if it is one. The check compares types known at compile
/// time, so it folds away; the `expect`s hold by construction (the slot was filled
/// on the line before and is emptied once).
fn cast<T: 'static, U: 'static>(value: U) -> Result<T, U> {
    let mut slot = Some(value);
    match (&mut slot as &mut dyn Any).downcast_mut::<Option<T>>() {
        Some(cast) => Ok(cast.take().expect("the slot is full")),
        None => Err(slot.expect("the slot is full")),
    }
}

impl Builtin {
    /// `codec` as a built-in framer, if it is one.
    fn of<C: 'static>(codec: C) -> Result<Builtin, C> {
        let codec = match cast(codec) {
            Ok(framer) => return Ok(Builtin::Line(framer)),
            Err(codec) => codec,
        };
        let codec = match cast(codec) {
            Ok(framer) => return Ok(Builtin::Length(framer)),
            Err(codec) => codec,
        };
        let codec = match cast(codec) {
            Ok(framer) => return Ok(Builtin::Identity(framer)),
            Err(codec) => codec,
        };
        let codec = match cast(codec) {
            Ok(framer) => return Ok(Builtin::Chunk(framer)),
            Err(codec) => codec,
        };
        let codec = match cast(codec) {
            Ok(framer) => return Ok(Builtin::Netstring(framer)),
            Err(codec) => codec,
        };
        let codec = match cast(codec) {
            Ok(framer) => return Ok(Builtin::Dot(Box::new(framer))),
            Err(codec) => codec,
        };
        let codec = match cast(codec) {
            Ok(framer) => return Ok(Builtin::Cobs(Box::new(framer))),
            Err(codec) => codec,
        };
        let codec = match cast(codec) {
            Ok(framer) => return Ok(Builtin::CobsZpe(Box::new(framer))),
            Err(codec) => codec,
        };
        let codec = match cast::<DelimiterFramer, _>(codec) {
            Ok(framer) => return Ok(Builtin::Delimiter(Box::new(framer))),
            Err(codec) => codec,
        };
        let codec = match cast::<StuffingFramer, _>(codec) {
            Ok(framer) => return Ok(Builtin::Stuffing(Box::new(framer))),
            Err(codec) => codec,
        };
        match cast::<ContentLengthFramer, _>(codec) {
            Ok(framer) => Ok(Builtin::ContentLength(Box::new(framer))),
            Err(codec) => Err(codec),
        }
    }

    #[inline(always)]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        Ok(match self {
            Builtin::Line(f) => f.decode(src)?,
            Builtin::Length(f) => f.decode(src)?,
            Builtin::Identity(f) => f.decode(src)?,
            Builtin::Chunk(f) => f.decode(src)?,
            Builtin::Netstring(f) => f.decode(src)?,
            Builtin::Dot(f) => f.decode(src)?,
            Builtin::Cobs(f) => f.decode(src)?,
            Builtin::CobsZpe(f) => f.decode(src)?,
            Builtin::Delimiter(f) => f.decode(src)?,
            Builtin::Stuffing(f) => f.decode(src)?,
            Builtin::ContentLength(f) => f.decode(src)?,
        })
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        Ok(match self {
            Builtin::Line(f) => f.decode_eof(src)?,
            Builtin::Length(f) => f.decode_eof(src)?,
            Builtin::Identity(f) => f.decode_eof(src)?,
            Builtin::Chunk(f) => f.decode_eof(src)?,
            Builtin::Netstring(f) => f.decode_eof(src)?,
            Builtin::Dot(f) => f.decode_eof(src)?,
            Builtin::Cobs(f) => f.decode_eof(src)?,
            Builtin::CobsZpe(f) => f.decode_eof(src)?,
            Builtin::Delimiter(f) => f.decode_eof(src)?,
            Builtin::Stuffing(f) => f.decode_eof(src)?,
            Builtin::ContentLength(f) => f.decode_eof(src)?,
        })
    }

    #[inline(always)]
    fn encode(&mut self, frame: &[u8], dst: &mut BytesMut) -> Result<(), Error> {
        match self {
            Builtin::Line(f) => f.encode(frame, dst)?,
            Builtin::Length(f) => f.encode(frame, dst)?,
            Builtin::Identity(f) => f.encode(frame, dst)?,
            Builtin::Chunk(f) => f.encode(frame, dst)?,
            Builtin::Netstring(f) => f.encode(frame, dst)?,
            Builtin::Dot(f) => f.encode(frame, dst)?,
            Builtin::Cobs(f) => f.encode(frame, dst)?,
            Builtin::CobsZpe(f) => f.encode(frame, dst)?,
            Builtin::Delimiter(f) => f.encode(frame, dst)?,
            Builtin::Stuffing(f) => f.encode(frame, dst)?,
            Builtin::ContentLength(f) => f.encode(frame, dst)?,
        }
        Ok(())
    }

    /// For the framers that keep a frame's bytes as they are: its header and trailer
    /// written into `dst`, and where its bytes go between them (see `around`).
    #[inline]
    fn split(&mut self, frame: &[u8], dst: &mut BytesMut) -> Option<Result<usize, Error>> {
        Some(match self {
            Builtin::Line(f) => around::split(f, frame, dst).map_err(Error::from),
            Builtin::Length(f) => around::split(f, frame, dst).map_err(Error::from),
            Builtin::Identity(f) => around::split(f, frame, dst).map_err(Error::from),
            Builtin::Chunk(f) => around::split(f, frame, dst).map_err(Error::from),
            Builtin::Netstring(f) => around::split(f, frame, dst).map_err(Error::from),
            Builtin::Delimiter(f) => around::split(&mut **f, frame, dst).map_err(Error::from),
            Builtin::ContentLength(f) => around::split(&mut **f, frame, dst).map_err(Error::from),
            Builtin::Dot(_) | Builtin::Cobs(_) | Builtin::CobsZpe(_) | Builtin::Stuffing(_) => {
                return None
            }
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Builtin::Line(_) => "LineFramer",
            Builtin::Length(_) => "LengthFramer",
            Builtin::Identity(_) => "IdentityFramer",
            Builtin::Chunk(_) => "ChunkFramer",
            Builtin::Netstring(_) => "NetstringFramer",
            Builtin::Dot(_) => "DotFramer",
            Builtin::Cobs(_) => "CobsFramer",
            Builtin::CobsZpe(_) => "CobsZpeFramer",
            Builtin::Delimiter(_) => "DelimiterFramer",
            Builtin::Stuffing(_) => "StuffingFramer",
            Builtin::ContentLength(_) => "ContentLengthFramer",
        }
    }
}

/// Maps a codec's error type to [`Error`].
struct Erased<C>(C);

impl<D> Decoder for Erased<D>
where
    D: Decoder,
    D::Error: Into<BoxError>,
{
    type Item = D::Item;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<D::Item>, Error> {
        self.0.decode(src).map_err(framing)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<D::Item>, Error> {
        self.0.decode_eof(src).map_err(framing)
    }
}

impl<E, Out> Encoder<Out> for Erased<E>
where
    E: Encoder<Out>,
    E::Error: Into<BoxError>,
{
    type Error = Error;

    fn encode(&mut self, item: Out, dst: &mut BytesMut) -> Result<(), Error> {
        self.0.encode(item, dst).map_err(framing)
    }
}

/// A codec's error as the crate's: I/O errors stay I/O errors, the rest are framing
/// errors with the codec's error as the cause.
fn framing(err: impl Into<BoxError>) -> Error {
    let err = err.into();
    match err.downcast::<Error>() {
        Ok(err) => *err,
        Err(err) => match err.downcast::<std::io::Error>() {
            Ok(io) => Error::from(*io),
            Err(err) => Error::framing(err),
        },
    }
}

impl<In: 'static> AnyDecoder<In> {
    /// Any decoder of `In` frames as an `AnyDecoder` (an `AnyDecoder` is taken as is).
    pub fn new<D>(decoder: D) -> Self
    where
        D: Decoder<Item = In> + Send + 'static,
        D::Error: Into<BoxError>,
    {
        let decoder = match cast::<AnyDecoder<In>, _>(decoder) {
            Ok(any) => return any,
            Err(decoder) => decoder,
        };
        let repr = match Builtin::of(decoder) {
            Ok(builtin) => DecoderRepr::Builtin(builtin),
            Err(decoder) => DecoderRepr::Boxed(Box::new(Erased(decoder))),
        };
        AnyDecoder { repr }
    }
}

impl<In: 'static> AnyDecoder<In> {
    /// The frame an empty datagram is: an empty frame for the identity framer (a
    /// datagram is a frame), none for the others.
    pub(crate) fn empty_datagram_frame(&self) -> Option<In> {
        let DecoderRepr::Builtin(Builtin::Identity(_)) = &self.repr else {
            return None;
        };
        let mut out: Option<In> = None;
        if let Some(slot) = (&mut out as &mut dyn Any).downcast_mut::<Option<Bytes>>() {
            *slot = Some(Bytes::new());
        }
        out
    }
}

impl<Out: 'static> AnyEncoder<Out> {
    /// Any encoder of `Out` frames as an `AnyEncoder` (an `AnyEncoder` is taken as is).
    pub fn new<E>(encoder: E) -> Self
    where
        E: Encoder<Out> + Send + 'static,
        E::Error: Into<BoxError>,
    {
        let encoder = match cast::<AnyEncoder<Out>, _>(encoder) {
            Ok(any) => return any,
            Err(encoder) => encoder,
        };
        // The built-ins encode anything `AsRef<[u8]>`: called directly for `Bytes`.
        let builtin = if std::any::TypeId::of::<Out>() == std::any::TypeId::of::<Bytes>() {
            Builtin::of(encoder)
        } else {
            Err(encoder)
        };
        let repr = match builtin {
            Ok(builtin) => EncoderRepr::Builtin(builtin),
            Err(encoder) => EncoderRepr::Boxed(Box::new(Erased(encoder))),
        };
        AnyEncoder { repr }
    }
}

/// Decodes with a built-in framer straight into `out`, the `Option<In>` of a decoder
/// made for `In = Bytes` (the type check folds away; nothing is moved twice).
#[inline(always)]
fn decode_builtin<In: 'static>(
    framer: &mut Builtin,
    src: &mut BytesMut,
    eof: bool,
) -> Result<Option<In>, Error> {
    let mut out: Option<In> = None;
    if let Some(slot) = (&mut out as &mut dyn Any).downcast_mut::<Option<Bytes>>() {
        *slot = if eof {
            framer.decode_eof(src)?
        } else {
            framer.decode(src)?
        };
    }
    Ok(out)
}

impl<In: 'static> Decoder for AnyDecoder<In> {
    type Item = In;
    type Error = Error;

    #[inline(always)]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, Error> {
        match &mut self.repr {
            DecoderRepr::Builtin(framer) => decode_builtin(framer, src, false),
            DecoderRepr::Boxed(framer) => framer.decode(src),
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<In>, Error> {
        match &mut self.repr {
            DecoderRepr::Builtin(framer) => decode_builtin(framer, src, true),
            DecoderRepr::Boxed(framer) => framer.decode_eof(src),
        }
    }
}

impl<Out: 'static> Encoder<Out> for AnyEncoder<Out> {
    type Error = Error;

    #[inline(always)]
    fn encode(&mut self, frame: Out, dst: &mut BytesMut) -> Result<(), Error> {
        match &mut self.repr {
            // Made only for `Out = Bytes`: the type check folds away.
            EncoderRepr::Builtin(framer) => match (&frame as &dyn Any).downcast_ref::<Bytes>() {
                Some(bytes) => framer.encode(bytes, dst),
                None => Err(Error::framing(
                    "a built-in framer here encodes Bytes frames",
                )),
            },
            EncoderRepr::Boxed(framer) => framer.encode(frame, dst),
        }
    }
}

impl<Out: 'static> AnyEncoder<Out> {
    /// Encodes `frame` into `dst`, except a `Bytes` frame of at least `min` bytes that
    /// a built-in framer sends unchanged between a header and a trailer: those go into
    /// `dst`, and the frame comes back with where in `dst` its bytes go, to be written
    /// from the frame itself (a vectored write) instead of being copied.
    #[inline(always)]
    pub(crate) fn encode_large(
        &mut self,
        frame: Out,
        dst: &mut BytesMut,
        min: usize,
    ) -> Result<Option<(usize, Bytes)>, Error> {
        let EncoderRepr::Builtin(framer) = &mut self.repr else {
            return self.encode(frame, dst).map(|()| None);
        };
        let bytes = match cast::<Bytes, Out>(frame) {
            Ok(bytes) if bytes.len() >= min => bytes,
            Ok(bytes) => return framer.encode(&bytes, dst).map(|()| None),
            Err(frame) => return self.encode(frame, dst).map(|()| None),
        };
        match framer.split(&bytes, dst) {
            Some(at) => Ok(Some((at?, bytes))),
            None => framer.encode(&bytes, dst).map(|()| None),
        }
    }
}

impl<In> fmt::Debug for AnyDecoder<In> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            DecoderRepr::Builtin(framer) => {
                f.debug_tuple("AnyDecoder").field(&framer.name()).finish()
            }
            DecoderRepr::Boxed(_) => f.debug_tuple("AnyDecoder").field(&"boxed").finish(),
        }
    }
}

impl<Out> fmt::Debug for AnyEncoder<Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            EncoderRepr::Builtin(framer) => {
                f.debug_tuple("AnyEncoder").field(&framer.name()).finish()
            }
            EncoderRepr::Boxed(_) => f.debug_tuple("AnyEncoder").field(&"boxed").finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `encode_large` leaves in the buffer, with the frame put back where it
    /// said, is what `encode` writes; and only the framers that rewrite a frame's
    /// bytes copy it.
    #[test]
    fn a_large_frame_passed_through_is_encoded_as_a_copied_one() {
        let frame = Bytes::from(vec![b'x'; 5000]);
        let encoders: Vec<(AnyEncoder, bool)> = vec![
            (AnyEncoder::new(LineFramer::new()), true),
            (AnyEncoder::new(LengthFramer::default()), true),
            (AnyEncoder::new(NetstringFramer::new()), true),
            (AnyEncoder::new(IdentityFramer::new()), true),
            (AnyEncoder::new(ContentLengthFramer::new()), true),
            (AnyEncoder::new(DelimiterFramer::new(b"\r\n\r\n")), true),
            (AnyEncoder::new(CobsFramer::new()), false),
            (AnyEncoder::new(DotFramer::new()), false),
        ];
        for (mut encoder, passes) in encoders {
            let mut copied = BytesMut::new();
            encoder.encode(frame.clone(), &mut copied).unwrap();
            let mut around = BytesMut::from(&b"before"[..]);
            let passed = encoder
                .encode_large(frame.clone(), &mut around, 4096)
                .unwrap();
            assert_eq!(passed.is_some(), passes, "{encoder:?}");
            let mut whole = around.to_vec();
            if let Some((at, bytes)) = passed {
                whole.splice(at..at, bytes.iter().copied());
            }
            assert_eq!(&whole[..6], b"before");
            assert_eq!(&whole[6..], &copied[..], "{encoder:?}");
            // Below the threshold, always copied.
            assert!(encoder
                .encode_large(Bytes::from_static(b"small"), &mut around, 4096)
                .unwrap()
                .is_none());
        }
    }

    #[test]
    fn built_in_framers_are_not_boxed() {
        let decoder = AnyDecoder::new(LineFramer::new());
        assert!(matches!(
            decoder.repr,
            DecoderRepr::Builtin(Builtin::Line(_))
        ));
        let encoder = AnyEncoder::<Bytes>::new(LengthFramer::default());
        assert!(matches!(
            encoder.repr,
            EncoderRepr::Builtin(Builtin::Length(_))
        ));
        // An encoder of another frame type is boxed.
        let encoder = AnyEncoder::<Vec<u8>>::new(LineFramer::new());
        assert!(matches!(encoder.repr, EncoderRepr::Boxed(_)));
        // An AnyDecoder is taken as is, not boxed again.
        let again = AnyDecoder::new(AnyDecoder::new(DotFramer::new()));
        assert!(matches!(again.repr, DecoderRepr::Builtin(Builtin::Dot(_))));
    }

    #[test]
    fn the_enum_stays_small() {
        assert!(
            std::mem::size_of::<Builtin>() <= 64,
            "{}",
            std::mem::size_of::<Builtin>()
        );
    }

    #[test]
    fn io_errors_of_a_user_codec_stay_io_errors() {
        struct Failing;
        impl Decoder for Failing {
            type Item = Bytes;
            type Error = std::io::Error;
            fn decode(&mut self, _: &mut BytesMut) -> Result<Option<Bytes>, std::io::Error> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let mut decoder = AnyDecoder::new(Failing);
        let err = decoder.decode(&mut BytesMut::from("x")).unwrap_err();
        assert!(err.is_io(), "{err:?}");
    }
}
