//! The `attack` example, the load tool behind README "Under attack", run at a small
//! scale against the example servers: each scenario must find the server's bound
//! holding and the well-behaved probe answered within a second.

use crate::support;

use std::process::Command;

use crate::support::{start_example, start_with_certificate};

/// Runs `attack` with `args`; its output, after checking it succeeded.
fn attack(args: &[&str]) -> String {
    let output = Command::new(support::example("attack"))
        .args(args)
        .output()
        .expect("run attack");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "attack {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The number after `prefix` on the line that starts with it.
fn figure(output: &str, prefix: &str) -> u64 {
    let line = output
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` in:\n{output}"));
    line.trim()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no figure in `{line}`"))
}

#[test]
fn partial_frames_past_the_budget_are_closed_and_the_probe_answered() {
    let echo = start_example(
        "echo",
        &[
            "--listen",
            "127.0.0.1:0",
            "--framer",
            "length-u32",
            "--memory-budget",
            "2097152",
        ],
        "tcp",
    );
    let pid = echo.child.id().to_string();
    // Eight 1 MiB frames (all but a byte) into a 2 MiB budget.
    let out = attack(&[
        "partial",
        "--target",
        &echo.listening,
        "--pid",
        &pid,
        "--conns",
        "8",
        "--size",
        "1048576",
        "--duration",
        "2",
    ]);
    let closed = figure(&out, "closed by the server: ");
    assert!(closed >= 6, "{out}");
    assert!(figure(&out, "server peak RSS: ") < 512, "{out}");
}

#[test]
fn a_full_table_of_idle_connections_does_not_lock_newcomers_out() {
    let echo = start_example(
        "echo",
        &["--listen", "127.0.0.1:0", "--max-connections", "20"],
        "tcp",
    );
    let out = attack(&[
        "idle",
        "--target",
        &echo.listening,
        "--conns",
        "40",
        "--hold",
        "3",
        "--duration",
        "2",
    ]);
    assert!(out.contains("the active connection was kept"), "{out}");
    assert!(figure(&out, "idle connections closed by the server (shed): ") >= 1);
}

#[test]
fn over_long_lines_never_take_descriptors_past_the_bound() {
    let echo = start_example(
        "echo",
        &["--listen", "127.0.0.1:0", "--max-connections", "50"],
        "tcp",
    );
    let pid = echo.child.id().to_string();
    let out = attack(&[
        "line-limit",
        "--target",
        &echo.listening,
        "--pid",
        &pid,
        "--conns",
        "200",
        "--duration",
        "2",
    ]);
    assert!(
        figure(&out, "server descriptors: at most ") <= 50 + 100,
        "{out}"
    );
}

/// Runs `server` with a fresh certificate (and a maildir if it needs one), floods it with the
/// `scenario` (more silent clients than its 256 handshake slots, topped up each
/// second), and checks that some of the silent ones (`noun`) were shed.
fn silent_flood(server: &str, maildir: bool, scenario: &str, noun: &str) {
    let dir = std::env::temp_dir().join(format!("tendril-{scenario}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let maildir_path = dir.join("maildir");
    let mut args = vec!["--listen", "127.0.0.1:0"];
    if maildir {
        args.extend(["--maildir", maildir_path.to_str().unwrap()]);
    }
    let (running, cert, _) = start_with_certificate(server, &dir, &args);
    let out = attack(&[
        scenario,
        "--target",
        &running.listening,
        "--conns",
        "300",
        "--rate",
        "25",
        "--duration",
        "3",
        "--ca",
        &cert,
    ]);
    assert!(
        figure(&out, &format!("{noun} closed by the server: ")) >= 1,
        "{out}"
    );
    drop(running);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn silent_tls_clients_never_keep_a_real_one_waiting() {
    silent_flood("tls_echo", false, "tls", "silent connections");
}

#[test]
fn silent_starttls_upgrades_never_keep_a_real_one_waiting() {
    silent_flood("smtp_server", true, "starttls", "silent upgrades");
}

/// One source holding a full table and reopening what is closed: clients from another
/// address are still served (fair admission), nine in ten within a second at least
/// (the scenario's own verdict, its exit status).
#[test]
fn reconnect_churn_from_one_source_does_not_lock_others_out() {
    let echo = start_example(
        "echo",
        &["--listen", "127.0.0.1:0", "--max-connections", "40"],
        "tcp",
    );
    let out = attack(&[
        "churn",
        "--target",
        &echo.listening,
        "--conns",
        "60",
        "--duration",
        "2",
    ]);
    assert!(figure(&out, "probes from 127.0.0.3: ") >= 7, "{out}");
}
