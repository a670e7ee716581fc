//! A manager's counters through the [`metrics`] facade (feature `metrics`), for
//! Prometheus or any other recorder the application installs.
//!
//! [`record`] sets every metric from a fresh [`Stats`] snapshot: counters with
//! `absolute` (they only grow), gauges with `set`, each labelled with the manager's
//! `transport` and `endpoint` (the bound address once it listens). Nothing is recorded per frame: the engine counts with
//! its own atomics as always, and the facade sees the totals when `record` runs: call
//! it when the metrics are scraped, or every few seconds with [`record_every`].
//!
//! Names follow Prometheus conventions (`_total` for counters, bytes as the unit):
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `tendril_connections_opened_total` | counter | |
//! | `tendril_connections_refused_total` | counter | `reason`: `full` (`max_connections` held), `source` (a per-source limit) |
//! | `tendril_connections_rejected_total` | counter | (by the acceptor) |
//! | `tendril_connections_closed_total` | counter | `reason`: `peer`, `local`, `idle`, `shed`, `error` |
//! | `tendril_connections_open` | gauge | (closing ones included) |
//! | `tendril_connections_closing` | gauge | |
//! | `tendril_connections_wrapping` | gauge | (TLS handshakes in progress) |
//! | `tendril_wrap_failures_total` | counter | (handshake failures and timeouts) |
//! | `tendril_accept_errors_total` | counter | |
//! | `tendril_proxy_headers_ignored_total` | counter | (from outside the trusted networks) |
//! | `tendril_shed_total` | counter | `what`: `idle` (connections and UDP peers shed for a newcomer), `memory` (for the memory budget), `handshake` (TLS handshakes, PROXY header waits) |
//! | `tendril_memory_budget_used_bytes` | gauge | |
//! | `tendril_frames_received_total`, `tendril_frames_sent_total` | counter | |
//! | `tendril_received_bytes_total`, `tendril_sent_bytes_total` | counter | |
//! | `tendril_call_timeouts_total` | counter | |
//!
//! A [`UdpManager`] adds its own ([`UdpStats`]):
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `tendril_udp_peers` | gauge | |
//! | `tendril_udp_datagrams_received_total`, `tendril_udp_datagrams_sent_total` | counter | |
//! | `tendril_udp_datagrams_dropped_total` | counter | `reason`: `queue_full`, `table_full`, `source`, `kernel` (the socket's receive buffer was full) |
//! | `tendril_udp_queued_datagrams` | gauge | (in all peers' inbound queues) |
//! | `tendril_udp_receive_buffer_bytes` | gauge | (as the kernel granted it) |
//! | `tendril_udp_errors_total` | counter | `op`: `receive`, `send` |
//!
//! A plug-in transport adds its own through [`Manager::transport_metrics`] (the QUIC
//! manager's `tendril_quic_*`), recorded with the same labels.
//!
//! ```
//! use tendril_net::manager::metrics::record;
//! use tendril_net::TcpManager;
//!
//! let manager = TcpManager::new("127.0.0.1:0".parse().unwrap());
//! // With a recorder installed (metrics-exporter-prometheus, ...), this publishes.
//! record(&manager);
//! ```

use std::sync::Once;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, gauge, Unit};

use super::{Manager, Stats, UdpManager, UdpStats};

/// Every counter: name, unit, help text.
const COUNTERS: [(&str, Unit, &str); 17] = [
    (
        "tendril_connections_opened_total",
        Unit::Count,
        "Connections accepted or made.",
    ),
    (
        "tendril_connections_refused_total",
        Unit::Count,
        "Connections closed at once, by reason: max_connections held (full), a per-source limit (source).",
    ),
    (
        "tendril_connections_rejected_total",
        Unit::Count,
        "Connections the acceptor refused.",
    ),
    (
        "tendril_connections_closed_total",
        Unit::Count,
        "Connections closed, by reason.",
    ),
    (
        "tendril_wrap_failures_total",
        Unit::Count,
        "Wrapper failures: TLS handshake errors and timeouts, PROXY headers refused.",
    ),
    (
        "tendril_proxy_headers_ignored_total",
        Unit::Count,
        "PROXY protocol headers from sources outside the trusted networks, ignored.",
    ),
    (
        "tendril_accept_errors_total",
        Unit::Count,
        "Accept errors survived.",
    ),
    (
        "tendril_shed_total",
        Unit::Count,
        "Connections and handshakes shed to make room: idle ones for a newcomer, the largest holders for the memory budget, silent TLS handshakes and PROXY header waits.",
    ),
    (
        "tendril_frames_received_total",
        Unit::Count,
        "Frames decoded.",
    ),
    ("tendril_frames_sent_total", Unit::Count, "Frames encoded."),
    (
        "tendril_received_bytes_total",
        Unit::Bytes,
        "Bytes read, as the framers see them.",
    ),
    (
        "tendril_sent_bytes_total",
        Unit::Bytes,
        "Bytes written, as the framers produce them.",
    ),
    (
        "tendril_call_timeouts_total",
        Unit::Count,
        "Application calls dropped by the call timeout.",
    ),
    (
        "tendril_udp_datagrams_received_total",
        Unit::Count,
        "UDP datagrams received.",
    ),
    (
        "tendril_udp_datagrams_sent_total",
        Unit::Count,
        "UDP datagrams sent.",
    ),
    (
        "tendril_udp_datagrams_dropped_total",
        Unit::Count,
        "UDP datagrams dropped, by reason.",
    ),
    (
        "tendril_udp_errors_total",
        Unit::Count,
        "UDP receive and send errors survived.",
    ),
];

/// Every gauge: name, help text.
const GAUGES: [(&str, &str); 7] = [
    (
        "tendril_connections_open",
        "Connections held, closing ones included.",
    ),
    (
        "tendril_connections_closing",
        "Connections closed but still flushing or lingering.",
    ),
    (
        "tendril_connections_wrapping",
        "Accepted connections being wrapped (TLS handshakes).",
    ),
    ("tendril_udp_peers", "UDP peers in the table."),
    (
        "tendril_udp_queued_datagrams",
        "UDP datagrams waiting in all peers' inbound queues.",
    ),
    (
        "tendril_udp_receive_buffer_bytes",
        "The UDP socket's receive buffer, as the kernel granted it.",
    ),
    (
        "tendril_memory_budget_used_bytes",
        "Bytes of the memory budget the connections' buffers hold.",
    ),
];

/// Tells the installed recorder what each metric is, once per process.
fn describe() {
    static DESCRIBED: Once = Once::new();
    DESCRIBED.call_once(|| {
        for (name, unit, help) in COUNTERS {
            describe_counter!(name, unit, help);
        }
        for (name, help) in GAUGES {
            describe_gauge!(name, help);
        }
    });
}

/// Records `manager`'s counters and gauges now (see the module docs for the names),
/// a UDP manager's own too. The first call also describes them (unit, help text) to
/// the recorder.
pub fn record(manager: &dyn Manager) {
    describe();
    let transport = manager.transport().to_owned();
    // The bound address once listening (a configured port 0 is not an address).
    let endpoint = manager
        .local()
        .unwrap_or_else(|| manager.endpoint())
        .to_string();
    let labels = Labels {
        transport,
        endpoint,
    };
    labels.record(&manager.stats());
    if let Some(udp) = manager.as_any().downcast_ref::<UdpManager>() {
        labels.record_udp(&udp.udp_stats());
    }
    for metric in manager.transport_metrics() {
        let value = [(metric.name, metric.value)];
        if metric.counter {
            describe_counter!(metric.name, Unit::Count, metric.help);
            labels.counters(&value);
        } else {
            describe_gauge!(metric.name, Unit::Count, metric.help);
            labels.gauges(&value);
        }
    }
}

/// Records `manager` every `period` until it shuts down, on a task of the current
/// runtime; the last values are recorded once more after shutdown.
///
/// # Panics
///
/// Outside a tokio runtime.
pub fn record_every<M>(manager: M, period: Duration) -> tokio::task::JoinHandle<()>
where
    M: Manager + Send + Sync + 'static,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            record(&manager);
            if manager.is_shut_down() {
                break;
            }
        }
    })
}

/// A manager's labels, and its metrics recorded under them.
struct Labels {
    transport: String,
    endpoint: String,
}

impl Labels {
    fn counters(&self, values: &[(&'static str, u64)]) {
        let labels = [
            ("transport", self.transport.clone()),
            ("endpoint", self.endpoint.clone()),
        ];
        for &(name, value) in values {
            counter!(name, &labels).absolute(value);
        }
    }

    fn gauges(&self, values: &[(&'static str, u64)]) {
        let labels = [
            ("transport", self.transport.clone()),
            ("endpoint", self.endpoint.clone()),
        ];
        for &(name, value) in values {
            gauge!(name, &labels).set(value as f64);
        }
    }

    /// A counter split by one more label.
    fn split(&self, name: &'static str, label: &'static str, values: &[(&'static str, u64)]) {
        for &(key, value) in values {
            counter!(
                name,
                "transport" => self.transport.clone(),
                "endpoint" => self.endpoint.clone(),
                label => key
            )
            .absolute(value);
        }
    }

    fn record(&self, stats: &Stats) {
        self.counters(&[
            ("tendril_connections_opened_total", stats.total),
            ("tendril_connections_rejected_total", stats.rejected),
            ("tendril_wrap_failures_total", stats.wrap_failed),
            ("tendril_accept_errors_total", stats.accept_errors),
            ("tendril_proxy_headers_ignored_total", stats.proxy_ignored),
            ("tendril_frames_received_total", stats.frames_in),
            ("tendril_frames_sent_total", stats.frames_out),
            ("tendril_received_bytes_total", stats.bytes_in),
            ("tendril_sent_bytes_total", stats.bytes_out),
            ("tendril_call_timeouts_total", stats.call_timeouts),
        ]);
        self.split(
            "tendril_connections_refused_total",
            "reason",
            &[("full", stats.refused), ("source", stats.refused_source)],
        );
        self.split(
            "tendril_connections_closed_total",
            "reason",
            &[
                ("peer", stats.closed_by_peer),
                ("local", stats.closed_locally),
                ("idle", stats.closed_idle),
                ("shed", stats.shed_idle),
                ("error", stats.failed),
            ],
        );
        self.split(
            "tendril_shed_total",
            "what",
            &[
                ("idle", stats.shed_idle),
                ("memory", stats.shed_memory),
                ("handshake", stats.shed_handshakes),
            ],
        );
        self.gauges(&[
            ("tendril_connections_open", stats.open),
            ("tendril_connections_closing", stats.closing),
            ("tendril_connections_wrapping", stats.wrapping),
            ("tendril_memory_budget_used_bytes", stats.budget_used),
        ]);
    }

    fn record_udp(&self, stats: &UdpStats) {
        self.counters(&[
            ("tendril_udp_datagrams_received_total", stats.datagrams_in),
            ("tendril_udp_datagrams_sent_total", stats.datagrams_out),
        ]);
        self.split(
            "tendril_udp_datagrams_dropped_total",
            "reason",
            &[
                ("queue_full", stats.dropped_queue_full),
                ("table_full", stats.dropped_table_full),
                ("source", stats.dropped_source),
                ("kernel", stats.dropped_kernel),
            ],
        );
        self.split(
            "tendril_udp_errors_total",
            "op",
            &[
                ("receive", stats.receive_errors),
                ("send", stats.send_errors),
            ],
        );
        self.gauges(&[
            ("tendril_udp_peers", stats.peers),
            ("tendril_udp_queued_datagrams", stats.queued),
            ("tendril_udp_receive_buffer_bytes", stats.receive_buffer),
        ]);
    }
}
