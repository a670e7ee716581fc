//! The session's records: rustls's unbuffered connection driven over the buffers this
//! crate owns ([`Buffers`]), for [`TlsStream`](super::TlsStream) to read and write
//! through. Each buffer is empty (no allocation) while it has nothing.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BytesMut};
use rustls::client::{ClientConnectionData, UnbufferedClientConnection};
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncodeTlsData, EncryptError, InsufficientSizeError,
    UnbufferedStatus,
};
use rustls::CommonState;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::io::poll_read_buf;

use crate::pool;

/// The most ciphertext waiting to be processed: a handshake message rustls accepts
/// (64 KiB) and a record beyond it. A peer that sends more without completing one is
/// refused.
const MAX_INCOMING: usize = 64 * 1024 + MAX_RECORD;

/// The largest TLS record on the wire (16 KiB of payload, 256 bytes of expansion, the
/// 5-byte header): what a read must have room for.
const MAX_RECORD: usize = 16 * 1024 + 256 + 5;

/// The least room a read into a partly filled buffer is given.
const MIN_READ: usize = 4 * 1024;

/// The most plaintext one write takes: encrypted at once, and sent before the next
/// write is taken.
pub(super) const MAX_WRITE: usize = pool::WRITE_CHUNK;

/// The two sides of rustls's unbuffered connection.
pub(super) enum Session {
    Server(Box<UnbufferedServerConnection>),
    Client(Box<UnbufferedClientConnection>),
}

/// What the session holds between calls: each buffer is empty (no allocation) while
/// it has nothing.
#[derive(Default)]
pub(super) struct Buffers {
    /// Ciphertext read and not yet processed (a pooled read chunk).
    pub(super) incoming: BytesMut,
    /// Plaintext decrypted and not yet read.
    pub(super) plaintext: BytesMut,
    /// Ciphertext to send; its first `sent` bytes are sent.
    pub(super) outgoing: Vec<u8>,
    pub(super) sent: usize,
    /// The peer's close_notify came: reads end once `plaintext` is drained.
    pub(super) peer_closed: bool,
    /// The transport ended.
    pub(super) eof: bool,
    /// Our close_notify is queued: nothing more may be written.
    pub(super) closing: bool,
    /// The session failed: rustls is not called again (its state refers to input
    /// that is gone).
    pub(super) failed: bool,
}

/// What one run of the session reached.
pub(super) enum Outcome {
    /// The handshake needs more from the peer.
    Blocked,
    /// Everything received is processed; application data may be written.
    Open,
    /// Plaintext went into the read buffer.
    Read,
    /// `Write::Data` was encrypted into `outgoing` (or close_notify queued).
    Wrote,
    /// Both sides sent close_notify.
    Closed,
}

/// What a run should write when the session lets it.
#[derive(Clone, Copy)]
pub(super) enum Write<'a> {
    Nothing,
    Data(&'a [u8]),
    CloseNotify,
}

/// One side's records, for the code both share.
trait Side {
    type Data;
    fn common(&self) -> &CommonState;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data>;
}

/// `Side` for one of rustls's two unbuffered connections (the same inherent methods
/// on each).
macro_rules! side {
    ($connection:ty, $data:ty) => {
        impl Side for $connection {
            type Data = $data;
            fn common(&self) -> &CommonState {
                self
            }
            fn process<'c, 'i>(
                &'c mut self,
                incoming: &'i mut [u8],
            ) -> UnbufferedStatus<'c, 'i, Self::Data> {
                self.process_tls_records(incoming)
            }
        }
    };
}

side!(UnbufferedServerConnection, ServerConnectionData);
side!(UnbufferedClientConnection, ClientConnectionData);

impl Session {
    pub(super) fn common(&self) -> &CommonState {
        match self {
            Session::Server(conn) => conn.as_ref().common(),
            Session::Client(conn) => conn.as_ref().common(),
        }
    }

    pub(super) fn run(
        &mut self,
        buffers: &mut Buffers,
        read: Option<&mut ReadBuf<'_>>,
        write: Write<'_>,
    ) -> io::Result<Outcome> {
        match self {
            Session::Server(conn) => run(&mut **conn, buffers, read, write),
            Session::Client(conn) => run(&mut **conn, buffers, read, write),
        }
    }
}

/// Drives the session over `buffers.incoming` until it needs input, delivered
/// plaintext into `read`, or took `write`. Handshake and alert records it emits are
/// appended to `outgoing`; plaintext that does not fit `read` (or comes while writing)
/// waits in `plaintext`.
fn run<S: Side>(
    conn: &mut S,
    buffers: &mut Buffers,
    mut read: Option<&mut ReadBuf<'_>>,
    write: Write<'_>,
) -> io::Result<Outcome> {
    loop {
        let UnbufferedStatus { mut discard, state } = conn.process(&mut buffers.incoming[..]);
        let outcome = match state {
            Err(error) => {
                buffers.incoming.advance(discard);
                queue_alert(conn, buffers);
                // The session is over: nothing received is read again.
                buffers.incoming.clear();
                return Err(invalid(error));
            }
            Ok(ConnectionState::ReadTraffic(mut records)) => {
                let mut delivered = false;
                loop {
                    let room = read.as_ref().map_or(0, |buf| buf.remaining());
                    if delivered && records.peek_len().is_some_and(|len| len.get() > room) {
                        // The rest waits in rustls for the next read.
                        break;
                    }
                    let Some(record) = records.next_record() else {
                        break;
                    };
                    let record = record.map_err(invalid)?;
                    discard += record.discard;
                    let here = record.payload.len().min(room);
                    if let Some(buf) = read.as_deref_mut() {
                        buf.put_slice(&record.payload[..here]);
                        delivered |= here > 0;
                    }
                    buffers.plaintext.extend_from_slice(&record.payload[here..]);
                    if read.is_some() && !buffers.plaintext.is_empty() {
                        delivered = true;
                        break;
                    }
                }
                delivered.then_some(Outcome::Read)
            }
            Ok(ConnectionState::EncodeTlsData(mut record)) => {
                encode(&mut record, &mut buffers.outgoing)?;
                None
            }
            // Queued in `outgoing`, in order: sent before anything written after it.
            Ok(ConnectionState::TransmitTlsData(transmit)) => {
                transmit.done();
                None
            }
            Ok(ConnectionState::BlockedHandshake) => Some(Outcome::Blocked),
            Ok(ConnectionState::WriteTraffic(mut traffic)) => match write {
                Write::Nothing => Some(Outcome::Open),
                Write::Data(data) => {
                    let guess = data.len() + (data.len() / (16 * 1024) + 1) * 64;
                    append(&mut buffers.outgoing, guess, |out| {
                        traffic.encrypt(data, out).map_err(encrypt_short)
                    })?;
                    Some(Outcome::Wrote)
                }
                Write::CloseNotify => {
                    append(&mut buffers.outgoing, 64, |out| {
                        traffic.queue_close_notify(out).map_err(encrypt_short)
                    })?;
                    Some(Outcome::Wrote)
                }
            },
            Ok(ConnectionState::PeerClosed) => {
                buffers.peer_closed = true;
                None
            }
            Ok(ConnectionState::Closed) => {
                buffers.peer_closed = true;
                Some(Outcome::Closed)
            }
            Ok(ConnectionState::ReadEarlyData(_)) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "TLS early data is not accepted",
                ));
            }
            Ok(other) => {
                return Err(io::Error::other(format!("TLS state {other:?} not handled")));
            }
        };
        buffers.incoming.advance(discard);
        if let Some(outcome) = outcome {
            return Ok(outcome);
        }
    }
}

/// A rustls failure as the I/O error it ends the stream with.
pub(super) fn invalid(error: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

/// After a failure, the alert rustls queued for the peer goes into `outgoing` (sent if
/// the socket takes it; the failure is returned either way).
fn queue_alert<S: Side>(conn: &mut S, buffers: &mut Buffers) {
    // Only while rustls holds records to send: a call past them would process the
    // failed input again.
    while conn.common().wants_write() {
        let status = conn.process(&mut buffers.incoming[..]);
        let Ok(ConnectionState::EncodeTlsData(mut record)) = status.state else {
            return;
        };
        if encode(&mut record, &mut buffers.outgoing).is_err() {
            return;
        }
    }
}

/// Why rustls could not write into the room it was given.
enum Short {
    Needs(usize),
    Failed(String),
}

/// Appends a handshake or alert record to `out`.
fn encode<D>(record: &mut EncodeTlsData<'_, D>, out: &mut Vec<u8>) -> io::Result<()> {
    append(out, 1024, |room| {
        record.encode(room).map_err(|error| match error {
            EncodeError::InsufficientSize(InsufficientSizeError { required_size }) => {
                Short::Needs(required_size)
            }
            other => Short::Failed(other.to_string()),
        })
    })
}

fn encrypt_short(error: EncryptError) -> Short {
    match error {
        EncryptError::InsufficientSize(InsufficientSizeError { required_size }) => {
            Short::Needs(required_size)
        }
        other => Short::Failed(other.to_string()),
    }
}

/// Appends what `fill` writes to `out`, offering `guess` bytes of room first and what
/// it says it needs next.
fn append(
    out: &mut Vec<u8>,
    guess: usize,
    mut fill: impl FnMut(&mut [u8]) -> Result<usize, Short>,
) -> io::Result<()> {
    let len = out.len();
    let mut room = guess;
    for _ in 0..2 {
        out.resize(len + room, 0);
        match fill(&mut out[len..]) {
            Ok(written) => {
                out.truncate(len + written);
                return Ok(());
            }
            Err(Short::Needs(needed)) if needed > room => room = needed,
            Err(Short::Needs(needed)) => {
                out.truncate(len);
                return Err(io::Error::other(format!(
                    "TLS record of {needed} bytes did not fit {room}"
                )));
            }
            Err(Short::Failed(why)) => {
                out.truncate(len);
                return Err(io::Error::other(why));
            }
        }
    }
    out.truncate(len);
    Err(io::Error::other(
        "TLS record did not fit the room rustls asked for",
    ))
}

impl Buffers {
    /// Sends what `outgoing` holds; releases it once sent.
    pub(super) fn poll_send<IO: AsyncWrite + Unpin>(
        &mut self,
        io: &mut IO,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.sent < self.outgoing.len() {
            let n = ready!(Pin::new(&mut *io).poll_write(cx, &self.outgoing[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        if self.outgoing.capacity() > 0 {
            self.outgoing = Vec::new();
            self.sent = 0;
        }
        Poll::Ready(Ok(()))
    }

    /// Reads more ciphertext from `io` into `incoming` (a pooled chunk, given back if
    /// the read must wait with nothing held).
    pub(super) fn poll_receive<IO: AsyncRead + Unpin>(
        &mut self,
        io: &mut IO,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        if self.incoming.len() >= MAX_INCOMING {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("TLS peer sent over {MAX_INCOMING} bytes without a whole message"),
            )));
        }
        if self.incoming.capacity() == 0 {
            self.incoming = pool::take();
        } else if self.incoming.capacity() - self.incoming.len() < MIN_READ {
            // Moves a partial record to the front of its chunk, or grows past it.
            self.incoming.reserve(MAX_RECORD);
        }
        let read = poll_read_buf(Pin::new(io), cx, &mut self.incoming);
        if read.is_pending() {
            self.release_incoming();
        }
        read
    }

    /// Gives the read chunk back once nothing in it waits.
    pub(super) fn release_incoming(&mut self) {
        if self.incoming.is_empty() && self.incoming.capacity() > 0 {
            pool::give(std::mem::take(&mut self.incoming));
        }
    }
}
