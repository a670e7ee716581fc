//! Every example that runs as a service stops gracefully on SIGTERM (systemd's stop
//! signal) and on SIGINT: exit status 0, within its drain deadline.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::start_example;

/// The service examples, what they print first, and the flags for a free port.
const SERVICES: &[(&str, &str, &[&str])] = &[
    ("echo", "tcp", &["--listen", "127.0.0.1:0"]),
    ("chat", "tcp", &["--listen", "127.0.0.1:0"]),
    ("kv_server", "tcp", &["--listen", "127.0.0.1:0"]),
    ("memcache_server", "tcp", &["--listen", "127.0.0.1:0"]),
    ("binary_lines", "tcp", &["--listen", "127.0.0.1:0"]),
    ("tls_echo", "tcp", &["--listen", "127.0.0.1:0"]),
    ("dns_server", "udp", &["--listen", "127.0.0.1:0"]),
];

fn stops_on(signal: &str) {
    let maildir = std::env::temp_dir().join(format!("tendril-signals-{}", std::process::id()));
    let maildir = maildir.to_str().unwrap().to_owned();
    let smtp: &[&str] = &["--listen", "127.0.0.1:0", "--maildir", &maildir];
    for (name, transport, args) in SERVICES.iter().chain([&("smtp_server", "tcp", smtp)]) {
        let mut running = start_example(name, args, transport);
        let status = Command::new("kill")
            .args([signal, &running.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        // Every drain deadline of the examples is at most 5 s.
        let deadline = Instant::now() + Duration::from_secs(10);
        let code = loop {
            if let Some(status) = running.child.try_wait().unwrap() {
                break status.code();
            }
            assert!(Instant::now() < deadline, "{name} did not stop on {signal}");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(code, Some(0), "{name} on {signal}");
    }
    let _ = std::fs::remove_dir_all(&maildir);
}

#[test]
fn services_stop_gracefully_on_sigterm() {
    stops_on("-TERM");
}

#[test]
fn services_stop_gracefully_on_sigint() {
    stops_on("-INT");
}
