//! A zero-downtime handover on one listening socket: the new server adopts the socket
//! the old one serves, the old one drains with `graceful_shutdown`, and no connection
//! made meanwhile is refused (the socket never closes, so the kernel queues what
//! arrives until someone accepts it). The old server answers what its connections had
//! sent when it began draining; a connection it accepted whose request had not arrived
//! yet is closed without an answer, and the client sends it again on a new connection,
//! as a client must when a connection ends before any reply.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tendril_net::app::{acceptor_fn, service};
use tendril_net::framer::LineFramer;
use tendril_net::wrap::NoWrapper;
use tendril_net::{Manager, TcpManager};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::support::*;

/// Serves `listener` (a clone of the shared socket), answering each line with `name`.
fn serve(listener: &std::net::TcpListener, name: &'static str) -> TcpManager {
    let manager = TcpManager::adopt(listener.try_clone().unwrap())
        .unwrap()
        .build();
    manager
        .start(
            acceptor_fn(move |tendril| {
                tendril.set_framers(LineFramer::new(), LineFramer::new())?;
                Ok(service(move |_line: Bytes| async move { Ok(name) }))
            }),
            NoWrapper,
        )
        .unwrap();
    manager
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_connection_is_refused_while_the_new_server_takes_over() {
    let shared = std::net::TcpListener::bind(localhost()).unwrap();
    let addr = shared.local_addr().unwrap();
    let old = serve(&shared, "old");
    let done = Arc::new(AtomicBool::new(false));
    // A client connecting over and over, each connection one request and its answer.
    let client = tokio::spawn({
        let done = done.clone();
        async move {
            let (mut answers, mut retried) = (Vec::new(), 0);
            while !done.load(Ordering::Relaxed) && answers.len() < 100_000 {
                let mut stream = within(tokio::net::TcpStream::connect(addr))
                    .await
                    .expect("connection refused during the handover");
                // Closed before the request was read: sent again (bounded).
                if stream.write_all(b"hi\r\n").await.is_err() {
                    retried += 1;
                    assert!(retried < 100, "too many connections closed unanswered");
                    continue;
                }
                let mut line = String::new();
                match within(BufReader::new(&mut stream).read_line(&mut line)).await {
                    Ok(n) if n > 0 => answers.push(line),
                    _ => {
                        retried += 1;
                        assert!(retried < 100, "too many connections closed unanswered");
                    }
                }
            }
            (answers, retried)
        }
    });
    // Let some connections reach the old server, then hand over.
    eventually(|| old.stats().frames_in >= 20).await;
    let new = serve(&shared, "new");
    drop(shared);
    assert!(within(old.graceful_shutdown(Duration::from_secs(5))).await);
    eventually(|| new.stats().frames_in >= 20).await;
    done.store(true, Ordering::Relaxed);
    let (answers, retried) = within(client).await.unwrap();
    // At most the connections the old server had accepted and not heard from.
    assert!(retried <= 2, "{retried} requests sent again");
    assert!(
        answers.iter().all(|a| a == "old\r\n" || a == "new\r\n"),
        "every connection answered"
    );
    let olds = answers.iter().filter(|a| *a == "old\r\n").count();
    assert!(
        olds >= 20 && answers.len() - olds >= 20,
        "{olds} of {}",
        answers.len()
    );
    new.shutdown();
}
