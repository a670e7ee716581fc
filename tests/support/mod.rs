//! Helpers shared by the tests that run the examples as processes.

use std::path::PathBuf;
use std::process::Command;

/// The path of example `name`, built by `cargo test` (or built now, for a filtered run
/// such as `cargo test --test framecat`).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args(["build", "--example", name]);
        if !cfg!(debug_assertions) {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("run cargo");
        assert!(status.success(), "building the {name} example failed");
    }
    path
}
