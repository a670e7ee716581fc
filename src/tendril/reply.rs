//! What an application's response turns into: zero or more outbound frames.

use bytes::Bytes;

/// A response that converts into zero or more outbound frames of type `F`.
///
/// Implemented for:
/// - `()` (no frame), `Option<F>` (`Some(frame)`: one frame), `Vec<F>` and
///   [`Reply<F>`], for any frame type;
/// - for [`Bytes`] frames, also `Bytes`, `&'static str`, `String` and `Vec<u8>` (one
///   frame each), and `Option` of each.
///
/// A typed-frame application answers with `Some(frame)`, or is written with
/// `answer`, which takes the bare frame: a blanket "a frame is
/// its own reply" impl would make the reply type of every generic caller ambiguous
/// (the compiler then overflows resolving `Tendril<In, Out>`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a reply for `{F}` frames",
    label = "the application's response must convert into `{F}` frames",
    note = "answer with `Some(frame)` for one frame (not the bare frame; `app::answer` takes the bare frame), `()` or `None` for none, `Vec<{F}>` or `Reply<{F}>` for several",
    note = "for `Bytes` frames, `Bytes`, `&'static str`, `String`, `Vec<u8>` and `Option` of those work too"
)]
pub trait IntoFrames<F> {
    /// The frames, in order.
    fn into_reply(self) -> Reply<F>;
}

impl<F> IntoFrames<F> for () {
    fn into_reply(self) -> Reply<F> {
        Reply::none()
    }
}

impl<F> IntoFrames<F> for Option<F> {
    fn into_reply(self) -> Reply<F> {
        match self {
            Some(frame) => Reply::one(frame),
            None => Reply::none(),
        }
    }
}

impl<F> IntoFrames<F> for Vec<F> {
    fn into_reply(self) -> Reply<F> {
        Reply {
            frames: Frames::Many(self),
        }
    }
}

/// `Bytes`, `&'static str`, `String` and `Vec<u8>` as one `Bytes` frame (`Option<Bytes>`
/// is covered by `Option<F>`), and `Option` of the others.
macro_rules! bytes_reply {
    ($($ty:ty => $convert:expr),* $(,)?) => {$(
        impl IntoFrames<Bytes> for $ty {
            fn into_reply(self) -> Reply<Bytes> {
                Reply::one($convert(self))
            }
        }

        impl IntoFrames<Bytes> for Option<$ty> {
            fn into_reply(self) -> Reply<Bytes> {
                match self {
                    Some(frame) => Reply::one($convert(frame)),
                    None => Reply::none(),
                }
            }
        }
    )*};
}

impl IntoFrames<Bytes> for Bytes {
    fn into_reply(self) -> Reply<Bytes> {
        Reply::one(self)
    }
}

bytes_reply! {
    &'static str => |text: &'static str| Bytes::from_static(text.as_bytes()),
    String => Bytes::from,
    Vec<u8> => Bytes::from,
}

/// Zero or more outbound frames, built without allocating for the common zero- and
/// one-frame cases.
///
/// ```
/// use bytes::Bytes;
/// use tendril_net::app::Reply;
///
/// let reply = Reply::one(Bytes::from("250 OK")).and(Bytes::from("250 more"));
/// assert_eq!(reply.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<F = Bytes> {
    frames: Frames<F>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Frames<F> {
    None,
    One(F),
    Many(Vec<F>),
}

impl<F> Reply<F> {
    /// No frame.
    pub fn none() -> Self {
        Reply {
            frames: Frames::None,
        }
    }

    /// One frame.
    pub fn one(frame: F) -> Self {
        Reply {
            frames: Frames::One(frame),
        }
    }

    /// Several frames, in order.
    pub fn many(frames: impl IntoIterator<Item = F>) -> Self {
        Reply {
            frames: Frames::Many(frames.into_iter().collect()),
        }
    }

    /// This reply followed by one more frame.
    #[must_use]
    pub fn and(self, frame: F) -> Self {
        let frames = match self.frames {
            Frames::None => Frames::One(frame),
            Frames::One(first) => Frames::Many(vec![first, frame]),
            Frames::Many(mut frames) => {
                frames.push(frame);
                Frames::Many(frames)
            }
        };
        Reply { frames }
    }

    /// The number of frames.
    pub fn len(&self) -> usize {
        match &self.frames {
            Frames::None => 0,
            Frames::One(_) => 1,
            Frames::Many(frames) => frames.len(),
        }
    }

    /// True if there is no frame.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<F> Default for Reply<F> {
    fn default() -> Self {
        Reply::none()
    }
}

impl<F> IntoFrames<F> for Reply<F> {
    fn into_reply(self) -> Reply<F> {
        self
    }
}

impl<F> Reply<F> {
    /// The single frame, or the reply back if it has none or several.
    pub(crate) fn into_single(self) -> Result<F, Self> {
        match self.frames {
            Frames::One(frame) => Ok(frame),
            frames => Err(Reply { frames }),
        }
    }

    /// Hands each frame, in order, to `f`, stopping at its first error.
    pub(crate) fn try_for_each<E>(self, mut f: impl FnMut(F) -> Result<(), E>) -> Result<(), E> {
        match self.frames {
            Frames::None => Ok(()),
            Frames::One(frame) => f(frame),
            Frames::Many(frames) => frames.into_iter().try_for_each(f),
        }
    }
}
