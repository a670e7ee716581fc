use tendril_net::framer::NAMES;
use tendril_net::{Manager, TcpManager};

use crate::support::*;

fn sample(name: &str) -> Vec<&'static [u8]> {
    match name {
        // Frames must be valid for the framer: no LF in lines, no NUL for nul, and the
        // dot framer's bodies end with CRLF.
        "line" | "line-lf" => vec![b"hello", b"", b"\x00\xff binary"],
        "nul" => vec![b"hello", b"", b"\xff\r\n"],
        "dot" => vec![b"Subject: x\r\n\r\n.dot\r\n", b""],
        "identity" => vec![b"one read"],
        "length-u8" => vec![b"hello", b"", &[0u8; 255]],
        _ => vec![b"hello", b"", b"\x00\x00\xff\xff\xff\xff\xfe", &[7u8; 1000]],
    }
}

#[tokio::test]
async fn echo_for_every_framer() {
    for &name in NAMES {
        let (manager, addr) = echo_server(TcpManager::new(localhost()), name);
        let frames = sample(name);
        let mut stream = client(addr, &encode(name, &frames)).await;
        let echoed = read_frames(&mut stream, name, frames.len()).await;
        let echoed: Vec<&[u8]> = echoed.iter().map(|f| &f[..]).collect();
        if name == "identity" {
            assert_eq!(echoed.concat(), frames.concat(), "{name}");
        } else {
            assert_eq!(echoed, frames, "{name}");
        }
        manager.shutdown();
    }
}

#[tokio::test]
async fn ipv6_loopback_when_available() {
    let Ok(probe) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("no ::1 on this machine: skipped");
        return;
    };
    drop(probe);
    let (manager, addr) = echo_server(TcpManager::new("[::1]:0".parse().unwrap()), "line");
    assert!(addr.is_ipv6());
    let mut stream = client(addr, b"over six\r\n").await;
    assert_eq!(read_frames(&mut stream, "line", 1).await, ["over six"]);
    manager.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_connections_echo_correctly() {
    let manager = TcpManager::builder(localhost())
        .max_connections(2000)
        .build();
    let (manager, addr) = echo_server(manager, "length-u16");
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..1000u32 {
        clients.spawn(async move {
            let frames: Vec<Vec<u8>> = (0..5)
                .map(|j| format!("client {i} frame {j}").into_bytes())
                .collect();
            let refs: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
            let mut stream = client(addr, &encode("length-u16", &refs)).await;
            let echoed = read_frames(&mut stream, "length-u16", 5).await;
            assert_eq!(echoed, frames);
        });
    }
    within(async {
        while let Some(result) = clients.join_next().await {
            result.unwrap();
        }
    })
    .await;
    eventually(|| manager.stats().frames_out == 5000).await;
    let stats = manager.stats();
    assert_eq!(stats.total, 1000);
    assert_eq!(stats.frames_in, 5000);
    manager.shutdown();
}
