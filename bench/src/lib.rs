//! What the benchmarks share: servers run as separate processes, a line-echo load
//! client on plain std threads (so that neither server shares a runtime with it), a
//! UDP load client ([`udp`]), a QUIC load client ([`quic`]), interleaved comparisons,
//! and the resident memory of a process.

pub mod baseline;
pub mod quic;
pub mod udp;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Every socket operation of the load client gives up after this.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// The root of the tendril-net package.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the bench package sits in the workspace")
        .to_path_buf()
}

/// Builds example `name` of tendril-net in release mode and returns its path.
pub fn example(name: &str) -> PathBuf {
    let root = workspace_root();
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "--example", name])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the {name} example failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target.join("release").join("examples").join(name)
}

/// A server process that printed `listening on TRANSPORT ADDR`; killed when dropped.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// A name for reports.
    pub name: String,
}

impl Server {
    /// Starts `program` with `args` and waits for its `listening on tcp ADDR` (or
    /// `udp`) line.
    pub fn start(name: &str, program: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|err| panic!("spawn {}: {err}", program.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .and_then(Result::ok)
                .unwrap_or_else(|| panic!("{name}: no `listening on` line"));
            let addr = [
                "listening on tcp ",
                "listening on udp ",
                "listening on quic ",
            ]
            .iter()
            .find_map(|prefix| line.strip_prefix(prefix));
            if let Some(addr) = addr {
                break addr.trim().parse().expect("an address");
            }
        };
        Server {
            child,
            addr,
            name: name.to_owned(),
        }
    }

    /// The process's resident set size, in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }

    /// The CPU time the process has used (user and system), in seconds, from fields
    /// 14 and 15 of `/proc/PID/stat` (clock ticks of `getconf CLK_TCK`).
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // The command name may hold spaces: count fields after its closing paren.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let ticks = |at: usize| {
            fields
                .get(at)
                .and_then(|t| t.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // utime and stime are fields 14 and 15: 12 and 13 after the name.
        (ticks(11) + ticks(12)) / clock_ticks()
    }
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 if it cannot be asked).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// What one run against one server measured: its rate, and the frames it exchanged
/// (for the server's CPU time per frame).
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Frames (lines, datagrams) echoed per second.
    pub rate: f64,
    /// Frames echoed in the run.
    pub frames: u64,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// An echo load: `connections` connections, each sending `lines` frames of
/// `line_bytes` bytes on the wire (a line with its newline, or a length-prefixed
/// frame with its prefix), with at most `window` unanswered (0: no limit, the client
/// writes as fast as the server takes it).
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Connections at once.
    pub connections: usize,
    /// Frames per connection.
    pub lines: usize,
    /// Frames in flight per connection at most; 0 for unbounded pipelining.
    pub window: usize,
    /// Bytes per frame on the wire, the newline or the length prefix included.
    pub line_bytes: usize,
    /// How frames are delimited.
    pub framing: Framing,
}

/// How an echo load's frames are delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Lines ending in `\n`.
    Lines,
    /// A 4-byte big-endian length, then that many bytes (tokio-util's
    /// `LengthDelimitedCodec` default; tendril-net's `length-u32`).
    Length32,
}

/// The frames connection `id` sends: distinct, so that a misrouted echo is caught.
fn script(id: usize, load: &Load) -> Vec<u8> {
    let mut data = Vec::with_capacity(load.lines * load.line_bytes);
    for i in 0..load.lines {
        let start = data.len();
        if load.framing == Framing::Length32 {
            let body = u32::try_from(load.line_bytes - 4).expect("a frame under 4 GiB");
            data.extend_from_slice(&body.to_be_bytes());
        }
        data.extend_from_slice(format!("c{id}-{i}").as_bytes());
        match load.framing {
            Framing::Lines => {
                data.resize(start + load.line_bytes - 1, b'.');
                data.push(b'\n');
            }
            Framing::Length32 => data.resize(start + load.line_bytes, b'.'),
        }
    }
    data
}

/// Lines answered so far, shared by a connection's reader and writer.
type Progress = Arc<(Mutex<usize>, Condvar)>;

/// Runs `load` against `addr` and returns the lines echoed per second. Every echoed
/// byte is checked against what was sent.
///
/// # Panics
///
/// If the server closes early, echoes something else, or a socket operation takes
/// longer than a minute.
pub fn run_echo(addr: SocketAddr, load: &Load) -> Run {
    let barrier = Arc::new(Barrier::new(load.connections + 1));
    let clients: Vec<_> = (0..load.connections)
        .map(|id| {
            let data = Arc::new(script(id, load));
            let barrier = barrier.clone();
            let load = *load;
            std::thread::spawn(move || one_connection(addr, &load, data, &barrier))
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for client in clients {
        client.join().expect("a load connection failed");
    }
    let frames = (load.connections * load.lines) as u64;
    Run {
        rate: frames as f64 / start.elapsed().as_secs_f64(),
        frames,
    }
}

fn one_connection(addr: SocketAddr, load: &Load, data: Arc<Vec<u8>>, barrier: &Barrier) {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = stream;
    let progress: Progress = Arc::new((Mutex::new(0), Condvar::new()));
    barrier.wait();
    let (sent_data, sent_progress, load_copy) = (data.clone(), progress.clone(), *load);
    let sender = std::thread::spawn(move || {
        let load = load_copy;
        // About 16 KiB per write, at least a frame.
        let most = (16 * 1024 / load.line_bytes).clamp(1, 1000);
        let batch = if load.window > 0 {
            load.window.min(most)
        } else {
            most
        };
        let mut sent = 0;
        while sent < load.lines {
            let n = batch.min(load.lines - sent);
            if load.window > 0 {
                let (answered, changed) = &*sent_progress;
                let mut answered = answered.lock().expect("progress");
                while sent + n - *answered > load.window {
                    answered = changed.wait(answered).expect("progress");
                }
            }
            let bytes = &sent_data[sent * load.line_bytes..(sent + n) * load.line_bytes];
            writer.write_all(bytes).expect("write");
            sent += n;
        }
    });
    let mut buf = vec![0u8; 1 << 20];
    let mut received = 0;
    while received < data.len() {
        let n = reader.read(&mut buf).expect("read");
        assert!(n > 0, "the server closed after {received} bytes");
        assert_eq!(
            &buf[..n],
            &data[received..received + n],
            "echo differs at byte {received}"
        );
        received += n;
        if load.window > 0 {
            let (answered, changed) = &*progress;
            *answered.lock().expect("progress") = received / load.line_bytes;
            changed.notify_one();
        }
    }
    sender.join().expect("the writer failed");
}

/// The median of `values` (which must not be empty).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 0 {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// How many interleaved rounds to run: `ECHO_BENCH_ROUNDS`, default `default`.
pub fn rounds(default: usize) -> usize {
    std::env::var("ECHO_BENCH_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(default)
        .max(1)
}

/// Whether section `name` runs: all do unless `ECHO_BENCH` names one.
pub fn section(name: &str) -> bool {
    std::env::var("ECHO_BENCH").map_or(true, |only| only == name)
}

/// Runs `run` against every server `rounds` times, in an order that rotates each
/// round, and prints the medians (in `unit`) and their ratio to the baseline (the
/// last server) as a Markdown table, then the same for the server process's CPU time
/// per frame (its user and system time during the run, divided by the frames echoed:
/// what a throughput ratio near 1.0 hides when the load client is the bottleneck).
pub fn compare(
    title: &str,
    unit: &str,
    servers: &[Server],
    rounds: usize,
    mut run: impl FnMut(&Server) -> Run,
) {
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    for round in 0..rounds {
        for i in 0..servers.len() {
            let at = (round + i) % servers.len();
            let before = servers[at].cpu_seconds();
            let outcome = run(&servers[at]);
            let used = servers[at].cpu_seconds() - before;
            rates[at].push(outcome.rate);
            cpu[at].push(used * 1e9 / outcome.frames.max(1) as f64);
        }
    }
    println!("\n{title} ({rounds} interleaved rounds)");
    table(&format!("throughput, {unit}"), servers, &rates);
    table("server CPU per frame, ns (lower is better)", servers, &cpu);
}

/// One Markdown table of medians, lows, highs and ratios to the last server's median.
fn table(what: &str, servers: &[Server], values: &[Vec<f64>]) {
    let baseline = median(values.last().expect("a baseline"));
    println!("\n{what}\n");
    println!("| server | median | min | max | ratio to baseline |");
    println!("|---|---|---|---|---|");
    for (server, values) in servers.iter().zip(values) {
        let low = values.iter().copied().fold(f64::INFINITY, f64::min);
        let high = values.iter().copied().fold(0.0, f64::max);
        let mid = median(values);
        println!(
            "| {} | {mid:.0} | {low:.0} | {high:.0} | {:.3} |",
            server.name,
            mid / baseline
        );
    }
}

/// The hand-written baselines' line decoder: lines split at `\n`, delimiter kept, at
/// most 8 KiB, with a `memchr` scan that remembers how far it got.
#[derive(Debug, Default)]
pub struct Lines {
    scanned: usize,
}

impl tokio_util::codec::Decoder for Lines {
    type Item = bytes::Bytes;
    type Error = std::io::Error;

    fn decode(
        &mut self,
        src: &mut bytes::BytesMut,
    ) -> Result<Option<bytes::Bytes>, std::io::Error> {
        match memchr::memchr(b'\n', &src[self.scanned..]) {
            Some(at) => {
                let end = self.scanned + at + 1;
                self.scanned = 0;
                Ok(Some(src.split_to(end).freeze()))
            }
            None if src.len() > 8 * 1024 => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "line longer than 8 KiB",
            )),
            None => {
                self.scanned = src.len();
                Ok(None)
            }
        }
    }
}
