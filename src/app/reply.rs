//! What an application's response turns into: zero or more outbound frames.

use std::collections::VecDeque;

use bytes::Bytes;

/// A response that converts into zero or more outbound frames of type `F`.
///
/// Implemented for `()` (no frame), `Option<F>`, `Vec<F>`, [`Reply<F>`], and, for
/// [`Bytes`] frames, for `Bytes`, `&'static str` and `String` as one frame each.
pub trait IntoFrames<F> {
    /// Appends the frames, in order, to `out`.
    fn push_frames(self, out: &mut VecDeque<F>);
}

impl<F> IntoFrames<F> for () {
    fn push_frames(self, _out: &mut VecDeque<F>) {}
}

impl<F> IntoFrames<F> for Option<F> {
    fn push_frames(self, out: &mut VecDeque<F>) {
        out.extend(self);
    }
}

impl<F> IntoFrames<F> for Vec<F> {
    fn push_frames(self, out: &mut VecDeque<F>) {
        out.extend(self);
    }
}

impl IntoFrames<Bytes> for Bytes {
    fn push_frames(self, out: &mut VecDeque<Bytes>) {
        out.push_back(self);
    }
}

impl IntoFrames<Bytes> for &'static str {
    fn push_frames(self, out: &mut VecDeque<Bytes>) {
        out.push_back(Bytes::from_static(self.as_bytes()));
    }
}

impl IntoFrames<Bytes> for String {
    fn push_frames(self, out: &mut VecDeque<Bytes>) {
        out.push_back(Bytes::from(self));
    }
}

/// Zero or more outbound frames, built without allocating for the common zero- and
/// one-frame cases.
///
/// ```
/// use bytes::Bytes;
/// use tendril_net::app::{IntoFrames, Reply};
///
/// let reply = Reply::one(Bytes::from("250 OK")).and(Bytes::from("250 more"));
/// let mut frames = std::collections::VecDeque::new();
/// reply.push_frames(&mut frames);
/// assert_eq!(frames, ["250 OK", "250 more"]);
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
    fn push_frames(self, out: &mut VecDeque<F>) {
        match self.frames {
            Frames::None => {}
            Frames::One(frame) => out.push_back(frame),
            Frames::Many(frames) => out.extend(frames),
        }
    }
}
