//! The `echo` example behind a real HAProxy: one frontend sends PROXY v2, the other
//! v1; `echo --proxy-protocol --announce` tells each client its own address, and a
//! direct connection without a header gets no echo. Skipped where haproxy is not
//! installed, unless `TENDRIL_REQUIRE_TOOLS` is set (as `.ci/run` does).

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use crate::support::{connect_when_up, free_port, Killed};

fn line(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    line
}

#[test]
fn behind_haproxy_each_client_is_told_its_own_address() {
    if !support::have_tool("haproxy", &["-v"]) {
        return;
    }
    let echo = support::start_example(
        "echo",
        &["--listen", "127.0.0.1:0", "--proxy-protocol", "--announce"],
        "tcp",
    );
    let (v2_port, v1_port) = (free_port(), free_port());
    let config = format!(
        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
         frontend v2\n  bind 127.0.0.1:{v2_port}\n  default_backend echo_v2\n\
         frontend v1\n  bind 127.0.0.1:{v1_port}\n  default_backend echo_v1\n\
         backend echo_v2\n  server echo {echo} send-proxy-v2\n\
         backend echo_v1\n  server echo {echo} send-proxy\n",
        echo = echo.listening
    );
    let dir = std::env::temp_dir().join(format!("tendril-haproxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, config).unwrap();
    let _proxy = Killed(
        Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&path)
            .stdout(Stdio::null())
            .spawn()
            .expect("start haproxy"),
    );
    for port in [v2_port, v1_port] {
        let mut stream = connect_when_up(port);
        let me = stream.local_addr().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        assert_eq!(
            line(&mut reader),
            format!("you are {me}\r\n"),
            "via port {port}"
        );
        stream.write_all(b"hello\r\n").unwrap();
        assert_eq!(line(&mut reader), "hello\r\n");
    }
    // Straight to echo, without a header: refused, nothing echoed.
    let mut direct = connect_when_up(echo.listening.rsplit(':').next().unwrap().parse().unwrap());
    direct.write_all(b"hello\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = direct.read_to_end(&mut rest);
    assert_eq!(rest, b"", "no echo without a PROXY header");
    let _ = std::fs::remove_dir_all(&dir);
}
