//! What every hand-written baseline server does around its own loop: the address from
//! its first argument (default `127.0.0.1:0`), a multi-thread runtime with 2 workers,
//! `listening on TRANSPORT ADDR` printed once bound.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

/// The address a baseline listens on: its first argument, or `127.0.0.1:0`.
pub fn listen_addr() -> String {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned())
}

/// Prints `listening on TRANSPORT ADDR`, the line the bench waits for.
pub fn announce(transport: &str, addr: SocketAddr) {
    println!("listening on {transport} {addr}");
    let _ = std::io::stdout().flush();
}

/// A TCP server as one writes it by hand: accepts forever, sets `TCP_NODELAY` and
/// spawns `serve` for each connection.
pub fn serve_tcp<F, Fut>(serve: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    crate::udp::runtime().block_on(async move {
        let listener = TcpListener::bind(listen_addr()).await.expect("bind");
        announce("tcp", listener.local_addr().expect("address"));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve(stream));
        }
    });
}
