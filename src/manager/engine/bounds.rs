//! [`Bounds`]: what a manager bounds across all its connections.

use std::time::Duration;

use super::sources::SourceLimits;
use crate::tendril::io::budget::DEFAULT_BUDGET;

/// What a manager bounds across all its connections (the per-connection bounds are in
/// [`ConnectionConfig`](crate::ConnectionConfig)). Set through
/// [`Builder`](crate::manager::Builder); a plug-in transport passes them to
/// [`Engine::new`](super::Engine::new).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Bounds {
    /// Connections held at once, closing ones included (for a datagram transport, the
    /// peers it tracks).
    pub max_connections: usize,
    /// Bytes all connections' buffers may hold beyond 16 KiB of read and 64 KiB of
    /// write buffer each (see
    /// [`Builder::memory_budget`](crate::manager::Builder::memory_budget)).
    pub memory_budget: usize,
    /// With the table full, a newcomer sheds the connection idle longest if it has
    /// been idle this long (`None`: newcomers are refused). See
    /// [`Builder::shed_idle_after`](crate::manager::Builder::shed_idle_after).
    pub shed_idle_after: Option<Duration>,
    /// What one source may hold and open (default: no limit). See
    /// [`Builder::max_per_source`](crate::manager::Builder::max_per_source).
    pub per_source: SourceLimits,
}

impl Bounds {
    /// At most `max_connections`, a 256 MiB memory budget, and connections idle for
    /// `shed_idle_after` shed for newcomers when the table is full.
    pub fn new(max_connections: usize, shed_idle_after: Option<Duration>) -> Self {
        Bounds {
            max_connections,
            memory_budget: DEFAULT_BUDGET,
            shed_idle_after,
            per_source: SourceLimits::default(),
        }
    }
}

/// The most connections the process's open-file limit leaves room for, if it has one
/// (read once from `/proc/self/limits`, Linux): the soft limit less headroom for the
/// files the process needs besides (64, plus one in sixteen of the limit).
pub(crate) fn descriptor_cap() -> Option<usize> {
    static CAP: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *CAP.get_or_init(|| {
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        soft_open_files(&limits).map(|soft| soft.saturating_sub(64 + soft / 16).max(1))
    })
}

/// The soft "Max open files" limit in the text of `/proc/self/limits`.
fn soft_open_files(limits: &str) -> Option<usize> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::soft_open_files;

    #[test]
    fn the_soft_open_file_limit_is_read_from_proc_limits() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max processes             95034                95034                processes \n\
                    Max open files            1024                 524288               files     \n";
        assert_eq!(soft_open_files(text), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(soft_open_files(unlimited), None);
        assert_eq!(soft_open_files(""), None);
    }
}
