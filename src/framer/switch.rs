//! The receive/send framer pair that can be swapped at a frame boundary.

use std::fmt;

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::{AnyDecoder, AnyEncoder, IdentityFramer};
use crate::error::{BoxError, Error};

/// A receive framer and a send framer, each replaceable at a frame boundary.
///
/// A connection decodes with one framer and encodes with another, and either may be
/// swapped between frames: an SMTP server reads command lines, switches the receive
/// side to the [`DotFramer`](super::DotFramer) after `DATA`, and switches back after
/// the body, while it keeps sending reply lines. [`FramerSwitch`] is that pair. It is a
/// codec itself, so it sits inside a [`Framed`](tokio_util::codec::Framed) and a switch
/// keeps the read buffer: bytes already received but not yet decoded are decoded by
/// the new framer, and nothing is reallocated.
///
/// Each side is an [`AnyDecoder`] or [`AnyEncoder`]: the built-in framers are called
/// directly (a `match`, no indirect call), any other tokio-util codec is boxed, with
/// any frame type (the built-in framers decode to [`Bytes`](bytes::Bytes), a user codec
/// may decode to a parsed message). Errors become the crate's [`Error`] with
/// [`Error::is_framing`] true; the framer's own error is the cause.
///
/// ```
/// use bytes::BytesMut;
/// use tendril_net::framer::{DotFramer, FramerSwitch, LineFramer};
/// use tokio_util::codec::Decoder;
///
/// let mut framers = FramerSwitch::symmetric(LineFramer::new());
/// // The command and the whole body arrived in one read.
/// let mut buf = BytesMut::from("DATA\r\nHi\r\n.\r\nQUIT\r\n");
/// assert_eq!(framers.decode(&mut buf).unwrap().unwrap(), "DATA");
/// framers.set_recv_framer(DotFramer::new());
/// assert_eq!(framers.decode(&mut buf).unwrap().unwrap(), "Hi\r\n");
/// framers.set_recv_framer(LineFramer::new());
/// assert_eq!(framers.decode(&mut buf).unwrap().unwrap(), "QUIT");
/// ```
pub struct FramerSwitch<In = Bytes, Out = Bytes> {
    recv: AnyDecoder<In>,
    send: AnyEncoder<Out>,
}

impl FramerSwitch {
    /// A pair of [`Bytes`] framers decoding with `recv` and encoding with `send`.
    pub fn new<D, E>(recv: D, send: E) -> Self
    where
        D: Decoder<Item = Bytes> + Send + 'static,
        D::Error: Into<BoxError>,
        E: Encoder<Bytes> + Send + 'static,
        E::Error: Into<BoxError>,
    {
        FramerSwitch::with_framers(recv, send)
    }

    /// A pair using clones of one [`Bytes`] framer in both directions.
    pub fn symmetric<C>(framer: C) -> Self
    where
        C: Decoder<Item = Bytes> + Encoder<Bytes> + Clone + Send + 'static,
        <C as Decoder>::Error: Into<BoxError>,
        <C as Encoder<Bytes>>::Error: Into<BoxError>,
    {
        FramerSwitch::with_framers(framer.clone(), framer)
    }
}

impl<In: 'static, Out: 'static> FramerSwitch<In, Out> {
    /// A pair decoding with `recv` and encoding with `send`, for any frame types (a
    /// user codec may decode to a parsed message).
    pub fn with_framers<D, E>(recv: D, send: E) -> Self
    where
        D: Decoder<Item = In> + Send + 'static,
        D::Error: Into<BoxError>,
        E: Encoder<Out> + Send + 'static,
        E::Error: Into<BoxError>,
    {
        FramerSwitch {
            recv: AnyDecoder::new(recv),
            send: AnyEncoder::new(send),
        }
    }

    /// Replaces the receive framer. The next decode, including of bytes already
    /// buffered, uses `recv`.
    pub fn set_recv_framer<D>(&mut self, recv: D)
    where
        D: Decoder<Item = In> + Send + 'static,
        D::Error: Into<BoxError>,
    {
        self.recv = AnyDecoder::new(recv);
    }

    /// Replaces the send framer; the next frame is encoded with `send`.
    pub fn set_send_framer<E>(&mut self, send: E)
    where
        E: Encoder<Out> + Send + 'static,
        E::Error: Into<BoxError>,
    {
        self.send = AnyEncoder::new(send);
    }

    /// Replaces both framers.
    pub fn set_framers<D, E>(&mut self, recv: D, send: E)
    where
        D: Decoder<Item = In> + Send + 'static,
        D::Error: Into<BoxError>,
        E: Encoder<Out> + Send + 'static,
        E::Error: Into<BoxError>,
    {
        self.set_recv_framer(recv);
        self.set_send_framer(send);
    }

    /// The receive framer.
    pub fn recv_framer(&self) -> &AnyDecoder<In> {
        &self.recv
    }
}

impl Default for FramerSwitch {
    /// The identity framer in both directions.
    fn default() -> Self {
        FramerSwitch::symmetric(IdentityFramer::new())
    }
}

impl<In, Out> fmt::Debug for FramerSwitch<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FramerSwitch").finish_non_exhaustive()
    }
}

impl<In: 'static, Out> Decoder for FramerSwitch<In, Out> {
    type Item = In;
    type Error = Error;

    #[inline(always)]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, Error> {
        self.recv.decode(src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<In>, Error> {
        self.recv.decode_eof(src)
    }
}

impl<In, Out: 'static> FramerSwitch<In, Out> {
    /// Encodes `frame` with the send framer, passing a large `Bytes` frame through
    /// rather than copying it (see [`AnyEncoder::encode_large`]).
    #[inline(always)]
    pub(crate) fn encode_large(
        &mut self,
        frame: Out,
        dst: &mut BytesMut,
        min: usize,
    ) -> Result<Option<(usize, Bytes)>, Error> {
        self.send.encode_large(frame, dst, min)
    }
}

impl<In, Out: 'static> Encoder<Out> for FramerSwitch<In, Out> {
    type Error = Error;

    #[inline(always)]
    fn encode(&mut self, item: Out, dst: &mut BytesMut) -> Result<(), Error> {
        self.send.encode(item, dst)
    }
}
