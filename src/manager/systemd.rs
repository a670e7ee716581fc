//! Sockets passed by systemd (socket activation), feature `systemd`, Unix only.
//!
//! systemd (or `systemd-socket-activate`, or any launcher speaking the same protocol)
//! opens the listening sockets and starts the service with them as file descriptors
//! 3, 4, ..., described by `LISTEN_FDS` (how many), `LISTEN_PID` (the process they are
//! for) and `LISTEN_FDNAMES` (their names, `:`-separated, from `FileDescriptorName=`).
//! [`passed_sockets`] reads them once per process, as `sd_listen_fds` does: the
//! variables are checked (`LISTEN_PID` must be this process, so a child the service
//! starts does not take its parent's sockets), and each socket's type is checked. Hand
//! a socket to `TcpManager::adopt`, `UdpManager::adopt` or `UnixManager::adopt`.
//!
//! Call it first thing in `main`, before other threads start (before a multi-threaded
//! tokio runtime is built): taking the sockets removes `LISTEN_PID` and `LISTEN_FDS`
//! from the environment (listenfd does, with `std::env::remove_var`), and changing the
//! environment while another thread reads it is a data race in the C library.
//! `LISTEN_FDNAMES` is left as it is: without `LISTEN_FDS` it passes nothing to a
//! child.
//!
//! ```no_run
//! use tendril_net::manager::systemd::{passed_sockets, Passed};
//! use tendril_net::TcpManager;
//!
//! # fn run() -> Result<(), tendril_net::BoxError> {
//! let mut sockets = passed_sockets()?;
//! let Some(Passed::Tcp(listener)) = sockets.pop().map(|socket| socket.socket) else {
//!     return Err("no TCP socket passed".into());
//! };
//! let manager = TcpManager::adopt(listener)?.build();
//! # let _ = manager; Ok(()) }
//! # let _ = run;
//! ```
//!
//! The file-descriptor work is the `listenfd` crate's (it wraps the descriptors with
//! the checks this needs and no `unsafe` here); the stricter `LISTEN_PID` rule and the
//! names are this module's.

use std::io;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::UnixListener;
use std::sync::Mutex;

use listenfd::ListenFd;

/// One socket systemd passed.
#[derive(Debug)]
pub struct PassedSocket {
    /// Its name (`FileDescriptorName=` in the socket unit; systemd's default is the
    /// unit's name), if `LISTEN_FDNAMES` gave one.
    pub name: Option<String>,
    /// The socket.
    pub socket: Passed,
}

/// A passed socket, by kind.
#[derive(Debug)]
#[non_exhaustive]
pub enum Passed {
    /// A listening TCP socket (IPv4 or IPv6).
    Tcp(TcpListener),
    /// A bound UDP socket.
    Udp(UdpSocket),
    /// A listening Unix stream socket.
    Unix(UnixListener),
}

/// Whether the environment was read already (the sockets are taken once).
static READ: Mutex<bool> = Mutex::new(false);

/// The sockets passed to this process, in descriptor order; empty if none were (no
/// `LISTEN_FDS`, or `LISTEN_PID` names another process), and on every call after the
/// first. Call it before other threads start (see the module docs).
///
/// # Errors
///
/// `InvalidData` if `LISTEN_FDS` or `LISTEN_PID` is not a number; `InvalidInput` if a
/// descriptor is none of the three kinds (it is left open).
pub fn passed_sockets() -> io::Result<Vec<PassedSocket>> {
    let mut read = READ
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if *read {
        return Ok(Vec::new());
    }
    *read = true;
    let count = std::env::var("LISTEN_FDS").ok();
    let pid = std::env::var("LISTEN_PID").ok();
    let names = std::env::var("LISTEN_FDNAMES").ok();
    let ours = match (&count, &pid) {
        (Some(count), Some(pid)) => {
            count
                .parse::<usize>()
                .map_err(|_| invalid("LISTEN_FDS", count))?;
            pid.parse::<u32>().map_err(|_| invalid("LISTEN_PID", pid))? == std::process::id()
        }
        _ => false,
    };
    if !ours {
        // For another process: left alone (our children's pids differ too).
        return Ok(Vec::new());
    }
    // listenfd reads LISTEN_FDS, and removes it and LISTEN_PID.
    let mut fds = ListenFd::from_env();
    let names: Vec<&str> = names
        .as_deref()
        .map_or(Vec::new(), |n| n.split(':').collect());
    let mut sockets = Vec::with_capacity(fds.len());
    for index in 0..fds.len() {
        let socket = if let Ok(Some(listener)) = fds.take_tcp_listener(index) {
            Passed::Tcp(listener)
        } else if let Ok(Some(socket)) = fds.take_udp_socket(index) {
            Passed::Udp(socket)
        } else if let Ok(Some(listener)) = fds.take_unix_listener(index) {
            Passed::Unix(listener)
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "passed descriptor {} is not a TCP, UDP or Unix stream socket",
                    3 + index
                ),
            ));
        };
        let name = names
            .get(index)
            .filter(|name| !name.is_empty())
            .map(|name| (*name).to_owned());
        sockets.push(PassedSocket { name, socket });
    }
    Ok(sockets)
}

fn invalid(variable: &str, value: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{variable}={value:?} is not a number"),
    )
}
