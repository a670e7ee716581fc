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

use std::io::Write;

use tokio::net::UdpSocket;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let socket = UdpSocket::bind(&addr).await.expect("bind");
        println!("listening on udp {}", socket.local_addr().expect("address"));
        let _ = std::io::stdout().flush();
        let mut buf = vec![0u8; 65_536];
        loop {
            let Ok((len, from)) = socket.recv_from(&mut buf).await else {
                continue;
            };
            let _ = socket.send_to(&buf[..len], from).await;
        }
    });
}
