//! The real server on an ephemeral loopback port, spoken to over HTTP.

use std::net::SocketAddr;
use std::time::Duration;

use kubia::{Config, Log, Server, Variant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use traffic_probe::{Connection, fetch};

const T: Duration = Duration::from_secs(5);

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(T, self.task).await.unwrap().unwrap();
    }
}

async fn start(config: Config) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Server::from_listener(listener, config, Log::new());
    let addr = server.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        stop: Some(tx),
        task,
    }
}

#[tokio::test]
async fn every_version_answers_its_body() {
    let cases = [
        (Variant::V1, "This is v1 running in pod kubia-v1-9ql94\n"),
        (Variant::V2, "This is v2 running in pod kubia-v1-9ql94\n"),
        (Variant::V3, "This is v3 running in pod kubia-v1-9ql94\n"),
        (Variant::V4, "This is v4 running in pod kubia-v1-9ql94\n"),
        (Variant::Classic, "You've hit kubia-v1-9ql94\n"),
    ];
    for (variant, body) in cases {
        let s = start(Config::ephemeral(variant, "kubia-v1-9ql94")).await;
        let r = fetch(s.addr, "/", T).await.unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, body), "{variant}");
        // Any path is the app, as in the original.
        let r = fetch(s.addr, "/some/path?x=1", T).await.unwrap();
        assert_eq!(r.status, 200);
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn v3_fails_from_exactly_the_fifth_request_under_concurrency() {
    let s = start(Config::ephemeral(Variant::V3, "p")).await;
    // Health checks and metric scrapes do not count.
    for _ in 0..3 {
        let r = fetch(s.addr, "/healthz", T).await.unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));
        let r = fetch(s.addr, "/metrics", T).await.unwrap();
        assert_eq!(r.status, 200);
    }
    let requests: Vec<_> = (0..40)
        .map(|_| tokio::spawn(fetch(s.addr, "/", T)))
        .collect();
    let mut ok = 0;
    let mut failed = 0;
    for r in requests {
        let r = r.await.unwrap().unwrap();
        match r.status {
            200 => {
                assert_eq!(r.body, "This is v3 running in pod p\n");
                ok += 1
            }
            500 => {
                assert_eq!(r.body, "Some internal error has occurred! This is pod p\n");
                failed += 1
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((ok, failed), (4, 36));
    // /metrics reports exactly what the clients saw.
    let m = fetch(s.addr, "/metrics", T).await.unwrap();
    assert!(
        m.body
            .contains("kubia_http_requests_total{code=\"200\"} 4\n")
            && m.body
                .contains("kubia_http_requests_total{code=\"500\"} 36\n"),
        "{}",
        m.body
    );
    s.stop().await;
}

#[tokio::test]
async fn keep_alive_carries_several_requests() {
    let s = start(Config::ephemeral(Variant::V1, "p")).await;
    let mut conn = Connection::open(s.addr).await.unwrap();
    for _ in 0..5 {
        let r = conn.get("/").await.unwrap();
        assert_eq!(r.status, 200);
        assert!(!r.close);
    }
    assert!(conn.is_open());
    drop(conn);
    s.stop().await;
}

#[tokio::test]
async fn bad_requests_get_4xx_and_the_server_survives() {
    let s = start(Config::ephemeral(Variant::V1, "p")).await;
    let mut conn = Connection::open(s.addr).await.unwrap();
    let r = conn.request("POST", "/").await.unwrap();
    assert_eq!(r.status, 405);
    let r = conn.get("/?sleep_ms=nope").await.unwrap();
    assert_eq!(r.status, 400);
    let r = conn.get("/?sleep_ms=999999").await.unwrap();
    assert_eq!(r.status, 400);

    // Garbage instead of HTTP: hyper answers 400 and closes.
    let mut raw = TcpStream::connect(s.addr).await.unwrap();
    raw.write_all(b"\x00\x01 this is not http\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(T, raw.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 400"),
        "{buf:?}"
    );

    let r = fetch(s.addr, "/", T).await.unwrap();
    assert_eq!(r.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn slow_clients_are_cut_off_after_the_header_read_timeout() {
    let mut config = Config::ephemeral(Variant::V1, "p");
    config.header_read_timeout = Duration::from_millis(300);
    let s = start(config).await;
    let mut raw = TcpStream::connect(s.addr).await.unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    // The server closes the connection (possibly after a 408) instead of waiting forever.
    tokio::time::timeout(T, raw.read_to_end(&mut buf))
        .await
        .expect("server kept a slow client forever")
        .ok();
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
    s.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_and_refuses_new_ones() {
    let s = start(Config::ephemeral(Variant::V1, "p")).await;
    let addr = s.addr;
    let slow = tokio::spawn(fetch(addr, "/?sleep_ms=800", T));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = tokio::spawn(s.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = fetch(addr, "/", T).await;
    assert!(
        matches!(refused, Err(traffic_probe::FetchError::Connect { .. })),
        "{refused:?}"
    );
    let r = slow.await.unwrap().unwrap();
    assert_eq!(r.status, 200);
    stopping.await.unwrap();
}

#[tokio::test]
async fn during_the_shutdown_delay_it_keeps_serving_with_connection_close() {
    let mut config = Config::ephemeral(Variant::V2, "p");
    config.shutdown_delay = Duration::from_millis(700);
    let s = start(config).await;
    let addr = s.addr;
    let mut conn = Connection::open(addr).await.unwrap();
    assert!(!conn.get("/").await.unwrap().close);
    let stopping = tokio::spawn(s.stop());
    tokio::time::sleep(Duration::from_millis(150)).await;
    let r = fetch(addr, "/", T).await.unwrap();
    assert_eq!((r.status, r.close), (200, true));
    let r = conn.get("/").await.unwrap();
    assert_eq!((r.status, r.close), (200, true));
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(fetch(addr, "/", T).await.is_err());
    stopping.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_traffic_probe_records_every_answer_at_its_rate() {
    let s = start(Config::ephemeral(Variant::V3, "kubia-v3-abc")).await;
    let mut config = traffic_probe::ProbeConfig::new(s.addr);
    config.rate = 50.0;
    config.max_requests = 10;
    config.max_duration = Duration::from_secs(5);
    let (_stop, run) = traffic_probe::start(config);
    let samples = run.await.unwrap();
    assert_eq!(samples.len(), 10);
    // Requests start on a schedule: 10 at 50/s span about 180 ms.
    let span = samples[9].at - samples[0].at;
    assert!(span >= Duration::from_millis(150), "{span:?}");
    let versions: Vec<&str> = samples
        .iter()
        .map(|s| s.version.as_deref().unwrap())
        .collect();
    assert_eq!(versions[..4], ["v3"; 4]);
    assert!(versions[4..].iter().all(|v| *v == "error"));
    let summary = traffic_probe::summarize(&samples);
    assert_eq!((summary.sent, summary.failed), (10, 6));
    assert!(
        samples
            .iter()
            .all(|s| s.pod.as_deref() == Some("kubia-v3-abc"))
    );
    s.stop().await;
}
