//! The UDP socket with batched I/O: `recvmmsg` (and GRO, where the kernel offers it)
//! in, GSO out for runs of equal-size datagrams to one peer, through `quinn-udp` (what
//! quinn uses: it probes what the kernel supports and falls back to one datagram per
//! call elsewhere). Batching never waits: a receive takes what is already queued, one
//! datagram or many, and a run is sent as soon as its peer's driver flushes.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState, BATCH_SIZE};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// The largest UDP payload, the size of each receive slot.
pub(crate) const MAX_DATAGRAM: usize = 65_536;

/// Segments at most this large go out together (GSO); larger ones one by one. A
/// segment must fit the path's MTU (the kernel refuses larger ones): 1,200 bytes
/// fit any IPv4 or IPv6 path.
const MAX_GSO_SEGMENT: usize = 1200;

/// The bytes one GSO send may carry at most.
const MAX_GSO_BYTES: usize = 60_000;

/// A UDP manager's socket: every peer sends through it, the receive loop reads it.
pub(crate) struct Socket {
    io: UdpSocket,
    state: UdpSocketState,
    /// Sending runs in one call still works (cleared if the kernel refuses it).
    gso: AtomicBool,
}

impl Socket {
    /// Takes `socket` (bound; made non-blocking here) into the runtime.
    pub(crate) fn new(socket: std::net::UdpSocket) -> io::Result<Self> {
        let state = UdpSocketState::new(UdpSockRef::from(&socket))?;
        let gso = state.max_gso_segments() > 1;
        Ok(Socket {
            io: UdpSocket::from_std(socket)?,
            state,
            gso: AtomicBool::new(gso),
        })
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    /// The socket itself (readiness, its descriptor).
    pub(crate) fn io(&self) -> &UdpSocket {
        &self.io
    }

    /// Sends as many of the datagrams of `segment` bytes laid end to end in
    /// `datagrams` as one system call takes (all of a run of small ones, with GSO; the
    /// first alone otherwise) to `to`: the bytes sent, a whole number of datagrams.
    /// `WouldBlock` when the send buffer is full.
    pub(crate) fn try_send_run(
        &self,
        to: SocketAddr,
        datagrams: &[u8],
        segment: usize,
    ) -> io::Result<usize> {
        let together = self.gso.load(Ordering::Relaxed)
            && segment > 0
            && segment <= MAX_GSO_SEGMENT
            && datagrams.len() > segment;
        let len = if together {
            let most = self.state.max_gso_segments().min(MAX_GSO_BYTES / segment);
            datagrams.len().min(most * segment)
        } else {
            segment.min(datagrams.len())
        };
        let transmit = Transmit {
            destination: to,
            ecn: None,
            contents: &datagrams[..len],
            segment_size: (len > segment).then_some(segment),
            src_ip: None,
        };
        let sent = self.io.try_io(Interest::WRITABLE, || {
            self.state.try_send(UdpSockRef::from(&self.io), &transmit)
        });
        match sent {
            Ok(()) => Ok(len),
            // EIO, EINVAL: the kernel or the device cannot segment; one by one from now.
            Err(err)
                if transmit.segment_size.is_some()
                    && matches!(err.raw_os_error(), Some(5 | 22)) =>
            {
                tracing::debug!(error = %err, "udp segmentation offload refused: sending datagrams one by one");
                self.gso.store(false, Ordering::Relaxed);
                self.try_send_run(to, datagrams, segment)
            }
            Err(err) => Err(err),
        }
    }

    /// Receives what is queued, up to a batch, into `slots`: how many slots were
    /// filled (`WouldBlock` if none).
    pub(crate) fn try_recv(&self, slots: &mut Slots) -> io::Result<usize> {
        let Slots { buffer, meta } = slots;
        let mut chunks = buffer.chunks_mut(MAX_DATAGRAM);
        let mut bufs: [IoSliceMut<'_>; BATCH_SIZE] =
            std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
        self.io.try_io(Interest::READABLE, || {
            self.state
                .recv(UdpSockRef::from(&self.io), &mut bufs, &mut meta[..])
        })
    }
}

/// Where one batched receive puts its datagrams: a slot of 64 KiB each (a datagram
/// may be that large, and with GRO a slot holds several from one source), reused
/// from receive to receive; the receive loop copies each datagram into its compact
/// buffers (so that a datagram kept by its peer pins its own size, not a slot).
pub(crate) struct Slots {
    buffer: Vec<u8>,
    meta: [RecvMeta; BATCH_SIZE],
}

impl Slots {
    pub(crate) fn new() -> Self {
        Slots {
            // Zeroed by the allocator: pages are touched only as datagrams fill them.
            buffer: vec![0; BATCH_SIZE * MAX_DATAGRAM],
            meta: [RecvMeta::default(); BATCH_SIZE],
        }
    }

    /// The datagrams of the first `filled` slots, with their sources: a slot holding
    /// several (GRO) gives each of them.
    pub(crate) fn datagrams(&self, filled: usize) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.buffer
            .chunks(MAX_DATAGRAM)
            .zip(&self.meta)
            .take(filled)
            .flat_map(|(slot, meta)| {
                let filled = &slot[..meta.len.min(slot.len())];
                // An empty datagram is one datagram too.
                let stride = if filled.is_empty() {
                    1
                } else {
                    meta.stride.clamp(1, filled.len())
                };
                let count = filled.len().div_ceil(stride).max(1);
                (0..count).map(move |at| {
                    let end = ((at + 1) * stride).min(filled.len());
                    (meta.addr, &filled[(at * stride).min(end)..end])
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::{Slots, Socket, MAX_DATAGRAM};

    #[test]
    fn slots_give_each_datagram_of_a_gro_slot_and_empty_ones_too() {
        let mut slots = Slots::new();
        let from: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
        // Slot 0: three datagrams of 4 bytes coalesced, the last one shorter.
        slots.buffer[..10].copy_from_slice(b"aaaabbbbcc");
        slots.meta[0].addr = from;
        slots.meta[0].len = 10;
        slots.meta[0].stride = 4;
        // Slot 1: an empty datagram.
        slots.meta[1].addr = from;
        slots.meta[1].len = 0;
        slots.meta[1].stride = 0;
        // Slot 2: one datagram filling its slot.
        slots.buffer[2 * MAX_DATAGRAM..3 * MAX_DATAGRAM].fill(b'z');
        slots.meta[2].len = MAX_DATAGRAM;
        slots.meta[2].stride = MAX_DATAGRAM;
        let got: Vec<&[u8]> = slots.datagrams(3).map(|(_, datagram)| datagram).collect();
        assert_eq!(got.len(), 5);
        assert_eq!(&got[..4], [&b"aaaa"[..], b"bbbb", b"cc", b""]);
        assert_eq!(got[4].len(), MAX_DATAGRAM);
    }

    #[tokio::test]
    async fn a_run_goes_whole_and_arrives_as_separate_datagrams() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let socket = Socket::new(server).unwrap();
        let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = client.local_addr().unwrap();
        let run = b"one.two.six.ten.";
        let mut sent = 0;
        while sent < run.len() {
            socket.io().writable().await.unwrap();
            match socket.try_send_run(to, &run[sent..], 4) {
                Ok(bytes) => sent += bytes,
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(err) => panic!("{err}"),
            }
        }
        let mut buf = [0u8; 16];
        for expected in [b"one.", b"two.", b"six.", b"ten."] {
            let (len, _) = client.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..len], expected);
        }
    }
}
