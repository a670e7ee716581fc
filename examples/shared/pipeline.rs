//! The client examples' load loop: requests sent through a tower service as fast as
//! its readiness allows, up to a number in flight, each answer checked as it comes.

use std::fmt::Display;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tower::{Service, ServiceExt};

/// Sends `count` requests through `service` (request `i` and what its answer must be
/// from `request(i)`), at most `in_flight` awaiting their answer at once, and checks
/// each answer with `check` as it arrives. The first failure ends it.
pub async fn drive<S, Req, E>(
    service: &mut S,
    count: usize,
    in_flight: usize,
    mut request: impl FnMut(usize) -> (Req, E),
    mut check: impl FnMut(E, Result<S::Response, S::Error>) -> Result<(), String>,
) -> Result<(), String>
where
    S: Service<Req>,
    S::Error: Display,
{
    let mut pending = FuturesUnordered::new();
    let (mut sent, mut answered) = (0, 0);
    while answered < count {
        tokio::select! {
            Some((expected, answer)) = pending.next(), if !pending.is_empty() => {
                check(expected, answer)?;
                answered += 1;
            }
            ready = service.ready(), if sent < count && pending.len() < in_flight => {
                let ready = ready.map_err(|err| format!("{err:#}"))?;
                let (req, expected) = request(sent);
                let call = ready.call(req);
                pending.push(async move { (expected, call.await) });
                sent += 1;
            }
        }
    }
    Ok(())
}
