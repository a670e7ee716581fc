//! `echo --transport quic` against a QUIC implementation that is not quinn: aioquic
//! (Python, installed by `.ci/run`; skipped where missing unless
//! `TENDRIL_REQUIRE_TOOLS` is set): many streams on one connection, each echoed
//! exactly and finished; a handshake flood; socket activation; `--reuse-port`; the
//! QUIC counters in the metrics.

use std::process::Command;

use serde_json::Value;

use crate::support::{self, start_example, Running};

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

/// An `echo --transport quic` example on a free port, with `extra` flags.
fn quic_echo(extra: &[&str]) -> Running {
    let mut args = vec!["--transport", "quic", "--listen", "127.0.0.1:0"];
    args.extend(extra);
    start_example("echo", &args, "quic")
}

/// The port of an example's `listening on quic ADDR`.
fn port_of(server: &Running) -> &str {
    server.listening.rsplit_once(':').unwrap().1
}

/// Runs the aioquic echo client (`tests/python/quic_echo.py`) against `port` with
/// `streams` streams of `lines` lines each: what it saw.
fn aioquic_echo(port: &str, streams: usize, lines: usize) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/quic_echo.py");
    let (streams, lines) = (streams.to_string(), lines.to_string());
    let out = support::run_ok(Command::new("python3").args([script, port, &streams, &lines]));
    serde_json::from_str(out.trim()).unwrap()
}

/// A free UDP port on loopback (bound then released, for a process that binds it next).
fn free_udp_port() -> String {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string()
}

#[test]
fn aioquic_streams_are_each_echoed_and_finished() {
    if !aioquic() {
        return;
    }
    let server = quic_echo(&[]);
    let saw = aioquic_echo(port_of(&server), 100, 20);
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
    let server = quic_echo(&[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/quic_flood.py");
    let out = support::run_ok(Command::new("python3").args([script, port_of(&server), "300"]));
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
    let port = free_udp_port();
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
    let saw = aioquic_echo(&port, 5, 3);
    assert_eq!(saw["exact"], 5, "{saw}");
}

/// `echo --transport quic --metrics ADDR` publishes the QUIC manager's own counters
/// beside the engine's (`Manager::transport_metrics`), and promtool accepts them.
#[test]
#[cfg(feature = "metrics")]
fn quic_counters_are_published() {
    use std::io::BufRead;

    use crate::metrics::{assert_promtool_accepts, scrape, value};

    if !aioquic()
        || !support::have_tool("curl", &["--version"])
        || !support::have_tool("promtool", &["--version"])
    {
        return;
    }
    let mut server = quic_echo(&["--metrics", "127.0.0.1:0"]);
    let mut second = String::new();
    server.stdout.read_line(&mut second).unwrap();
    let url = second
        .trim_end()
        .strip_prefix("metrics on ")
        .unwrap()
        .to_owned();
    aioquic_echo(port_of(&server), 3, 2);
    let text = scrape(&url);
    let labels = format!("endpoint=\"{}\"", server.listening);
    for (name, expected) in [
        ("tendril_quic_accepted_total", 1.0),
        ("tendril_quic_streams_total", 3.0),
        ("tendril_frames_received_total", 6.0),
    ] {
        assert_eq!(
            value(&text, name, &labels),
            Some(expected),
            "{name}: {text}"
        );
    }
    assert_promtool_accepts(&text);
}

/// `--reuse-port`: two processes serve one QUIC port (the second could not bind it
/// otherwise), and a client is served by whichever the kernel picks.
#[test]
fn two_processes_share_one_quic_port_with_reuse_port() {
    if !aioquic() {
        return;
    }
    let port = free_udp_port();
    let listen = format!("127.0.0.1:{port}");
    let args = ["--transport", "quic", "--listen", &listen, "--reuse-port"];
    let _first = start_example("echo", &args, "quic");
    let _second = start_example("echo", &args, "quic");
    let saw = aioquic_echo(&port, 4, 2);
    assert_eq!(saw["exact"], 4, "{saw}");
}
