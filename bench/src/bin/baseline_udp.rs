//! baseline_udp: the hand-written tokio UDP echo server that the UDP benchmark compares
//! tendril-net against.
//!
//! ```text
//! baseline_udp [ADDR]    (default 127.0.0.1:0; prints `listening on udp ADDR`)
//! ```
//!
//! What one writes by hand: a multi-thread runtime with 2 workers and one task that
//! receives a datagram and sends it back, on one `tokio::net::UdpSocket`. It keeps no
//! state per peer.

use tendril_bench::{baseline, udp};
use tokio::net::UdpSocket;

fn main() {
    udp::runtime().block_on(async move {
        let socket = UdpSocket::bind(baseline::listen_addr())
            .await
            .expect("bind");
        baseline::announce("udp", socket.local_addr().expect("address"));
        let mut buf = vec![0u8; 65_536];
        loop {
            let Ok((len, from)) = socket.recv_from(&mut buf).await else {
                continue;
            };
            let _ = socket.send_to(&buf[..len], from).await;
        }
    });
}
