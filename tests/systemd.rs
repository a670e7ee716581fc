//! `passed_sockets` reads the environment once and only takes sockets meant for this
//! process (its own test binary: the environment is process-wide and read once).
#![cfg(all(unix, feature = "systemd"))]

use tendril_net::manager::systemd::passed_sockets;

#[test]
fn sockets_for_another_process_are_not_taken_and_their_variables_are_left_alone() {
    // Descriptor 3 of a test process is whatever the harness opened: claiming it for
    // another pid must leave it alone.
    std::env::set_var("LISTEN_FDS", "1");
    std::env::set_var("LISTEN_PID", (std::process::id() + 1).to_string());
    std::env::set_var("LISTEN_FDNAMES", "web");
    assert!(passed_sockets().unwrap().is_empty());
    // Not this process's to change (and changing the environment races other threads).
    assert_eq!(std::env::var("LISTEN_FDNAMES").as_deref(), Ok("web"));
    assert_eq!(std::env::var("LISTEN_FDS").as_deref(), Ok("1"));
    // Read once: a later call finds nothing, whatever the environment says.
    std::env::set_var("LISTEN_FDS", "1");
    std::env::set_var("LISTEN_PID", std::process::id().to_string());
    assert!(passed_sockets().unwrap().is_empty());
}
