//! Throughput, p99 latency, memory and start-up time of the demo server.
//!
//! Three servers answer the same `This is v1 running in pod <host>` with one log line per
//! request: ours, the book's Node.js app, and a bare hyper server (the practical ceiling).
//! Each runs pinned to CPU 0 with one worker thread (Node is single-threaded), wrk runs
//! pinned to CPU 1, so the numbers compare one core against one core.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use xshell::cmd;

use crate::{docker, images, util};

#[derive(clap::Args)]
pub struct Args {
    /// Length of each wrk run.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Concurrent connections of each wrk run.
    #[arg(long, default_value_t = 50)]
    connections: u32,
    /// Start-up measurements per server (the median is reported).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..))]
    startups: u32,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    KeepAlive,
    NewConnection,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::KeepAlive => "keep-alive",
            Mode::NewConnection => "new connection per request",
        }
    }
}

struct Subject {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
}

#[derive(Default, Clone)]
struct Load {
    rps: f64,
    p99_ms: f64,
    errors: u64,
}

#[derive(Default, Clone)]
struct Measured {
    keep_alive: Load,
    new_conn: Load,
    peak_rss_kib: u64,
    startup: Duration,
}

const PORT: u16 = 18080;

pub fn run(args: &Args) -> Result<()> {
    crate::packages::ensure(&["wrk"])?;
    if !util::have("node") {
        bail!("node is not on PATH: the reference server needs Node.js");
    }
    let sh = util::shell()?;
    let kubia = images::static_binary(&sh, "kubia")?;
    {
        let _p = util::Phase::start("cargo build --release --example bare-hyper");
        cmd!(
            sh,
            "cargo build --quiet --release --locked -p kubia --example bare-hyper"
        )
        .run()?;
    }
    let out_dir = util::root().join("target/bench");
    sh.create_dir(&out_dir)?;
    let subjects = [
        Subject {
            name: "kubia (ours)",
            program: kubia,
            args: vec![
                "--port".into(),
                PORT.to_string(),
                "--variant".into(),
                "v1".into(),
            ],
            env: vec![("TOKIO_WORKER_THREADS", "1".into())],
        },
        Subject {
            name: "node (book's app)",
            program: PathBuf::from("node"),
            args: vec![
                util::root()
                    .join("xtask/bench/kubia-node.js")
                    .display()
                    .to_string(),
            ],
            env: vec![("PORT", PORT.to_string())],
        },
        Subject {
            name: "bare hyper",
            program: util::root().join("target/release/examples/bare-hyper"),
            args: vec![],
            env: vec![
                ("PORT", PORT.to_string()),
                ("TOKIO_WORKER_THREADS", "1".into()),
            ],
        },
    ];

    let mut results = Vec::new();
    for s in &subjects {
        let _p = util::Phase::start(format!("measuring {}", s.name));
        results.push(measure(s, args, &out_dir)?);
    }
    let image = "luksa/kubia:v1";
    let image_size = docker::engine_version().and_then(|_| docker::image_size(image).ok());

    let report = render(&subjects, &results, image_size, args);
    println!("{report}");
    std::fs::write(out_dir.join("server.md"), &report)?;
    eprintln!("written to target/bench/server.md");
    Ok(())
}

fn measure(s: &Subject, args: &Args, out_dir: &Path) -> Result<Measured> {
    let mut m = Measured::default();
    let mut startups = Vec::new();
    for _ in 0..args.startups {
        let (mut child, took) = start(s, out_dir)?;
        startups.push(took);
        stop(&mut child);
    }
    startups.sort();
    m.startup = startups[startups.len() / 2];

    let (mut child, _) = start(s, out_dir)?;
    let result = (|| -> Result<()> {
        m.keep_alive = wrk(args, Mode::KeepAlive)?;
        m.new_conn = wrk(args, Mode::NewConnection)?;
        m.peak_rss_kib = peak_rss_kib(child.id())?;
        Ok(())
    })();
    stop(&mut child);
    result?;
    Ok(m)
}

/// Starts the server pinned to CPU 0 and returns it with the time until its first answer.
fn start(s: &Subject, out_dir: &Path) -> Result<(Child, Duration)> {
    let log = std::fs::File::create(out_dir.join(format!(
        "{}.log",
        s.name.split(' ').next().unwrap_or("server")
    )))?;
    let started = Instant::now();
    let mut cmd = Command::new("taskset");
    cmd.arg("-c")
        .arg("0")
        .arg(&s.program)
        .args(&s.args)
        .stdout(log)
        .stderr(Stdio::null())
        .env("HOSTNAME", "kubia-bench");
    for (k, v) in &s.env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", s.name))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], PORT));
    let deadline = started + Duration::from_secs(10);
    loop {
        if answers(addr) {
            return Ok((child, started.elapsed()));
        }
        if Instant::now() > deadline {
            stop(&mut child);
            bail!("{} did not answer within 10s", s.name);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// One blocking `GET /` with a fresh connection; true on a 200.
fn answers(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1 200")
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs wrk (pinned to CPU 1) and parses requests/s, p99 latency and errors.
fn wrk(args: &Args, mode: Mode) -> Result<Load> {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "1", "wrk", "-t1", "--latency"])
        .arg(format!("-c{}", args.connections))
        .arg(format!("-d{}s", args.duration.as_secs().max(1)));
    if mode == Mode::NewConnection {
        cmd.args(["-H", "Connection: close"]);
    }
    cmd.arg(format!("http://127.0.0.1:{PORT}/"));
    let out = cmd.output().context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    parse_wrk(&text)
        .with_context(|| format!("cannot parse wrk's output ({}):\n{text}", mode.label()))
}

fn parse_wrk(text: &str) -> Option<Load> {
    let mut load = Load::default();
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            load.rps = v.trim().parse().ok()?;
        } else if let Some(v) = line.strip_prefix("99%") {
            load.p99_ms = parse_latency_ms(v.trim())?;
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            load.errors += v.trim().parse::<u64>().ok()?;
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            for part in v.split(',') {
                let n = part.split_whitespace().last()?.parse::<u64>().ok()?;
                load.errors += n;
            }
        }
    }
    (load.rps > 0.0).then_some(load)
}

fn parse_latency_ms(v: &str) -> Option<f64> {
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = v.split_at(split);
    let num: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => num / 1000.0,
        "ms" => num,
        "s" => num * 1000.0,
        "m" => num * 60_000.0,
        _ => return None,
    })
}

fn peak_rss_kib(pid: u32) -> Result<u64> {
    // `taskset` exec()s the server, so the PID is the server's.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmHWM in /proc/PID/status")
}

fn render(subjects: &[Subject], r: &[Measured], image_size: Option<u64>, args: &Args) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# bench server\n\nwrk: 1 thread, {} connections, {:?} per run; servers pinned to CPU 0 \
         with one worker thread, wrk to CPU 1; stdout to a file.\n",
        args.connections, args.duration
    );
    let _ = writeln!(
        s,
        "| server | keep-alive req/s | p99 | new-conn req/s | p99 | errors | peak RSS | start to first answer |\n|---|---|---|---|---|---|---|---|"
    );
    for (sub, m) in subjects.iter().zip(r) {
        let _ = writeln!(
            s,
            "| {} | {:.0} | {:.2} ms | {:.0} | {:.2} ms | {} | {:.1} MiB | {:.1} ms |",
            sub.name,
            m.keep_alive.rps,
            m.keep_alive.p99_ms,
            m.new_conn.rps,
            m.new_conn.p99_ms,
            m.keep_alive.errors + m.new_conn.errors,
            m.peak_rss_kib as f64 / 1024.0,
            m.startup.as_secs_f64() * 1000.0
        );
    }
    let (ours, node, bare) = (&r[0], &r[1], &r[2]);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let _ = writeln!(s, "\n| ratio | value | target |\n|---|---|---|");
    for (label, mode_ours, mode_node, mode_bare) in [
        (
            "keep-alive",
            &ours.keep_alive,
            &node.keep_alive,
            &bare.keep_alive,
        ),
        (
            "new connection",
            &ours.new_conn,
            &node.new_conn,
            &bare.new_conn,
        ),
    ] {
        let _ = writeln!(
            s,
            "| throughput ours / node ({label}) | {:.2}x | >= 1.40x |",
            ratio(mode_ours.rps, mode_node.rps)
        );
        let _ = writeln!(
            s,
            "| throughput ours / bare hyper ({label}) | {:.0}% | >= 90% |",
            100.0 * ratio(mode_ours.rps, mode_bare.rps)
        );
        let _ = writeln!(
            s,
            "| p99 ours / node ({label}) | {:.2}x | lower is better |",
            ratio(mode_ours.p99_ms, mode_node.p99_ms)
        );
    }
    let _ = writeln!(
        s,
        "| peak RSS ours / node | {:.3} | <= 0.10 |",
        ratio(ours.peak_rss_kib as f64, node.peak_rss_kib as f64)
    );
    let _ = writeln!(
        s,
        "| start-up node / ours | {:.0}x shorter | >= 20x |",
        ratio(node.startup.as_secs_f64(), ours.startup.as_secs_f64())
    );
    match image_size {
        Some(b) => {
            let _ = writeln!(
                s,
                "| image size luksa/kubia:v1 | {:.2} MB ({b} bytes) | < 3 MB |",
                b as f64 / 1e6
            );
        }
        None => {
            let _ = writeln!(
                s,
                "| image size luksa/kubia:v1 | not built (run `cargo xtask images`) | < 3 MB |"
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_wrk_output() {
        let out = "Running 1s test @ http://127.0.0.1:18080/
  1 threads and 50 connections
  Latency Distribution
     50%  500.00us
     75%    1.00ms
     90%    2.00ms
     99%    3.50ms
  1000 requests in 1.00s, 100.00KB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   1000.50
";
        let l = super::parse_wrk(out).unwrap();
        assert_eq!(l.rps, 1000.5);
        assert_eq!(l.p99_ms, 3.5);
        assert_eq!(l.errors, 7);
    }
}
