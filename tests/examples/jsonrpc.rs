//! The `jsonrpc_server` example against a JSON-RPC implementation nobody here wrote:
//! vscode-jsonrpc (the library VS Code speaks LSP with, installed by `.ci/run` with
//! npm into `tests/node`), over TCP and over the server's stdin/stdout; the error
//! answers and batches over a raw socket; and the `jsonrpc_client` example.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

use crate::support::{self, start_example};

/// `tests/node`, if vscode-jsonrpc is installed there and node runs; skipped (with a
/// note) otherwise, unless `TENDRIL_REQUIRE_TOOLS` is set.
fn vscode_jsonrpc() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    let installed = dir
        .join("node_modules/vscode-jsonrpc/package.json")
        .exists();
    if installed && support::have_tool("node", &["--version"]) {
        return Some(dir);
    }
    assert!(
        std::env::var_os("TENDRIL_REQUIRE_TOOLS").is_none(),
        "vscode-jsonrpc is required (TENDRIL_REQUIRE_TOOLS is set): npm install --prefix tests/node"
    );
    eprintln!("vscode-jsonrpc is not installed in tests/node: skipped");
    None
}

/// Runs the vscode-jsonrpc client script with `args`; what it saw.
fn node_client(dir: &std::path::Path, args: &[&str]) -> Value {
    let out = support::run_ok(
        Command::new("node")
            .arg(dir.join("jsonrpc_client.js"))
            .args(args),
    );
    serde_json::from_str(out.trim()).unwrap_or_else(|err| panic!("{out:?}: {err}"))
}

fn assert_saw_everything(saw: &Value) {
    assert_eq!(saw["greets"], 200, "200 distinct greet answers: {saw}");
    assert_eq!(saw["logs"], 200, "{saw}");
    assert_eq!(saw["whoami"], 200, "one callback per greet: {saw}");
    assert_eq!(saw["add"], 5, "{saw}");
    assert_eq!(saw["unknown"], -32601, "{saw}");
    assert_eq!(saw["cancelled"], -32800, "{saw}");
    assert!(saw["cancelMs"].as_u64().unwrap() < 5000, "{saw}");
}

#[test]
fn vscode_jsonrpc_over_tcp() {
    let Some(dir) = vscode_jsonrpc() else { return };
    let server = start_example("jsonrpc_server", &["--listen", "127.0.0.1:0"], "tcp");
    let port = server.listening.rsplit_once(':').unwrap().1;
    assert_saw_everything(&node_client(&dir, &["tcp", port]));
}

#[test]
fn vscode_jsonrpc_over_stdio() {
    let Some(dir) = vscode_jsonrpc() else { return };
    let server = support::example("jsonrpc_server");
    // The script starts the server with --stdio, and checks it exits 0 once its
    // input ends.
    assert_saw_everything(&node_client(&dir, &["stdio", server.to_str().unwrap()]));
}

/// One message with the LSP framing, and the answer (if `answered`).
fn exchange(stream: &mut TcpStream, body: &[u8]) -> Value {
    write!(stream, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
    stream.write_all(body).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        let (name, value) = line.split_once(':').expect("a header line");
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.trim().parse::<usize>().unwrap());
        }
    }
    let mut message = vec![0; length.expect("a Content-Length")];
    reader.read_exact(&mut message).unwrap();
    serde_json::from_slice(&message).unwrap()
}

#[test]
fn errors_and_batches_are_answered_as_json_rpc_says() {
    let server = start_example("jsonrpc_server", &["--listen", "127.0.0.1:0"], "tcp");
    let mut stream = TcpStream::connect(&server.listening).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let code = |answer: &Value| answer["error"]["code"].clone();

    let parse = exchange(&mut stream, br#"{"jsonrpc": "2.0", "method": "add", "#);
    assert_eq!(
        (code(&parse), parse["id"].clone()),
        (json!(-32700), Value::Null)
    );
    let invalid = exchange(&mut stream, br#"{"jsonrpc": "2.0", "id": 4}"#);
    assert_eq!(
        (code(&invalid), invalid["id"].clone()),
        (json!(-32600), json!(4))
    );
    let no_version = exchange(
        &mut stream,
        br#"{"method": "add", "params": [1, 2], "id": 5}"#,
    );
    assert_eq!(code(&no_version), json!(-32600));
    let params = exchange(
        &mut stream,
        br#"{"jsonrpc": "2.0", "method": "add", "params": {}, "id": 6}"#,
    );
    assert_eq!(code(&params), json!(-32602));
    let empty = exchange(&mut stream, b"[]");
    assert_eq!(code(&empty), json!(-32600));

    // A batch: answered as an array, the notification in it without an answer.
    let batch = exchange(
        &mut stream,
        br#"[{"jsonrpc": "2.0", "method": "add", "params": [1, 2], "id": "a"},
            {"jsonrpc": "2.0", "method": "add", "params": [3, 4]},
            {"jsonrpc": "2.0", "method": "nope", "id": "b"},
            1]"#,
    );
    let answers = batch.as_array().expect("an array");
    assert_eq!(answers.len(), 3, "{batch}");
    assert_eq!(
        answers[0],
        json!({"jsonrpc": "2.0", "id": "a", "result": 3})
    );
    assert_eq!(code(&answers[1]), json!(-32601));
    assert_eq!(code(&answers[2]), json!(-32600));

    // A notification alone is not answered: the next answer is the next request's.
    stream
        .write_all(
            b"Content-Length: 47\r\n\r\n{\"jsonrpc\":\"2.0\",\"method\":\"add\",\"params\":[1,1]}",
        )
        .unwrap();
    let after = exchange(
        &mut stream,
        br#"{"jsonrpc": "2.0", "method": "add", "params": [2.5, 1], "id": 7}"#,
    );
    assert_eq!(after, json!({"jsonrpc": "2.0", "id": 7, "result": 3.5}));
}

#[test]
fn the_client_example_serves_whoami_and_calls_greet() {
    let server = start_example("jsonrpc_server", &["--listen", "127.0.0.1:0"], "tcp");
    let out = support::run_ok(Command::new(support::example("jsonrpc_client")).args([
        "--connect",
        &server.listening,
        "--calls",
        "20",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    let hellos: HashSet<&str> = lines
        .iter()
        .copied()
        .filter(|line| line.starts_with("\"hello client-"))
        .collect();
    assert_eq!(hellos.len(), 20, "each greet got its own callback: {out}");
    let logs = lines
        .iter()
        .filter(|line| line.starts_with("log: greeting client-"));
    assert_eq!(logs.count(), 20, "{out}");
    assert_eq!(lines.last(), Some(&"add: 5"), "{out}");
}
