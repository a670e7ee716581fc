//! `echo --transport quic` against a QUIC implementation that is not quinn: aioquic
//! (Python, installed by `.ci/run`; skipped where missing unless
//! `TENDRIL_REQUIRE_TOOLS` is set): many streams on one connection, each echoed
//! exactly and finished.

use std::process::Command;

use serde_json::Value;

use crate::support::{self, start_example};

fn aioquic() -> bool {
    let probe = Command::new("python3")
        .args(["-c", "import aioquic"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !probe {
        assert!(
            std::env::var_os("TENDRIL_REQUIRE_TOOLS").is_none(),
            "aioquic is required (TENDRIL_REQUIRE_TOOLS is set) but does not import"
        );
        eprintln!("aioquic is not installed: skipped");
    }
    probe
}

#[test]
fn aioquic_streams_are_each_echoed_and_finished() {
    if !aioquic() {
        return;
    }
    let server = start_example(
        "echo",
        &["--transport", "quic", "--listen", "127.0.0.1:0"],
        "quic",
    );
    let port = server.listening.rsplit_once(':').unwrap().1;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/quic_echo.py");
    let out = support::run_ok(Command::new("python3").args([script, port, "100", "20"]));
    let saw: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(saw["exact"], 100, "{saw}");
    assert_eq!(saw["finished"], 100, "{saw}");
}

/// A flood of handshakes that never complete (fresh sources that never answer, past
/// the 64 in progress after which unvalidated sources get a Retry) leaves a real
/// client served (`bench/quic_flood.py`, small here; its full-size figure is in the
/// README).
#[test]
fn a_handshake_flood_leaves_a_real_client_served() {
    if !aioquic() {
        return;
    }
    let server = start_example(
        "echo",
        &["--transport", "quic", "--listen", "127.0.0.1:0"],
        "quic",
    );
    let port = server.listening.rsplit_once(':').unwrap().1;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/quic_flood.py");
    let out = support::run_ok(Command::new("python3").args([script, port, "300"]));
    let saw: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(saw["handshakes"], 300, "{saw}");
    assert!(saw["real_client_after_ms"].as_f64().is_some(), "{saw}");
}

/// `echo --transport quic --listen systemd` serves the UDP socket systemd passes
/// (socket activation: the first client's Initial starts it).
#[test]
#[cfg(all(unix, feature = "systemd"))]
fn socket_activated_quic() {
    if !aioquic() || !support::have_tool("systemd-socket-activate", &["--version"]) {
        return;
    }
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let _activator = support::Killed(
        Command::new("systemd-socket-activate")
            .args(["--datagram", "-l", &format!("127.0.0.1:{port}")])
            .arg(support::example("echo"))
            .args(["--transport", "quic", "--listen", "systemd"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start systemd-socket-activate"),
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/quic_echo.py");
    let out = support::run_ok(Command::new("python3").args([script, &port, "5", "3"]));
    let saw: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(saw["exact"], 5, "{saw}");
}
