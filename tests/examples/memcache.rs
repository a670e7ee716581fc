//! The `memcache_server` and `memcache_client` examples against the peers a user has:
//! Python's pymemcache as the server's client, a real `memcached` as the client's
//! server (both installed by `.ci/run`; skipped where missing unless
//! `TENDRIL_REQUIRE_TOOLS` is set).

use crate::support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{free_port, have_tool, start_example, Killed};

/// Runs a Python script with pymemcache against `server` ("host:port"); its stdout.
fn pymemcache(server: &str, script: &str) -> Option<String> {
    let probe = Command::new("python3")
        .args(["-c", "import pymemcache"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !probe {
        assert!(
            std::env::var_os("TENDRIL_REQUIRE_TOOLS").is_none(),
            "pymemcache is required (TENDRIL_REQUIRE_TOOLS is set) but does not import"
        );
        eprintln!("pymemcache is not installed: skipped");
        return None;
    }
    let (host, port) = server.rsplit_once(':').unwrap();
    let prelude = format!(
        "from pymemcache.client.base import Client\n\
         c = Client(('{host}', {port}), default_noreply=False, timeout=20, connect_timeout=20)\n"
    );
    Some(support::run_ok(
        Command::new("python3").args(["-c", &format!("{prelude}{script}")]),
    ))
}

#[test]
fn pymemcache_stores_reads_and_deletes() {
    let server = start_example("memcache_server", &["--listen", "127.0.0.1:0"], "tcp");
    let script = r#"
assert c.set('a', b'hello\r\nworld')
assert c.get('a') == b'hello\r\nworld'
assert c.get_many(['a', 'missing']) == {'a': b'hello\r\nworld'}
value, cas = c.gets('a')
assert value == b'hello\r\nworld'
assert c.cas('a', b'second', cas) is True
assert c.cas('a', b'third', cas) is False
assert c.get('a') == b'second'
assert c.add('a', b'x') is False
assert c.add('b', b'') is True and c.get('b') == b''
assert c.replace('missing', b'y') is False
assert c.delete('a') is True
assert c.delete('a') is False
assert c.get('a') is None
c.set('quiet', b'1', noreply=True)
assert c.get('quiet') == b'1'
assert c.set('gone', b'v', expire=-1) and c.get('gone') is None
try:
    c.set('big', b'x' * (2 << 20))
    raise SystemExit('a value over --max-item was stored')
except Exception as err:
    assert 'too large' in str(err), err
assert c.set('after', b'still in step') and c.get('after') == b'still in step'
print('ok')
"#;
    if let Some(out) = pymemcache(&server.listening, script) {
        assert_eq!(out, "ok\n");
    }
}

/// A command line longer than the limit closes that connection only, and the server
/// says why at its default log level.
#[test]
fn an_endless_command_line_closes_its_connection_only() {
    let mut child = Command::new(support::example("memcache_server"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = Vec::new();
    let mut byte = [0u8];
    while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        first.push(byte[0]);
    }
    let first = String::from_utf8(first).unwrap();
    let addr = first.strip_prefix("listening on tcp ").unwrap().to_owned();
    let mut stderr = child.stderr.take().unwrap();
    let server = Killed(child);
    // (Killed only if the test fails first.)
    let mut attacker = std::net::TcpStream::connect(&addr).unwrap();
    attacker
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // 8 KiB is the limit; the attacker never ends the line.
    let _ = attacker.write_all(&vec![b'g'; 64 * 1024]);
    let mut rest = Vec::new();
    let _ = attacker.read_to_end(&mut rest);
    assert!(rest.is_empty());
    let mut healthy = std::net::TcpStream::connect(&addr).unwrap();
    healthy
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    healthy
        .write_all(b"set k 0 0 2\r\nhi\r\nget k\r\n")
        .unwrap();
    let want = b"STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\n";
    let mut got = vec![0u8; want.len()];
    healthy.read_exact(&mut got).unwrap();
    assert_eq!(&got[..], &want[..]);
    drop((healthy, attacker));
    // A graceful stop waits for every connection's task, its close event included.
    support::signal(server.0.id(), "-TERM");
    let mut log = String::new();
    stderr.read_to_string(&mut log).unwrap();
    let events: Vec<&str> = log.lines().collect();
    assert_eq!(events.len(), 1, "{log}");
    assert!(
        events[0].contains(" INFO ")
            && events[0].contains("connection closed by a limit")
            && events[0].contains("reason=framing error: line longer than 8192 bytes"),
        "{log}"
    );
}

#[test]
fn the_client_checks_every_answer_of_a_real_memcached() {
    if !have_tool("memcached", &["--version"]) {
        return;
    }
    let port = free_port();
    let _memcached = Killed(
        Command::new("memcached")
            .args(["-l", "127.0.0.1", "-p", &port.to_string(), "-U", "0"])
            // memcached refuses to run as root without a user to switch to.
            .args(if is_root() {
                &["-u", "root"][..]
            } else {
                &[][..]
            })
            .stdout(Stdio::null())
            .spawn()
            .expect("start memcached"),
    );
    support::connect_when_up(port);
    let server = format!("127.0.0.1:{port}");
    for args in [
        &["--requests", "2000"][..],
        &["--requests", "40", "--value-size", "300000"][..],
    ] {
        let stdout = support::run_ok(
            Command::new(support::example("memcache_client"))
                .args(["--server", &server])
                .args(args),
        );
        assert!(
            stdout.starts_with(&format!("{} requests in ", args[1]))
                && stdout.ends_with("requests/s), a get of 10 keys\n"),
            "{stdout}"
        );
    }
}

#[test]
fn the_client_and_the_server_agree() {
    let server = start_example("memcache_server", &["--listen", "127.0.0.1:0"], "tcp");
    let stdout = support::run_ok(Command::new(support::example("memcache_client")).args([
        "--server",
        &server.listening,
        "--requests",
        "1000",
    ]));
    assert!(stdout.starts_with("1000 requests in "), "{stdout}");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}
