//! What a peer protocol says of its frames ([`Classify`], [`Kind`]), and the
//! classifier as the peer's client's tagger.

use std::hash::Hash;
use std::sync::Arc;

use crate::client::Tagger;

/// What an inbound frame of a peer connection is: see [`Classify::classify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind<K> {
    /// A request for the application, answered by its reply; with the key a cancel
    /// would name it by (`None`: it cannot be cancelled).
    Request(Option<K>),
    /// A message for the application that is not answered: its reply is dropped.
    Notification,
    /// The response to one of this end's calls, with the tag the call was sent with
    /// (`None`: a response to nothing this end can name, counted and dropped).
    Response(Option<u64>),
    /// The peer gives up on its request with this key: the request's handler is
    /// dropped and [`Classify::cancelled`] answers it.
    Cancel(K),
}

/// How a peer protocol tells its frames apart and tags its requests (JSON-RPC: a
/// `method` with an `id` is a request, without one a notification, a `result` or
/// `error` a response, `$/cancelRequest` a cancel).
pub trait Classify<F>: Send + Sync + 'static {
    /// What names an inbound request for a cancel (a JSON-RPC id).
    type Key: Eq + Hash + Clone + Send + 'static;

    /// What `frame` is. Called once per inbound frame, before the application sees it.
    fn classify(&self, frame: &F) -> Kind<Self::Key>;

    /// An outbound request with `tag` written into it (a JSON-RPC id); its response
    /// must carry the tag back.
    fn tag(&self, request: F, tag: u64) -> F;

    /// The message telling the peer that this end gave up on its request `tag` (the
    /// call's future dropped, or its response timed out); `None`, the default, sends
    /// nothing.
    fn cancel(&self, tag: u64) -> Option<F> {
        let _ = tag;
        None
    }

    /// The answer to the peer's request `key` that the peer cancelled while it ran
    /// (JSON-RPC: error -32800); `None`, the default, answers nothing.
    fn cancelled(&self, key: Self::Key) -> Option<F> {
        let _ = key;
        None
    }
}

/// The peer's classifier as the client's tagger.
pub(super) struct Tagging<C>(pub(super) Arc<C>);

impl<C: Classify<F>, F: Send + 'static> Tagger<F, F> for Tagging<C> {
    fn tag(&self, request: F, tag: u64) -> F {
        self.0.tag(request, tag)
    }

    fn tag_of(&self, response: &F) -> Option<u64> {
        match self.0.classify(response) {
            Kind::Response(tag) => tag,
            _ => None,
        }
    }

    fn cancel(&self, tag: u64) -> Option<F> {
        self.0.cancel(tag)
    }
}
