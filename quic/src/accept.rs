//! The server side of a QUIC manager: the accept loop (admit, Retry or refuse each
//! attempt), each connection's stream accepts, and the one task holding the acceptor
//! that serves every new stream.

use std::sync::atomic::Ordering;

use quinn::{Connection, Endpoint, Incoming};
use tendril_net::app::Acceptor;
use tendril_net::framer::FramerSwitch;
use tendril_net::wrap::BoxIo;
use tendril_net::{Addr, Error, StreamAddr, Tendril};
use tokio::sync::mpsc;
use tower::ServiceExt;

use crate::manager::QuicManager;
use crate::stream::{tls_info, ErrorCode, QuicDatagrams, QuicStream, DATAGRAMS};

/// A new stream (or a connection's datagram flow) on its way to the acceptor.
pub(crate) struct NewStream {
    io: NewIo,
    remote: Addr,
}

pub(crate) enum NewIo {
    Stream(QuicStream),
    Datagrams(QuicDatagrams),
}

impl QuicManager {
    /// The accept loop: admits or refuses each connection attempt, until shutdown.
    pub(crate) async fn accept(self, endpoint: Endpoint, streams: mpsc::Sender<NewStream>) {
        let closing = self.inner.engine.closing();
        tokio::pin!(closing);
        loop {
            let incoming = tokio::select! {
                incoming = endpoint.accept() => incoming,
                () = &mut closing => break,
            };
            let Some(incoming) = incoming else { break };
            self.admit(incoming, &streams);
        }
        // New attempts are refused from now on; live connections go on.
        endpoint.set_server_config(None);
    }

    /// Refuses `incoming`, sends it a Retry, or starts its handshake.
    fn admit(&self, incoming: Incoming, streams: &mpsc::Sender<NewStream>) {
        let options = &self.inner.options;
        let counters = &self.inner.counters;
        let handshakes = self.inner.handshakes.load(Ordering::Relaxed);
        let remote = incoming.remote_address();
        let full = self.connections().len() + handshakes >= options.max_connections;
        if full
            || handshakes >= options.max_handshakes
            || !self.inner.engine.admit_source(&Addr::Inet(remote))
        {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            incoming.refuse();
            return;
        }
        if handshakes >= options.retry_above && !incoming.remote_address_validated() {
            counters.retried.fetch_add(1, Ordering::Relaxed);
            // A Retry is refused only for an address already validated: not here.
            let _ = incoming.retry();
            return;
        }
        let Ok(connecting) = incoming.accept() else {
            counters.handshake_failures.fetch_add(1, Ordering::Relaxed);
            return;
        };
        self.inner.handshakes.fetch_add(1, Ordering::Relaxed);
        let manager = self.clone();
        let streams = streams.clone();
        let timeout = options.handshake_timeout;
        self.inner.engine.spawn(async move {
            let handshake = tokio::time::timeout(timeout, connecting).await;
            manager.inner.handshakes.fetch_sub(1, Ordering::Relaxed);
            let counters = &manager.inner.counters;
            let failed = match handshake {
                Ok(Ok(connection)) => {
                    counters.accepted.fetch_add(1, Ordering::Relaxed);
                    manager.run_connection(connection, streams).await;
                    return;
                }
                Ok(Err(err)) => err.to_string(),
                Err(_) => "timed out".to_owned(),
            };
            counters.handshake_failures.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%remote, failed, "QUIC handshake failed");
        });
    }

    /// Hands each stream the peer opens to the acceptor's task, until the
    /// connection closes or the manager shuts down.
    async fn run_connection(&self, connection: Connection, streams: mpsc::Sender<NewStream>) {
        let id = connection.stable_id() as u64;
        self.connections().insert(id, connection.clone());
        let tls = tls_info(&connection);
        let closing = self.inner.engine.closing();
        tokio::pin!(closing);
        let peer = connection.remote_address();
        let named = |stream| {
            Addr::from(StreamAddr {
                peer,
                connection: id,
                stream,
            })
        };
        if self.inner.options.datagrams {
            let io = NewIo::Datagrams(QuicDatagrams::new(connection.clone()));
            if streams
                .send(NewStream {
                    io,
                    remote: named(DATAGRAMS),
                })
                .await
                .is_err()
            {
                self.connections().remove(&id);
                return;
            }
        }
        loop {
            let (io, stream) = tokio::select! {
                accepted = connection.accept_bi() => match accepted {
                    Ok((send, recv)) => {
                        let stream = u64::from(send.id());
                        (QuicStream::new(send, recv, tls.clone(), peer), stream)
                    }
                    Err(_) => break,
                },
                accepted = connection.accept_uni() => match accepted {
                    Ok(recv) => {
                        let stream = u64::from(recv.id());
                        (QuicStream::receive_only(recv, tls.clone(), peer), stream)
                    }
                    Err(_) => break,
                },
                () = &mut closing => break,
            };
            let new = NewStream {
                io: NewIo::Stream(io),
                remote: named(stream),
            };
            if streams.send(new).await.is_err() {
                break;
            }
        }
        self.connections().remove(&id);
    }
}

impl QuicManager {
    /// The task holding the acceptor: serves each new stream, in the order they come.
    pub(crate) async fn serve_streams<A, In, Out, F>(
        self,
        mut queued: mpsc::Receiver<NewStream>,
        mut acceptor: A,
        framers: F,
        local: Addr,
    ) where
        A: Acceptor<In, Out> + Send + 'static,
        In: Send + 'static,
        Out: Send + 'static,
        F: Fn() -> FramerSwitch<In, Out> + Send + 'static,
    {
        while let Some(NewStream { io, remote }) = queued.recv().await {
            if ServiceExt::<Tendril<In, Out>>::ready(&mut acceptor)
                .await
                .is_err()
            {
                tracing::warn!("QUIC: the acceptor failed; no more streams are served");
                break;
            }
            let engine = &self.inner.engine;
            if !engine.admit(&remote) {
                if let NewIo::Stream(io) = io {
                    let mut io: BoxIo = Box::pin(io);
                    io.as_mut().abort(&Error::limit(ErrorCode::INTERNAL));
                }
                continue;
            }
            // The Tendril is in the table now; whether the acceptor took it is its own.
            match io {
                NewIo::Stream(io) => {
                    let io: BoxIo = Box::pin(io);
                    let _ = engine.serve(io, local.clone(), remote, framers(), &mut acceptor);
                    self.inner.counters.streams.fetch_add(1, Ordering::Relaxed);
                }
                NewIo::Datagrams(datagrams) => {
                    let ready = std::future::ready(Ok::<_, std::convert::Infallible>(datagrams));
                    let _ = engine.serve_datagrams(
                        ready,
                        local.clone(),
                        remote,
                        framers(),
                        &mut acceptor,
                    );
                }
            }
        }
    }
}
