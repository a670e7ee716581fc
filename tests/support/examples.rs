//! The example programs, built and run as processes.

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
        cargo.args(["build", "-p", "tendril-net", "--example", name]);
        // The features this test was built with (the examples' flags depend on them).
        let features: Vec<&str> = [
            ("tls", cfg!(feature = "tls")),
            ("proxy-protocol", cfg!(feature = "proxy-protocol")),
            ("systemd", cfg!(feature = "systemd")),
            ("metrics", cfg!(feature = "metrics")),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        if !features.is_empty() {
            cargo.args(["--features", &features.join(",")]);
        }
        if !cfg!(debug_assertions) {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("run cargo");
        assert!(status.success(), "building the {name} example failed");
    }
    path
}

/// An example process that printed `listening on TRANSPORT ADDR`; killed when dropped.
pub struct Running {
    pub child: std::process::Child,
    /// What follows `listening on TRANSPORT ` on the first line.
    pub listening: String,
    /// The rest of its stdout, kept open: a process writing to a closed pipe fails.
    pub stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts example `name` with `args` and reads its `listening on TRANSPORT ADDR` line.
pub fn start_example(name: &str, args: &[&str], transport: &str) -> Running {
    use std::io::BufRead;
    let mut child = Command::new(example(name))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap_or_else(|err| panic!("spawn {name}: {err}"));
    let mut first = String::new();
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
    stdout.read_line(&mut first).expect("read the first line");
    let prefix = format!("listening on {transport} ");
    let Some(listening) = first.strip_prefix(&prefix) else {
        let _ = child.kill();
        panic!("{name}: unexpected first line {first:?}");
    };
    Running {
        listening: listening.trim_end().to_owned(),
        child,
        stdout,
    }
}

/// A self-signed certificate for `localhost` written to `dir`: its file paths
/// (certificate, key) and the certificate's PEM, for a client to trust.
pub fn certificate_files(dir: &std::path::Path) -> (String, String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (
        cert.to_str().unwrap().to_owned(),
        key.to_str().unwrap().to_owned(),
        made.cert.pem(),
    )
}

/// Starts example `name` with `args` and a certificate for `localhost` made now (its
/// files written to `dir`, given as `--tls-cert`/`--tls-key`); returns the process,
/// the certificate file's path, and its PEM for a client to trust.
pub fn start_with_certificate(
    name: &str,
    dir: &std::path::Path,
    args: &[&str],
) -> (Running, String, String) {
    let (cert, key, pem) = certificate_files(dir);
    let mut all = args.to_vec();
    all.extend(["--tls-cert", &cert, "--tls-key", &key]);
    (start_example(name, &all, "tcp"), cert, pem)
}

/// True if the real tool `name` runs (`name args...`). When it does not, the test is
/// skipped (false, with a note), unless `TENDRIL_REQUIRE_TOOLS` is set, as `.ci/run`
/// sets it: then a missing tool fails the test.
pub fn have_tool(name: &str, args: &[&str]) -> bool {
    if Command::new(name).args(args).output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("TENDRIL_REQUIRE_TOOLS").is_none(),
        "{name} is required (TENDRIL_REQUIRE_TOOLS is set) but does not run"
    );
    eprintln!("{name} is not installed: skipped");
    false
}

/// A process killed when the test ends, however it ends.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback TCP port (bound then released, for a tool that binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Connects to loopback `port` once it accepts (bounded: 10 s), with a 20 s read
/// timeout.
pub fn connect_when_up(port: u16) -> std::net::TcpStream {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => {
                stream
                    .set_read_timeout(Some(std::time::Duration::from_secs(20)))
                    .unwrap();
                return stream;
            }
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(err) => panic!("port {port} never accepted: {err}"),
        }
    }
}

/// Writes `line` and checks that it comes back as it was.
pub fn exchange(stream: &mut std::net::TcpStream, line: &[u8]) {
    use std::io::{Read, Write};
    stream.write_all(line).unwrap();
    let mut echoed = vec![0u8; line.len()];
    stream.read_exact(&mut echoed).unwrap();
    assert_eq!(echoed, line);
}

/// Runs `command` to its end: its stdout, or the test fails with its stderr.
pub fn run_ok(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("{command:?}: {err}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Sends signal `name` (`-TERM`, `-INT`, `-HUP`) to process `pid`, with `kill`.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([name, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {name} {pid}");
}

/// Waits (bounded: 20 s) for `child` to exit; its exit code (`None` if a signal
/// ended it). Kills it and fails the test if it does not exit.
pub fn wait_exit(child: &mut std::process::Child) -> Option<i32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return status.code();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("the process did not exit within 20 s");
}
