//! jsonrpc_client: the client end of a JSON-RPC peer connection (LSP framing) to
//! `jsonrpc_server`: it serves `whoami` (answering `client-N`, N counting its
//! answers) and prints the server's `log` notifications, while it calls `greet`.
//!
//! ```text
//! cargo run --example jsonrpc_server &
//! cargo run --example jsonrpc_client -- [--connect ADDR] [--calls N]
//! ```
//!
//! Makes `--calls` (default 10) `greet` calls at once and prints each answer (`hello
//! client-N`, each greet answered with its own callback), then one `add [2, 3]`, on
//! stdout; each `log` notification is printed as `log: MESSAGE`.

#[path = "shared/cli.rs"]
mod cli;
#[path = "jsonrpc/protocol.rs"]
mod protocol;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use cli::{value, Cli};
use futures_util::future::join_all;
use protocol::{encode, message, result_of, success, JsonRpc};
use serde_json::{json, Value};
use tendril_net::app::service;
use tendril_net::client::{Client, Peer};
use tendril_net::framer::{ContentLengthFramer, FramerSwitch};
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, TcpManager, Tendril};
use tower::{Service, ServiceExt};

/// What the client serves: `whoami` (its answer), and the `log` notification.
fn serve(answered: &AtomicU64, frame: &Bytes) -> Option<Bytes> {
    let message: Value = serde_json::from_slice(frame).unwrap_or(Value::Null);
    match (message["method"].as_str(), message.get("id")) {
        (Some("whoami"), Some(id)) => {
            let n = answered.fetch_add(1, Ordering::Relaxed);
            Some(encode(&success(id.clone(), json!(format!("client-{n}")))))
        }
        (Some("log"), None) => {
            let text = message["params"]["message"].as_str().unwrap_or("");
            println!("log: {text}");
            None
        }
        _ => None,
    }
}

async fn call(mut caller: Client<Bytes>, method: &str, params: Value) -> Result<Value, BoxError> {
    let answer = caller.ready().await?.call(message(method, params)).await?;
    Ok(result_of(&answer)?)
}

async fn run(connect: SocketAddr, calls: usize) -> Result<(), BoxError> {
    let framer = ContentLengthFramer::new;
    let answered = Arc::new(AtomicU64::new(0));
    let manager = TcpManager::new(([127, 0, 0, 1], 0).into());
    let caller = Peer::new(JsonRpc)
        .connect(
            &manager,
            connect,
            NoWrapper,
            FramerSwitch::new(framer(), framer()),
            move |_caller, _tendril: &Tendril| {
                let answered = answered.clone();
                service(move |frame: Bytes| std::future::ready(Ok(serve(&answered, &frame))))
            },
        )
        .await?;
    let greets = (0..calls).map(|_| call(caller.clone(), "greet", json!({})));
    for answer in join_all(greets).await {
        println!("{}", answer?);
    }
    println!("add: {}", call(caller.clone(), "add", json!([2, 3])).await?);
    caller.tendril().close();
    caller.tendril().closed().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse(
        "jsonrpc_client",
        "[--connect ADDR] [--calls N]",
        "Calls jsonrpc_server's greet (serving the whoami it calls back) and add.",
        &[
            value("--connect", "ADDR", "the server (default 127.0.0.1:7400)"),
            value("--calls", "N", "greet calls made at once (default 10)"),
        ],
    );
    let connect = cli.parsed_or("--connect", ([127, 0, 0, 1], 7400).into());
    let calls = cli.parsed_or("--calls", 10);
    match run(connect, calls).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("jsonrpc_client: {err:#}");
            ExitCode::FAILURE
        }
    }
}
