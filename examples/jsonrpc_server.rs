//! jsonrpc_server: JSON-RPC 2.0 with the LSP base protocol's framing
//! (`Content-Length: N`, a blank line, the message), on a peer connection: it serves
//! the client's requests and, while it handles one, calls the client back on the same
//! connection.
//!
//! ```text
//! cargo run --example jsonrpc_server -- [--listen ADDR | --stdio]
//! ```
//!
//! Over TCP it listens on `--listen` (default `127.0.0.1:7400`) and prints `listening
//! on tcp ADDR`; with `--stdio` it serves its standard input and output as one
//! connection (as an editor runs a language server: nothing else is written to
//! stdout) and exits when stdin ends. Methods:
//!
//! - `add [a, b]` answers `a + b`;
//! - `greet` calls `whoami` on the client, sends it a `log` notification
//!   `{"message": "greeting NAME"}`, then answers `"hello NAME"`;
//! - `sleep {"ms": N}` (N at most 60,000) answers `"slept"` after N ms, or error -32800
//!   as soon as the client sends `$/cancelRequest` for it;
//! - any other method is error -32601, invalid JSON -32700 (id null), a message that
//!   is not a request -32600; a batch (an array) is answered as an array.
//!
//! The `jsonrpc_client` example is a client that serves `whoami` and calls `greet`.

#[path = "shared/cli.rs"]
mod cli;
#[path = "jsonrpc/protocol.rs"]
mod protocol;
#[path = "shared/signal.rs"]
mod signal;
#[path = "shared/stdio.rs"]
mod stdio;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use cli::{switch, value, Cli};
use futures_util::future::join_all;
use protocol::{
    encode, error, message, result_of, success, JsonRpc, INTERNAL_ERROR, INVALID_PARAMS,
    INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR,
};
use serde_json::{json, Value};
use signal::shutdown_signal;
use stdio::StdioManager;
use tendril_net::app::service;
use tendril_net::client::{Client, Peer};
use tendril_net::framer::{ContentLengthFramer, FramerSwitch};
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, Manager, TcpManager, Tendril};
use tower::{Service, ServiceExt};

/// The longest message either way.
const MAX_MESSAGE: usize = 1 << 20;

/// The longest `sleep`.
const MAX_SLEEP_MS: u64 = 60_000;

/// A method's failure: its JSON-RPC error code and message.
type Failure = (i64, String);

/// One connection's methods: its caller calls the client back, its tendril notifies it.
#[derive(Clone)]
struct Methods {
    caller: Client<Bytes>,
    tendril: Tendril,
}

impl Methods {
    /// A frame: one message or a batch; the reply, if any is due.
    async fn handle(self, frame: Bytes) -> Result<Option<Bytes>, BoxError> {
        let reply = match serde_json::from_slice::<Value>(&frame) {
            Err(_) => Some(error(Value::Null, PARSE_ERROR, "parse error")),
            Ok(Value::Array(batch)) if batch.is_empty() => {
                Some(error(Value::Null, INVALID_REQUEST, "empty batch"))
            }
            Ok(Value::Array(batch)) => {
                let replies = join_all(batch.into_iter().map(|one| self.clone().one(one))).await;
                let replies: Vec<Value> = replies.into_iter().flatten().collect();
                (!replies.is_empty()).then_some(Value::Array(replies))
            }
            Ok(one) => self.one(one).await,
        };
        Ok(reply.as_ref().map(encode))
    }

    /// One message: the response to a request, nothing for a notification.
    async fn one(self, message: Value) -> Option<Value> {
        let id = message.get("id").cloned();
        let method = message.get("method").and_then(Value::as_str);
        let valid_id = id
            .as_ref()
            .is_none_or(|id| id.is_string() || id.is_number() || id.is_null());
        let (Some(method), true, true) = (method, valid_id, message["jsonrpc"] == "2.0") else {
            return Some(error(
                id.unwrap_or(Value::Null),
                INVALID_REQUEST,
                "invalid request",
            ));
        };
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        let outcome = self.call(method, params).await;
        let id = id?;
        Some(match outcome {
            Ok(result) => success(id, result),
            Err((code, text)) => error(id, code, &text),
        })
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value, Failure> {
        match method {
            "add" => add(&params),
            "greet" => self.greet().await,
            "sleep" => {
                let ms = params["ms"]
                    .as_u64()
                    .filter(|&ms| ms <= MAX_SLEEP_MS)
                    .ok_or((INVALID_PARAMS, format!("ms: 0 to {MAX_SLEEP_MS}")))?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(json!("slept"))
            }
            _ => Err((METHOD_NOT_FOUND, format!("no method {method:?}"))),
        }
    }

    /// Asks the client who it is, tells it in a `log` notification, and greets it.
    async fn greet(&self) -> Result<Value, Failure> {
        let failed = |err: tendril_net::Error| (INTERNAL_ERROR, format!("whoami: {err:#}"));
        let mut caller = self.caller.clone();
        let answer = caller
            .ready()
            .await
            .map_err(failed)?
            .call(message("whoami", json!({})))
            .await
            .map_err(failed)?;
        let who = result_of(&answer).map_err(|text| (INTERNAL_ERROR, format!("whoami: {text}")))?;
        let name = who.as_str().map_or_else(|| who.to_string(), str::to_owned);
        let log = message("log", json!({ "message": format!("greeting {name}") }));
        self.tendril.send_frame(log).await.map_err(failed)?;
        Ok(json!(format!("hello {name}")))
    }
}

/// `add [a, b]`: integers stay integers (an overflow is invalid), others are floats.
fn add(params: &Value) -> Result<Value, Failure> {
    let invalid = || (INVALID_PARAMS, "add takes [a, b]".to_owned());
    let [a, b] = params.as_array().map(Vec::as_slice).ok_or_else(invalid)? else {
        return Err(invalid());
    };
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
        return a.checked_add(b).map(Value::from).ok_or_else(invalid);
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) => Ok(json!(a + b)),
        _ => Err(invalid()),
    }
}

fn framers() -> FramerSwitch {
    let framer = || ContentLengthFramer::new().max_frame_length(MAX_MESSAGE);
    FramerSwitch::new(framer(), framer())
}

/// The peer setup both transports use: 64 calls to the client in flight, each
/// waiting 30 s at most.
fn peer() -> Peer<JsonRpc, Bytes> {
    Peer::new(JsonRpc)
        .max_in_flight(64)
        .call_timeout(Some(Duration::from_secs(30)))
}

fn methods(
    caller: Client<Bytes>,
    tendril: &Tendril,
) -> impl Service<Bytes, Response = Option<Bytes>, Error = BoxError, Future: Send> + Clone + Send + 'static
{
    let methods = Methods {
        caller,
        tendril: tendril.clone(),
    };
    service(move |frame: Bytes| methods.clone().handle(frame))
}

async fn serve_tcp(cli: &Cli, listen: SocketAddr) -> ExitCode {
    let shutdown = shutdown_signal();
    let manager = TcpManager::new(listen);
    let addr =
        cli.or_exit(manager.start_with_framers(peer().acceptor(methods), NoWrapper, framers));
    println!("listening on tcp {addr}");
    shutdown.await;
    manager.graceful_shutdown(Duration::from_secs(5)).await;
    ExitCode::SUCCESS
}

async fn serve_stdio(cli: &Cli) -> ExitCode {
    let manager = StdioManager::builder().build();
    let tendril = cli.or_exit(manager.start(peer().acceptor(methods), framers()).await);
    let reason = tokio::select! {
        reason = tendril.closed() => reason,
        _ = shutdown_signal() => {
            manager.graceful_shutdown(Duration::from_secs(5)).await;
            tendril.closed().await
        }
    };
    eprintln!("jsonrpc_server: stdio {reason}");
    ExitCode::SUCCESS
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse(
        "jsonrpc_server",
        "[--listen ADDR | --stdio]",
        "JSON-RPC 2.0 over the LSP base protocol's framing, serving add, greet (which calls \
         the client back) and sleep (cancellable).",
        &[
            value(
                "--listen",
                "ADDR",
                "where to listen over TCP (default 127.0.0.1:7400)",
            ),
            switch(
                "--stdio",
                "serve stdin and stdout as one connection instead (nothing else goes to stdout)",
            ),
        ],
    );
    if cli.has("--stdio") {
        serve_stdio(&cli).await
    } else {
        let listen = cli.parsed_or("--listen", ([127, 0, 0, 1], 7400).into());
        serve_tcp(&cli, listen).await
    }
}
