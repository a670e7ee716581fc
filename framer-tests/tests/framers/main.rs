//! Framer tests: pure `BytesMut` edge cases, split-independence and round trips as
//! property tests, and arbitrary input that must never panic.

mod support;

mod chunk;
mod cobs;
mod cobs_zpe;
mod content_length;
mod corpus;
mod delimiter;
mod dot;
mod identity;
mod length;
mod line;
mod netstring;
mod stuffing;
mod switch;
