//! The `kubia` binary as a process: flags, environment, logs and SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use traffic_probe::fetch;

const T: Duration = Duration::from_secs(5);

struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    port: u16,
}

fn spawn(args: &[&str], env: &[(&str, &str)]) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubia"));
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut p = Proc {
        child,
        lines,
        port: 0,
    };
    let first = p.next_line();
    assert_eq!(first, "Kubia server starting...");
    let listening = p.next_line();
    p.port = listening
        .strip_prefix("Listening on port ")
        .unwrap_or_else(|| panic!("unexpected line {listening:?}"))
        .parse()
        .unwrap();
    p
}

impl Proc {
    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
    fn next_line(&mut self) -> String {
        self.lines.recv_timeout(T).expect("no log line within 5s")
    }
    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + T;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "did not exit within 5s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The probe reaches a loopback server from a fresh 127.x.y.z address (see
/// `traffic_probe::source`), so the logged address is a loopback one, not always 127.0.0.1.
fn assert_logged_loopback_request(line: &str) {
    let ip = line
        .strip_prefix("Received request from ")
        .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
        .unwrap_or_else(|| panic!("not a request log line: {line:?}"));
    assert!(ip.is_loopback(), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_picks_variant_and_logs_each_request() {
    let mut p = spawn(
        &["--port", "0"],
        &[("KUBIA_VARIANT", "v4"), ("HOSTNAME", "kubia-v4-xyz")],
    );
    let r = fetch(p.addr(), "/", T).await.unwrap();
    assert_eq!(r.body, "This is v4 running in pod kubia-v4-xyz\n");
    assert_logged_loopback_request(&p.next_line());
    p.signal("-TERM");
    assert!(p.wait_exit().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_beats_env_and_bad_variant_is_a_usage_error() {
    let p = spawn(
        &[
            "--port",
            "0",
            "--variant",
            "classic",
            "--pod-name",
            "kubia-k2l4p",
        ],
        &[("KUBIA_VARIANT", "v2")],
    );
    let r = fetch(p.addr(), "/", T).await.unwrap();
    assert_eq!(r.body, "You've hit kubia-k2l4p\n");

    let out = Command::new(env!("CARGO_BIN_EXE_kubia"))
        .args(["--variant", "v9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown variant"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_then_exits_zero() {
    let mut p = spawn(&["--port", "0", "--pod-name", "p"], &[]);
    let addr = p.addr();
    let slow = tokio::spawn(fetch(addr, "/?sleep_ms=1000", T));
    assert_logged_loopback_request(&p.next_line());
    p.signal("-TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        fetch(addr, "/", T).await.is_err(),
        "new connections must be refused"
    );
    let r = slow.await.unwrap().unwrap();
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "This is v1 running in pod p\n")
    );
    assert!(p.wait_exit().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_with_shutdown_delay_keeps_serving_first() {
    let mut p = spawn(
        &[
            "--port",
            "0",
            "--pod-name",
            "p",
            "--shutdown-delay",
            "800ms",
        ],
        &[],
    );
    let addr = p.addr();
    p.signal("-INT");
    assert_eq!(p.next_line(), "Shutting down: still serving for 800ms");
    let r = fetch(addr, "/", T).await.unwrap();
    assert_eq!((r.status, r.close), (200, true));
    assert!(p.wait_exit().success());
    assert!(fetch(addr, "/", T).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_service_link_in_kubia_port_is_ignored() {
    // A Service named `kubia` makes Kubernetes set KUBIA_PORT=tcp://<cluster ip>:80 in
    // every pod of the namespace; the server must still start (on 8080, or --port).
    // (This needs port 8080 free on the test machine.)
    let p = spawn(
        &["--pod-name", "p"],
        &[("KUBIA_PORT", "tcp://10.0.0.114:80")],
    );
    assert_eq!(p.port, 8080);
    assert_eq!(fetch(p.addr(), "/", T).await.unwrap().status, 200);
    drop(p);
    let out = Command::new(env!("CARGO_BIN_EXE_kubia"))
        .env("KUBIA_PORT", "eighty")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid KUBIA_PORT"));
}

/// With stdout a pipe nobody reads, the log must not stop the server: 6000 requests (twice
/// what used to stall it), then `/healthz` and `/metrics` still answer, and the metrics count
/// the dropped lines. Bounded: sequential requests to 127.0.0.1, each with a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdout_nobody_reads_never_stops_the_server() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubia"))
        .args(["--port", "0", "--pod-name", "p"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Read up to the port, then never again: the pipe fills (64 KiB) and stays full.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut port = None;
    for _ in 0..2 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        port = port.or(line
            .trim()
            .strip_prefix("Listening on port ")
            .map(|p| p.parse::<u16>().unwrap()));
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], port.expect("the port line")));
    let mut answered = 0;
    for _ in 0..6000 {
        if fetch(addr, "/", Duration::from_secs(2))
            .await
            .is_ok_and(|r| r.status == 200)
        {
            answered += 1;
        } else {
            break; // stalled: no point in waiting out the rest
        }
    }
    let health = fetch(addr, "/healthz", Duration::from_secs(2)).await;
    let metrics = fetch(addr, "/metrics", Duration::from_secs(2)).await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answered, 6000);
    assert_eq!(health.map(|r| r.status).ok(), Some(200));
    let metrics = metrics.map(|r| r.body).unwrap_or_default();
    let dropped: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("kubia_log_lines_dropped_total "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no dropped-lines counter in {metrics:?}"));
    assert!(
        dropped > 0,
        "6000 lines cannot all fit a full pipe and the queue"
    );
}
