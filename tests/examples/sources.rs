//! The `echo` example's per-source limits and trusted balancers, as a real process:
//! clients bound to 127.0.0.2 and 127.0.0.3 are two sources (Linux routes all of 127/8
//! to loopback).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use crate::support::{self, exchange, Running};

/// A TCP connection to `addr` from source address `from`, with a 20 s read timeout.
fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream = TcpStream::from(socket);
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// True if the server closed `stream` without an echo.
fn refused(stream: &mut TcpStream) -> bool {
    let _ = stream.write_all(b"anyone?\r\n");
    let mut buf = [0u8; 64];
    matches!(stream.read(&mut buf), Ok(0) | Err(_))
}

fn echo(args: &[&str], transport: &str) -> (Running, SocketAddr) {
    let running = support::start_example("echo", args, transport);
    let addr = running.listening.parse().unwrap();
    (running, addr)
}

#[test]
fn max_per_ip_refuses_the_21st_tcp_connection_of_a_source_only() {
    let (_echo, addr) = echo(&["--listen", "127.0.0.1:0", "--max-per-ip", "20"], "tcp");
    let mut held: Vec<TcpStream> = (0..20).map(|_| connect_from("127.0.0.2", addr)).collect();
    for (i, stream) in held.iter_mut().enumerate() {
        exchange(stream, format!("line {i}\r\n").as_bytes());
    }
    assert!(refused(&mut connect_from("127.0.0.2", addr)), "the 21st");
    exchange(&mut connect_from("127.0.0.3", addr), b"other\r\n");
    // A freed slot is served again (once the server has seen the close).
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = connect_from("127.0.0.2", addr);
        if !refused(&mut again) {
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot never came back");
        std::thread::sleep(Duration::from_millis(20));
    }
    for stream in &mut held {
        exchange(stream, b"still here\r\n");
    }
}

#[test]
fn max_per_ip_tracks_20_udp_peers_of_a_source_and_no_more() {
    let (_echo, addr) = echo(
        &[
            "--transport",
            "udp",
            "--listen",
            "127.0.0.1:0",
            "--max-per-ip",
            "20",
        ],
        "udp",
    );
    let bind = |ip: &str| {
        let socket = UdpSocket::bind(format!("{ip}:0")).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        socket
    };
    let ask = |socket: &UdpSocket, text: &[u8]| {
        socket.send_to(text, addr).unwrap();
        let mut buf = [0u8; 64];
        let (len, _) = socket.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..len], text);
    };
    let established: Vec<UdpSocket> = (0..20).map(|_| bind("127.0.0.2")).collect();
    for socket in &established {
        ask(socket, b"hello");
    }
    let flood: Vec<UdpSocket> = (0..200).map(|_| bind("127.0.0.2")).collect();
    for socket in &flood {
        socket.send_to(b"let me in", addr).unwrap();
    }
    // Another address is served; its reply comes after every datagram sent before it
    // was routed (one receive loop, in order).
    ask(&bind("127.0.0.3"), b"other");
    for socket in &established {
        ask(socket, b"still here");
    }
    for socket in &flood {
        socket.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        assert!(
            socket.recv_from(&mut buf).is_err(),
            "an untracked peer was answered"
        );
    }
}

#[cfg(feature = "proxy-protocol")]
#[test]
fn proxy_from_believes_the_trusted_balancer_only() {
    let (_echo, addr) = echo(
        &[
            "--listen",
            "127.0.0.1:0",
            "--proxy-from",
            "127.0.0.2/32",
            "--announce",
        ],
        "tcp",
    );
    let header = b"PROXY TCP4 6.6.6.6 198.51.100.2 1111 7000\r\n";
    let mut balancer = connect_from("127.0.0.2", addr);
    balancer.write_all(header).unwrap();
    let announced = b"you are 6.6.6.6:1111\r\n";
    let mut got = vec![0u8; announced.len()];
    balancer.read_exact(&mut got).unwrap();
    assert_eq!(got, announced);
    exchange(&mut balancer, b"through the balancer\r\n");
    // The same header from 127.0.0.1: closed before anything is said.
    let mut forged = connect_from("127.0.0.1", addr);
    forged.write_all(header).unwrap();
    let mut rest = Vec::new();
    let _ = forged.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}
