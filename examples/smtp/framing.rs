//! What the SMTP server reads: command lines, or a message body after `DATA`, with
//! over-long input reported as a frame of its own so the session can answer it and go
//! on (the framers' errors would otherwise close the connection).

use bytes::{Bytes, BytesMut};
use tendril_net::framer::{DotError, DotFramer, LineError, LineFramer};
use tokio_util::codec::Decoder;

/// Longest command line, without its CRLF (RFC 5321 §4.5.3.1.4 says 512 with the CRLF
/// for the base protocol; extensions' parameters need more).
pub const MAX_COMMAND_LINE: usize = 1000;

/// One inbound frame.
#[derive(Debug)]
pub enum Inbound {
    /// A command line, without its line ending.
    Line(Bytes),
    /// A command line over [`MAX_COMMAND_LINE`], skipped.
    LineTooLong,
    /// A message body, dot-unstuffed, ending with its last CRLF.
    Body(Bytes),
    /// A body over the size limit, read to its end and dropped.
    BodyTooLarge,
}

/// Command lines.
pub struct Commands(LineFramer);

impl Commands {
    pub fn new() -> Self {
        Commands(
            LineFramer::new()
                .max_frame_length(MAX_COMMAND_LINE)
                .discard_too_long(true),
        )
    }
}

impl Decoder for Commands {
    type Item = Inbound;
    type Error = LineError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, LineError> {
        match self.0.decode(src) {
            Ok(line) => Ok(line.map(Inbound::Line)),
            Err(LineError::TooLong { .. }) => Ok(Some(Inbound::LineTooLong)),
            Err(err) => Err(err),
        }
    }
}

/// A message body after `DATA`, up to `max` bytes.
pub struct Body(DotFramer);

impl Body {
    pub fn new(max: usize) -> Self {
        Body(
            DotFramer::new()
                .max_frame_length(max)
                .discard_too_long(true),
        )
    }
}

impl Decoder for Body {
    type Item = Inbound;
    type Error = DotError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, DotError> {
        match self.0.decode(src) {
            Ok(body) => Ok(body.map(Inbound::Body)),
            Err(DotError::TooLong { .. }) => Ok(Some(Inbound::BodyTooLarge)),
            Err(err) => Err(err),
        }
    }
}
