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
//! | `tendril_connections_refused_total` | counter | (over `max_connections`) |
//! | `tendril_connections_rejected_total` | counter | (by the acceptor) |
//! | `tendril_connections_closed_total` | counter | `reason`: `peer`, `local`, `idle`, `error` |
//! | `tendril_connections_open` | gauge | (closing ones included) |
//! | `tendril_connections_closing` | gauge | |
//! | `tendril_connections_wrapping` | gauge | (TLS handshakes in progress) |
//! | `tendril_wrap_failures_total` | counter | (handshake failures and timeouts) |
//! | `tendril_accept_errors_total` | counter | |
//! | `tendril_connections_displaced_total` | counter | (idle ones closed for a newcomer at `max_connections`) |
//! | `tendril_connections_shed_total` | counter | (closed for the memory budget) |
//! | `tendril_memory_budget_used_bytes` | gauge | |
//! | `tendril_frames_received_total`, `tendril_frames_sent_total` | counter | |
//! | `tendril_received_bytes_total`, `tendril_sent_bytes_total` | counter | |
//! | `tendril_call_timeouts_total` | counter | |
//! | `tendril_udp_peers` | gauge | |
//! | `tendril_udp_reclaimed_total` | counter | |
//! | `tendril_udp_datagrams_received_total`, `tendril_udp_datagrams_sent_total` | counter | |
//! | `tendril_udp_datagrams_dropped_total` | counter | `reason`: `queue_full`, `table_full` |
//!
//! ```
//! use tendril_net::manager::metrics::record;
//! use tendril_net::TcpManager;
//!
//! let manager = TcpManager::new("127.0.0.1:0".parse().unwrap());
//! // With a recorder installed (metrics-exporter-prometheus, ...), this publishes.
//! record(&manager);
//! ```

use std::time::Duration;

use std::sync::Once;

use metrics::{counter, describe_counter, describe_gauge, gauge, Unit};

use super::{Manager, Stats};

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
        "Connections closed at once: max_connections were held.",
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
        "tendril_accept_errors_total",
        Unit::Count,
        "Accept (or UDP receive) errors survived.",
    ),
    (
        "tendril_connections_displaced_total",
        Unit::Count,
        "Idle connections closed to make room for a newcomer at max_connections.",
    ),
    (
        "tendril_connections_shed_total",
        Unit::Count,
        "Connections closed because the memory budget ran short while they held the most.",
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
        "tendril_udp_reclaimed_total",
        Unit::Count,
        "Quiet one-datagram UDP peers reclaimed for newcomers.",
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
];

/// Every gauge: name, help text.
const GAUGES: [(&str, &str); 5] = [
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

/// Records `manager`'s counters and gauges now (see the module docs for the names).
/// The first call also describes them (unit, help text) to the recorder.
pub fn record(manager: &dyn Manager) {
    describe();
    let stats = manager.stats();
    let transport = manager.transport().to_owned();
    // The bound address once listening (a configured port 0 is not an address).
    let endpoint = manager
        .local()
        .unwrap_or_else(|| manager.endpoint())
        .to_string();
    record_stats(&stats, &transport, &endpoint);
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
            if manager.engine().is_shut_down() {
                break;
            }
        }
    })
}

fn record_stats(stats: &Stats, transport: &str, endpoint: &str) {
    let labels = [
        ("transport", transport.to_owned()),
        ("endpoint", endpoint.to_owned()),
    ];
    let counters: [(&'static str, u64); 15] = [
        ("tendril_connections_opened_total", stats.total),
        ("tendril_connections_refused_total", stats.refused),
        ("tendril_connections_rejected_total", stats.rejected),
        ("tendril_wrap_failures_total", stats.wrap_failed),
        ("tendril_accept_errors_total", stats.accept_errors),
        ("tendril_connections_displaced_total", stats.displaced),
        ("tendril_connections_shed_total", stats.shed),
        ("tendril_frames_received_total", stats.frames_in),
        ("tendril_frames_sent_total", stats.frames_out),
        ("tendril_received_bytes_total", stats.bytes_in),
        ("tendril_sent_bytes_total", stats.bytes_out),
        ("tendril_call_timeouts_total", stats.call_timeouts),
        ("tendril_udp_datagrams_received_total", stats.datagrams_in),
        ("tendril_udp_datagrams_sent_total", stats.datagrams_out),
        ("tendril_udp_reclaimed_total", stats.reclaimed),
    ];
    for (name, value) in counters {
        counter!(name, &labels).absolute(value);
    }
    // Counters split by a `reason` label.
    let by_reason = |name: &'static str, values: &[(&'static str, u64)]| {
        for &(reason, value) in values {
            counter!(
                name,
                "transport" => transport.to_owned(),
                "endpoint" => endpoint.to_owned(),
                "reason" => reason
            )
            .absolute(value);
        }
    };
    by_reason(
        "tendril_connections_closed_total",
        &[
            ("peer", stats.closed_by_peer),
            ("local", stats.closed_locally),
            ("idle", stats.evicted),
            ("error", stats.failed),
        ],
    );
    by_reason(
        "tendril_udp_datagrams_dropped_total",
        &[
            ("queue_full", stats.dropped_queue_full),
            ("table_full", stats.dropped_table_full),
        ],
    );
    let gauges = [
        ("tendril_connections_open", stats.open),
        ("tendril_connections_closing", stats.closing),
        ("tendril_connections_wrapping", stats.wrapping),
        ("tendril_udp_peers", stats.peers),
        ("tendril_memory_budget_used_bytes", stats.budget_used),
    ];
    for (name, value) in gauges {
        gauge!(name, &labels).set(value as f64);
    }
}
