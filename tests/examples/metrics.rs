//! `echo --metrics`: the counters as Prometheus text, scraped with curl and checked
//! with Prometheus's own `promtool`. Skipped where the tools are missing, unless
//! `TENDRIL_REQUIRE_TOOLS` is set (as `.ci/run` does).

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The value of the series `name{...}` whose labels contain `labels`.
pub fn value(text: &str, name: &str, labels: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| line.starts_with(&format!("{name}{{")) && line.contains(labels))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// Prometheus's own checker accepts `text` (names, types, syntax).
pub fn assert_promtool_accepts(text: &str) {
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

/// The exposition at `url`, fetched with curl.
pub fn scrape(url: &str) -> String {
    support::run_ok(Command::new("curl").args([
        "--silent",
        "--show-error",
        "--fail",
        "--max-time",
        "20",
        url,
    ]))
}

#[test]
fn curl_scrapes_promtool_accepts_and_frames_match_the_traffic() {
    if !support::have_tool("curl", &["--version"])
        || !support::have_tool("promtool", &["--version"])
    {
        return;
    }
    let mut child = Command::new(support::example("echo"))
        .args(["--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let _child = support::Killed(child);
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let echo = first
        .trim_end()
        .strip_prefix("listening on tcp ")
        .unwrap()
        .to_owned();
    let mut second = String::new();
    stdout.read_line(&mut second).unwrap();
    let url = second
        .trim_end()
        .strip_prefix("metrics on ")
        .unwrap_or_else(|| panic!("{second:?}"))
        .to_owned();

    // Seventeen silent connections from one address (the endpoint holds 16) do not
    // lock the scrapes out: one address holds 8 at most.
    let metrics_addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .parse()
        .unwrap();
    let _squatters: Vec<socket2::Socket> = (0..17)
        .map(|_| {
            let socket =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            let from: std::net::SocketAddr = "127.0.0.2:0".parse().unwrap();
            socket.bind(&from.into()).unwrap();
            socket.connect(&metrics_addr.into()).unwrap();
            socket
        })
        .collect();

    let mut stream = TcpStream::connect(&echo).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(b"a\r\nb\r\nc\r\nd\r\ne\r\n").unwrap();
    let mut echoed = [0u8; 15];
    stream.read_exact(&mut echoed).unwrap();

    let text = scrape(&url);
    let labels = format!("endpoint=\"{echo}\"");
    assert_eq!(
        value(&text, "tendril_frames_received_total", &labels),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "tendril_frames_sent_total", &labels),
        Some(5.0)
    );
    assert_eq!(value(&text, "tendril_connections_open", &labels), Some(1.0));
    assert_eq!(
        value(&text, "tendril_received_bytes_total", &labels),
        Some(15.0)
    );
    // Prometheus's own checker accepts the exposition (names, types, syntax).
    assert_promtool_accepts(&text);

    // The peer leaves: a later scrape counts the close by its reason.
    drop(stream);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = scrape(&url);
        if value(&text, "tendril_connections_closed_total", "reason=\"peer\"") == Some(1.0) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
