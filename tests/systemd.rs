//! `passed_sockets` reads the environment once and only takes sockets meant for this
//! process (its own test binary: the environment is process-wide and read once).
#![cfg(all(unix, feature = "systemd"))]

use tendril_net::manager::systemd::passed_sockets;

#[test]
fn sockets_for_another_process_are_not_taken_and_the_variables_are_cleared() {
    // Descriptor 3 of a test process is whatever the harness opened: claiming it for
    // another pid must leave it alone.
    std::env::set_var("LISTEN_FDS", "1");
    std::env::set_var("LISTEN_PID", (std::process::id() + 1).to_string());
    std::env::set_var("LISTEN_FDNAMES", "web");
    assert!(passed_sockets().unwrap().is_empty());
    for variable in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] {
        assert!(std::env::var_os(variable).is_none(), "{variable} cleared");
    }
    // Read once: a later call finds nothing, whatever the environment says.
    std::env::set_var("LISTEN_FDS", "1");
    std::env::set_var("LISTEN_PID", std::process::id().to_string());
    assert!(passed_sockets().unwrap().is_empty());
}
