//! One connection of the memcache_server example: the memcached text protocol's
//! commands as CRLF lines, each storage command's data block read by switching the
//! receive framer to `ChunkFramer::whole(n + 2)` for exactly that block, then back.

use std::future::{ready, Ready};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use tendril_net::framer::{ChunkFramer, LineFramer};
use tendril_net::{BoxError, Tendril};
use tower::Service;

use super::store::{Mode, Store};

/// The longest command line, without its CRLF (memcached's is 2048 for most commands).
pub const MAX_LINE: usize = 8192;

/// The most one `get` answers, in bytes: a line of 8 KiB can name a 1 MiB value
/// thousands of times, and each copy is written out (memcached answers such a request
/// with the same error).
const MAX_REPLY: usize = 16 << 20;

/// The longest key (the protocol's limit).
const MAX_KEY: usize = 250;

/// What every connection shares.
pub struct Shared {
    pub store: Mutex<Store>,
    /// The largest value stored (memcached's `-I`, 1 MiB by default).
    pub max_item: usize,
}

/// A storage command waiting for its data block.
struct Pending {
    mode: Mode,
    key: Bytes,
    flags: u32,
    exptime: i64,
    length: usize,
    noreply: bool,
}

/// What the next frame is.
enum Next {
    Command,
    /// The data block of a storage command (the `n` bytes and CRLF, as one frame).
    Data(Pending),
    /// This many bytes of a data block too large to store, read in pieces and dropped.
    Swallow(usize),
}

/// The replies to one frame, CRLFs included (the send framer is identity), values as
/// the store's own `Bytes`.
pub type Replies = Vec<Bytes>;

pub struct Session {
    shared: Arc<Shared>,
    tendril: Tendril,
    next: Next,
}

/// The receive framer for command lines.
pub fn command_framer() -> LineFramer {
    LineFramer::new().max_frame_length(MAX_LINE)
}

fn line(text: &'static [u8]) -> Replies {
    vec![Bytes::from_static(text)]
}

impl Session {
    pub fn new(shared: Arc<Shared>, tendril: Tendril) -> Self {
        Session {
            shared,
            tendril,
            next: Next::Command,
        }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.shared
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn command(&mut self, frame: &Bytes) -> Result<Replies, BoxError> {
        let mut words = frame
            .split(|&b| b == b' ')
            .filter(|word| !word.is_empty())
            .map(|word| frame.slice_ref(word));
        let Some(verb) = words.next() else {
            return Ok(line(b"ERROR\r\n"));
        };
        let args: Vec<Bytes> = words.collect();
        Ok(match &verb[..] {
            b"set" => self.storage(Mode::Set, &args)?,
            b"add" => self.storage(Mode::Add, &args)?,
            b"replace" => self.storage(Mode::Replace, &args)?,
            b"cas" => match args.get(4).and_then(|unique| number::<u64>(unique)) {
                Some(unique) => {
                    let mut args = args.clone();
                    args.remove(4);
                    self.storage(Mode::Cas(unique), &args)?
                }
                None => line(b"CLIENT_ERROR bad command line format\r\n"),
            },
            b"get" => self.retrieve(&args, false),
            b"gets" => self.retrieve(&args, true),
            b"delete" => self.delete(&args),
            b"version" => line(b"VERSION tendril-net-memcache 1\r\n"),
            b"quit" => {
                self.tendril.close();
                Vec::new()
            }
            _ => line(b"ERROR\r\n"),
        })
    }

    /// `<verb> <key> <flags> <exptime> <bytes> [noreply]`: the data block is the next
    /// frame, read whole.
    fn storage(&mut self, mode: Mode, args: &[Bytes]) -> Result<Replies, BoxError> {
        let parsed = match args {
            [key, flags, exptime, length, rest @ ..] if rest.len() <= 1 => (|| {
                Some((
                    key.clone(),
                    number::<u32>(flags)?,
                    number::<i64>(exptime)?,
                    number::<usize>(length)?,
                    match rest {
                        [] => false,
                        [word] if &word[..] == b"noreply" => true,
                        _ => return None,
                    },
                ))
            })(),
            _ => None,
        };
        let Some((key, flags, exptime, length, noreply)) = parsed.filter(|p| valid_key(&p.0))
        else {
            return Ok(line(b"CLIENT_ERROR bad command line format\r\n"));
        };
        let block = length.checked_add(2).ok_or("data block length overflows")?;
        if length > self.shared.max_item {
            // Read past the block in pieces (nothing is buffered whole), then go on.
            self.tendril
                .set_recv_framer(ChunkFramer::new(block as u64))?;
            self.next = Next::Swallow(block);
            return Ok(line(b"SERVER_ERROR object too large for cache\r\n"));
        }
        // The next frame is exactly the block: `length` bytes and CRLF.
        self.tendril
            .set_recv_framer(ChunkFramer::whole(block as u64))?;
        self.next = Next::Data(Pending {
            mode,
            key,
            flags,
            exptime,
            length,
            noreply,
        });
        Ok(Vec::new())
    }

    fn data(&mut self, pending: Pending, block: Bytes) -> Result<Replies, BoxError> {
        self.tendril.set_recv_framer(command_framer())?;
        if !block.ends_with(b"\r\n") {
            return Ok(line(b"CLIENT_ERROR bad data chunk\r\n"));
        }
        let value = block.slice(..pending.length);
        let stored = self.store().store(
            pending.mode,
            pending.key,
            pending.flags,
            pending.exptime,
            value,
        );
        if pending.noreply {
            return Ok(Vec::new());
        }
        Ok(line(stored.line()))
    }

    /// `get`/`gets <key>*`: a `VALUE` line and data block per key found, then `END`.
    fn retrieve(&mut self, keys: &[Bytes], with_cas: bool) -> Replies {
        if keys.is_empty() || !keys.iter().all(|key| valid_key(key)) {
            return line(b"CLIENT_ERROR bad command line format\r\n");
        }
        let mut replies = Vec::with_capacity(keys.len() * 3 + 1);
        let mut store = self.store();
        let mut total = 0;
        for key in keys {
            let Some(item) = store.get(key) else { continue };
            total += key.len() + item.value.len() + 32;
            if total > MAX_REPLY {
                return line(b"SERVER_ERROR out of memory writing get response\r\n");
            }
            let mut header = BytesMut::with_capacity(key.len() + 48);
            header.put_slice(b"VALUE ");
            header.put_slice(key);
            header.put_slice(format!(" {} {}", item.flags, item.value.len()).as_bytes());
            if with_cas {
                header.put_slice(format!(" {}", item.cas).as_bytes());
            }
            header.put_slice(b"\r\n");
            replies.push(header.freeze());
            // The value itself, not a copy.
            replies.push(item.value.clone());
            replies.push(Bytes::from_static(b"\r\n"));
        }
        replies.push(Bytes::from_static(b"END\r\n"));
        replies
    }

    /// `delete <key> [noreply]`.
    fn delete(&mut self, args: &[Bytes]) -> Replies {
        let (key, noreply) = match args {
            [key] => (key, false),
            [key, word] if &word[..] == b"noreply" => (key, true),
            _ => return line(b"CLIENT_ERROR bad command line format\r\n"),
        };
        if !valid_key(key) {
            return line(b"CLIENT_ERROR bad command line format\r\n");
        }
        let deleted = self.store().remove(key);
        match (noreply, deleted) {
            (true, _) => Vec::new(),
            (false, true) => line(b"DELETED\r\n"),
            (false, false) => line(b"NOT_FOUND\r\n"),
        }
    }
}

fn valid_key(key: &[u8]) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY && key.iter().all(|&b| b > b' ' && b != 0x7f)
}

fn number<T: std::str::FromStr>(word: &[u8]) -> Option<T> {
    std::str::from_utf8(word).ok()?.parse().ok()
}

impl Service<Bytes> for Session {
    type Response = Replies;
    type Error = BoxError;
    type Future = Ready<Result<Replies, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, frame: Bytes) -> Self::Future {
        let replies = match std::mem::replace(&mut self.next, Next::Command) {
            Next::Command => self.command(&frame),
            Next::Data(pending) => self.data(pending, frame),
            Next::Swallow(left) => {
                let left = left.saturating_sub(frame.len());
                if left > 0 {
                    self.next = Next::Swallow(left);
                    Ok(Vec::new())
                } else {
                    self.tendril
                        .set_recv_framer(command_framer())
                        .map(|()| Vec::new())
                        .map_err(Into::into)
                }
            }
        };
        ready(replies)
    }
}
