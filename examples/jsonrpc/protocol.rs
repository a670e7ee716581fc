//! JSON-RPC 2.0 for a peer connection: how messages are told apart, tagged and
//! cancelled (LSP's `$/cancelRequest`), and the messages both examples build.

// Each example uses the part it needs.
#![allow(dead_code)]

use bytes::Bytes;
use serde_json::{json, Value};
use tendril_net::client::{Classify, Kind};

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// The handler failed.
pub const INTERNAL_ERROR: i64 = -32603;
/// The request was cancelled (LSP).
pub const REQUEST_CANCELLED: i64 = -32800;

/// The JSON-RPC 2.0 classifier: a `method` with an `id` is a request, without one a
/// notification (`$/cancelRequest` a cancel), a `result` or `error` a response; the
/// key of a request is its id's JSON text (`7` and `"7"` differ). What does not parse
/// is a request for the application to answer with an error (batches too).
pub struct JsonRpc;

impl Classify<Bytes> for JsonRpc {
    type Key = String;

    fn classify(&self, frame: &Bytes) -> Kind<String> {
        let Ok(Value::Object(message)) = serde_json::from_slice::<Value>(frame) else {
            return Kind::Request(None);
        };
        match (message.get("method"), message.get("id")) {
            (Some(Value::String(method)), _) if method == "$/cancelRequest" => {
                match message.get("params").and_then(|params| params.get("id")) {
                    Some(id) => Kind::Cancel(id.to_string()),
                    None => Kind::Notification,
                }
            }
            (Some(_), Some(id)) => Kind::Request(Some(id.to_string())),
            (Some(_), None) => Kind::Notification,
            (None, id) if message.contains_key("result") || message.contains_key("error") => {
                Kind::Response(id.and_then(Value::as_u64))
            }
            (None, _) => Kind::Request(None),
        }
    }

    fn tag(&self, request: Bytes, tag: u64) -> Bytes {
        match serde_json::from_slice::<Value>(&request) {
            Ok(Value::Object(mut message)) => {
                message.insert("id".into(), tag.into());
                encode(&Value::Object(message))
            }
            // Not ours to fix: sent as it is, its answer (if any) unmatched.
            _ => request,
        }
    }

    fn cancel(&self, tag: u64) -> Option<Bytes> {
        Some(message("$/cancelRequest", json!({ "id": tag })))
    }

    fn cancelled(&self, key: String) -> Option<Bytes> {
        let id = serde_json::from_str(&key).unwrap_or(Value::Null);
        Some(encode(&error(id, REQUEST_CANCELLED, "request cancelled")))
    }
}

/// A message as a frame.
pub fn encode(message: &Value) -> Bytes {
    Bytes::from(message.to_string())
}

/// A notification, or a request without its id (the peer's caller writes it).
pub fn message(method: &str, params: Value) -> Bytes {
    encode(&json!({ "jsonrpc": "2.0", "method": method, "params": params }))
}

/// A success response.
pub fn success(id: Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// An error response.
pub fn error(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

/// The result of a response frame, or its error's message.
pub fn result_of(response: &Bytes) -> Result<Value, String> {
    let message: Value = serde_json::from_slice(response).map_err(|err| err.to_string())?;
    match (message.get("result"), message.get("error")) {
        (Some(result), None) => Ok(result.clone()),
        (_, Some(error)) => Err(error["message"].as_str().unwrap_or("error").to_owned()),
        _ => Err("neither result nor error".into()),
    }
}
