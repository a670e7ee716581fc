//! Every example that runs as a service stops gracefully on SIGTERM (systemd's stop
//! signal) and on SIGINT: exit status 0, within its drain deadline.

use std::time::{Duration, Instant};

use crate::support::{self, start_example};

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
        let sent = Instant::now();
        support::signal(running.child.id(), signal);
        let code = support::wait_exit(&mut running.child);
        assert_eq!(code, Some(0), "{name} on {signal}");
        // Every drain deadline of the examples is at most 5 s.
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "{name} did not stop on {signal} in time"
        );
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
