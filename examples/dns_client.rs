//! dns_client: ask a DNS server for the A records of a name.
//!
//! ```text
//! cargo run --release --example dns_client -- NAME [--server ADDR] [--tcp]
//! ```
//!
//! Sends one query to `--server` (default `127.0.0.1:5353`) over UDP, or TCP with
//! `--tcp`, with the manager's `connect`: the reply comes back to the application of
//! that connection because the manager tracks the server as a peer. Prints
//! `NAME A ADDRESS` per answer (or the response code), and gives up after 2 seconds
//! with a clear message.

#[path = "dns/message.rs"]
mod message;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use tendril_net::app::acceptor_fn;
use tendril_net::framer::{ByteOrder, LengthFramer, LengthPrefix};
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, TcpManager, Tendril, UdpManager};
use tokio::sync::mpsc;
use tower::service_fn;

#[tokio::main]
async fn main() -> ExitCode {
    let mut name = None;
    let mut server: SocketAddr = "127.0.0.1:5353".parse().unwrap();
    let mut tcp = false;
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--tcp" => tcp = true,
            "--server" => match argv.next().map(|value| value.parse()) {
                Some(Ok(addr)) => server = addr,
                _ => name = None,
            },
            other if name.is_none() && !other.starts_with("--") => name = Some(other.to_owned()),
            _ => name = None,
        }
    }
    let Some(name) = name else {
        eprintln!("usage: dns_client NAME [--server ADDR] [--tcp]");
        return ExitCode::from(2);
    };

    let (replies, mut received) = mpsc::unbounded_channel();
    let acceptor = acceptor_fn(move |tendril: Tendril| -> Result<_, BoxError> {
        if tendril.transport() == "tcp" {
            let framer =
                LengthFramer::new(LengthPrefix::U16, ByteOrder::BigEndian).max_frame_length(65_535);
            tendril.set_framers(framer.clone(), framer)?;
        }
        let replies = replies.clone();
        Ok(service_fn(move |reply: Bytes| {
            let _ = replies.send(reply);
            async { Ok::<_, BoxError>(()) }
        }))
    });
    let any: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .unwrap();
    let connected = if tcp {
        TcpManager::new(any)
            .connect(server, acceptor, NoWrapper)
            .await
    } else {
        UdpManager::new(any).connect(server, acceptor).await
    };
    let tendril = match connected {
        Ok(tendril) => tendril,
        Err(err) => {
            eprintln!("dns_client: cannot reach {server}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let id = (std::process::id() & 0xFFFF) as u16;
    if let Err(err) = tendril
        .send_frame(Bytes::from(message::query(id, &name, message::TYPE_A)))
        .await
    {
        eprintln!("dns_client: {err}");
        return ExitCode::FAILURE;
    }
    let reply = match tokio::time::timeout(Duration::from_secs(2), received.recv()).await {
        Ok(Some(reply)) => reply,
        _ => {
            eprintln!("dns_client: no answer from {server} within 2 s");
            return ExitCode::FAILURE;
        }
    };
    match message::answers(&reply) {
        Ok((header, _)) if header.id != id => {
            eprintln!(
                "dns_client: the answer has ID {} instead of {id}",
                header.id
            );
            ExitCode::FAILURE
        }
        Ok((header, addrs)) if header.rcode() == message::RCODE_NOERROR => {
            for addr in &addrs {
                println!("{name} A {addr}");
            }
            if addrs.is_empty() {
                println!("{name}: no A record");
            }
            ExitCode::SUCCESS
        }
        Ok((header, _)) => {
            let rcode = match header.rcode() {
                message::RCODE_NXDOMAIN => "NXDOMAIN".to_owned(),
                message::RCODE_FORMERR => "FORMERR".to_owned(),
                message::RCODE_NOTIMP => "NOTIMP".to_owned(),
                other => format!("rcode {other}"),
            };
            println!("{name}: {rcode}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("dns_client: {err}");
            ExitCode::FAILURE
        }
    }
}
