//! A small Prometheus exporter for the examples: a `metrics` recorder keeping counters
//! and gauges in memory, and `GET /metrics` served over a tendril-net line manager.
//!
//! Why not metrics-exporter-prometheus: it brings hyper, metrics-util and their
//! dependencies (about 40 crates) for what is here a map of atomics and a text
//! renderer; a real deployment is free to install that exporter instead, since
//! `tendril_net::manager::metrics` only talks to the facade.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use tendril_net::app::{acceptor_fn, service};
use tendril_net::framer::{IdentityFramer, LineFramer};
use tendril_net::wrap::NoWrapper;
use tendril_net::{BoxError, Manager, TcpManager};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

type Series = BTreeMap<(String, Vec<(String, String)>), (Kind, Arc<AtomicU64>)>;

/// The recorder: every series registered, by name then labels, and the help texts.
#[derive(Clone, Default)]
pub struct Registry {
    series: Arc<Mutex<Series>>,
    help: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Registry {
    fn register(&self, key: &Key, kind: Kind) -> Arc<AtomicU64> {
        let labels = key
            .labels()
            .map(|label| (label.key().to_owned(), label.value().to_owned()))
            .collect();
        let mut series = self.series.lock().unwrap();
        let entry = series
            .entry((key.name().to_owned(), labels))
            .or_insert_with(|| (kind, Arc::new(AtomicU64::new(0))));
        entry.1.clone()
    }

    /// The Prometheus text format (version 0.0.4): a `# TYPE` line per metric, then
    /// its series.
    pub fn render(&self) -> String {
        let series = self.series.lock().unwrap();
        let help = self.help.lock().unwrap();
        let mut out = String::new();
        let mut last = "";
        for ((name, labels), (kind, value)) in series.iter() {
            if name != last {
                let kind = match kind {
                    Kind::Counter => "counter",
                    Kind::Gauge => "gauge",
                };
                if let Some(text) = help.get(name) {
                    let text = text.replace('\\', "\\\\").replace('\n', "\\n");
                    let _ = writeln!(out, "# HELP {name} {text}");
                }
                let _ = writeln!(out, "# TYPE {name} {kind}");
                last = name;
            }
            out.push_str(name);
            if !labels.is_empty() {
                out.push('{');
                for (i, (key, value)) in labels.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "," };
                    let value = value
                        .replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('\n', "\\n");
                    let _ = write!(out, "{sep}{key}=\"{value}\"");
                }
                out.push('}');
            }
            let raw = value.load(Ordering::Relaxed);
            match kind {
                Kind::Counter => {
                    let _ = writeln!(out, " {raw}");
                }
                Kind::Gauge => {
                    let _ = writeln!(out, " {}", f64::from_bits(raw));
                }
            }
        }
        out
    }
}

impl Recorder for Registry {
    fn describe_counter(&self, key: KeyName, _: Option<Unit>, help: SharedString) {
        self.help
            .lock()
            .unwrap()
            .insert(key.as_str().to_owned(), help.into_owned());
    }

    fn describe_gauge(&self, key: KeyName, _: Option<Unit>, help: SharedString) {
        self.help
            .lock()
            .unwrap()
            .insert(key.as_str().to_owned(), help.into_owned());
    }

    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.register(key, Kind::Counter))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.register(key, Kind::Gauge))
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// Installs the recorder and serves `GET /metrics` on `addr`, recording `served`'s
/// counters at each scrape. The HTTP side is itself bounded: request lines of at most
/// 8 KiB, 16 scrapers at once, 10 s to send a request.
pub fn serve(
    addr: SocketAddr,
    served: Arc<dyn Manager>,
) -> Result<(TcpManager, SocketAddr), BoxError> {
    let registry = Registry::default();
    metrics::set_global_recorder(registry.clone())
        .map_err(|_| "a metrics recorder is already installed")?;
    let manager = TcpManager::builder(addr)
        .max_connections(16)
        // One address can never hold every slot (and a full table is shared fairly
        // among addresses): reconnect churn cannot lock scrapers out.
        .max_per_source(Some(8))
        .idle_timeout(Some(Duration::from_secs(10)))
        .build();
    let bound = manager.start(
        acceptor_fn(move |tendril| {
            // Request lines in; the response goes out as raw bytes.
            tendril.set_framers(
                LineFramer::new().max_frame_length(8192),
                IdentityFramer::new(),
            )?;
            let (registry, served) = (registry.clone(), served.clone());
            let mut request_line: Option<String> = None;
            Ok(service(move |line: Bytes| {
                let reply = if request_line.is_none() {
                    request_line = Some(String::from_utf8_lossy(&line).into_owned());
                    None
                } else if line.is_empty() {
                    // The end of the request's headers: answer, then close.
                    let target = request_line.as_deref().unwrap_or_default();
                    let (status, body) = if target.starts_with("GET /metrics ") {
                        tendril_net::manager::metrics::record(&*served);
                        ("200 OK", registry.render())
                    } else {
                        ("404 Not Found", "not found: try /metrics\n".to_owned())
                    };
                    tendril.close();
                    Some(Bytes::from(format!(
                        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )))
                } else {
                    None
                };
                async move { Ok(reply) }
            }))
        }),
        NoWrapper,
    )?;
    Ok((manager, bound))
}
