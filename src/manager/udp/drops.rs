//! Drops never silent: the kernel's own count of datagrams it dropped for the socket
//! (its receive buffer was full), and one `warn` event per kind of drop at most every
//! 10 s, naming the setting that would help.

use std::time::Duration;

use tokio::net::UdpSocket;

use tokio::time::Instant;

use super::stats::UdpStats;

/// The datagrams the kernel dropped for `socket` because its receive buffer was full
/// (the `drops` column of `/proc/net/udp` or `udp6`, found by the socket's inode), on
/// Linux; `None` elsewhere or if it cannot be read.
pub(crate) fn kernel_drops(socket: &UdpSocket) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let inode = std::fs::metadata(format!("/proc/self/fd/{}", socket.as_raw_fd()))
            .ok()?
            .ino();
        ["/proc/self/net/udp", "/proc/self/net/udp6"]
            .iter()
            .filter_map(|table| std::fs::read_to_string(table).ok())
            .find_map(|text| drops_of(&text, inode))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = socket;
        None
    }
}

/// The `drops` of the socket with `inode` in the text of `/proc/net/udp`: the inode is
/// the tenth field, the drops the last.
fn drops_of(table: &str, inode: u64) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let mut fields = line.split_whitespace();
        let found = fields.nth(9)?.parse::<u64>().ok()? == inode;
        found.then(|| fields.last()?.parse().ok()).flatten()
    })
}

/// A kind of drop, with what to say of it.
struct Kind {
    what: &'static str,
    remedy: &'static str,
    count: fn(&UdpStats) -> u64,
}

const KINDS: [Kind; 4] = [
    Kind {
        what: "a peer's inbound queue (or all peers' together) was full",
        remedy: "raise inbound_queue or inbound_budget, or answer faster",
        count: |stats| stats.dropped_queue_full,
    },
    Kind {
        what: "the peer table was full (or the acceptor not ready)",
        remedy: "raise max_connections (the most peers tracked) or lower shed_idle_after",
        count: |stats| stats.dropped_table_full,
    },
    Kind {
        what: "a source held max_per_source peers or exceeded source_rate",
        remedy: "raise max_per_source or source_rate if the source is legitimate",
        count: |stats| stats.dropped_source,
    },
    Kind {
        what: "the kernel dropped them: the socket's receive buffer was full",
        remedy: "raise recv_buffer_size (the kernel caps it at net.core.rmem_max)",
        count: |stats| stats.dropped_kernel,
    },
];

/// Events about one kind are this far apart at least.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// What the receive loop last said about each kind of drop.
#[derive(Default)]
pub(crate) struct DropWatch {
    /// The count each kind had when last reported.
    reported: [u64; 4],
    warned: [Option<Instant>; 4],
}

impl DropWatch {
    /// Warns of each kind of drop that grew since it was last reported, if that was
    /// long enough ago.
    pub(crate) fn check(&mut self, stats: &UdpStats, now: Instant) {
        for (at, kind) in KINDS.iter().enumerate() {
            let count = (kind.count)(stats);
            let new = count.saturating_sub(self.reported[at]);
            let due = self.warned[at].is_none_or(|warned| now - warned >= WARN_EVERY);
            if new == 0 || !due {
                continue;
            }
            self.reported[at] = count;
            self.warned[at] = Some(now);
            tracing::warn!(
                dropped = new,
                total = count,
                "udp datagrams dropped: {}; {}",
                kind.what,
                kind.remedy
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{drops_of, DropWatch, UdpStats};

    #[test]
    fn drops_are_read_from_the_socket_line_by_inode() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
            \x20 113: 0100007F:1B58 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n\
            \x20 114: 0100007F:1B59 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4343 2 0000000000000000 0\n";
        assert_eq!(drops_of(table, 4242), Some(17));
        assert_eq!(drops_of(table, 4343), Some(0));
        assert_eq!(drops_of(table, 1), None);
    }

    #[tokio::test]
    async fn a_real_socket_has_a_kernel_drop_count() {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if cfg!(target_os = "linux") {
            assert_eq!(super::kernel_drops(&socket), Some(0));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_kind_is_reported_once_per_interval() {
        let mut watch = DropWatch::default();
        let mut stats = UdpStats {
            dropped_queue_full: 5,
            ..UdpStats::default()
        };
        let now = tokio::time::Instant::now();
        watch.check(&stats, now);
        assert_eq!(watch.reported[0], 5);
        stats.dropped_queue_full = 9;
        watch.check(&stats, now + std::time::Duration::from_secs(1));
        assert_eq!(watch.reported[0], 5, "not again so soon");
        watch.check(&stats, now + std::time::Duration::from_secs(10));
        assert_eq!(watch.reported[0], 9);
        assert_eq!(watch.warned[1], None, "no table drops, no event");
    }
}
