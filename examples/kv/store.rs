//! The key-value protocol: CRLF lines `SET k v` -> `OK`, `GET k` -> `VALUE v` or
//! `NOT_FOUND`, `DEL k` -> `DELETED` or `NOT_FOUND`, anything else -> `ERROR <reason>`.
//! Shared by the kv_server example and the client benchmark.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{BufMut, Bytes, BytesMut};
use tendril_net::app::{acceptor_fn, Acceptor};
use tendril_net::framer::LineFramer;
use tendril_net::{BoxError, Tendril};
use tower::service_fn;

/// Keys a store holds at most: a client cannot grow it without bound.
pub const MAX_KEYS: usize = 1_000_000;

/// The keys and values, shared by every connection.
#[derive(Clone, Default)]
pub struct Store {
    map: Arc<Mutex<HashMap<Bytes, Bytes>>>,
}

impl Store {
    /// The answer to one command line.
    pub fn execute(&self, line: &Bytes) -> Bytes {
        let (command, rest) = split_word(line);
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        match &command[..] {
            b"SET" => {
                let (key, value) = split_word(&rest);
                if key.is_empty() || value.is_empty() {
                    return Bytes::from_static(b"ERROR usage: SET key value");
                }
                if map.len() >= MAX_KEYS && !map.contains_key(&key) {
                    return Bytes::from_static(b"ERROR store full");
                }
                map.insert(key, value);
                Bytes::from_static(b"OK")
            }
            b"GET" | b"DEL" if rest.is_empty() || rest.contains(&b' ') => Bytes::from(format!(
                "ERROR usage: {} key",
                String::from_utf8_lossy(&command)
            )),
            b"GET" => match map.get(&rest) {
                Some(value) => {
                    let mut answer = BytesMut::with_capacity(6 + value.len());
                    answer.put_slice(b"VALUE ");
                    answer.put_slice(value);
                    answer.freeze()
                }
                None => Bytes::from_static(b"NOT_FOUND"),
            },
            b"DEL" => match map.remove(&rest) {
                Some(_) => Bytes::from_static(b"DELETED"),
                None => Bytes::from_static(b"NOT_FOUND"),
            },
            b"" => Bytes::from_static(b"ERROR empty command"),
            _ => Bytes::from_static(b"ERROR unknown command"),
        }
    }
}

/// The first space-separated word and the rest (both slices of `line`).
fn split_word(line: &Bytes) -> (Bytes, Bytes) {
    match line.iter().position(|&b| b == b' ') {
        Some(space) => (line.slice(..space), line.slice(space + 1..)),
        None => (line.clone(), Bytes::new()),
    }
}

/// The acceptor of a kv server on `store`.
pub fn acceptor(store: Store) -> impl Acceptor<Bytes, Bytes> + Send + 'static {
    acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
        tendril.set_framers(LineFramer::new(), LineFramer::new())?;
        let store = store.clone();
        Ok(service_fn(move |line: Bytes| {
            let answer = store.execute(&line);
            async move { Ok::<_, BoxError>(answer) }
        }))
    })
}
