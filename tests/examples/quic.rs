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

/// `echo --transport quic --metrics ADDR` publishes the QUIC manager's own counters
/// beside the engine's (`Manager::transport_metrics`), and promtool accepts them.
#[test]
#[cfg(feature = "metrics")]
fn quic_counters_are_published() {
    use std::io::BufRead;

    use crate::metrics::{scrape, value};

    if !aioquic()
        || !support::have_tool("curl", &["--version"])
        || !support::have_tool("promtool", &["--version"])
    {
        return;
    }
    let mut server = start_example(
        "echo",
        &[
            "--transport",
            "quic",
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
        ],
        "quic",
    );
    let mut second = String::new();
    server.stdout.read_line(&mut second).unwrap();
    let url = second
        .trim_end()
        .strip_prefix("metrics on ")
        .unwrap()
        .to_owned();
    let port = server.listening.rsplit_once(':').unwrap().1;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/quic_echo.py");
    support::run_ok(Command::new("python3").args([script, port, "3", "2"]));
    let text = scrape(&url);
    let labels = format!("endpoint=\"{}\"", server.listening);
    assert_eq!(
        value(&text, "tendril_quic_accepted_total", &labels),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "tendril_quic_streams_total", &labels),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "tendril_frames_received_total", &labels),
        Some(6.0),
        "{text}"
    );
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

/// `--reuse-port`: two processes serve one QUIC port (the second could not bind it
/// otherwise), and a client is served by whichever the kernel picks.
#[test]
fn two_processes_share_one_quic_port_with_reuse_port() {
    if !aioquic() {
        return;
    }
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let listen = format!("127.0.0.1:{port}");
    let args = ["--transport", "quic", "--listen", &listen, "--reuse-port"];
    let _first = start_example("echo", &args, "quic");
    let _second = start_example("echo", &args, "quic");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/quic_echo.py");
    let out = support::run_ok(Command::new("python3").args([script, &port, "4", "2"]));
    let saw: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(saw["exact"], 4, "{saw}");
}
