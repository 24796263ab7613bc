//! Real processes: `vane serve` binaries on their own throwaway PostgreSQL cluster, driven over
//! HTTP. Covers what in-process tests cannot: PostgreSQL going away under a running server, and
//! two server processes announcing each other's writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vane_e2e::http;
use vane_e2e::pg::{Postgres, free_port};

const VANE: &str = env!("CARGO_BIN_EXE_vane");

/// A cluster in its own directory, migrated, with an admin and an edge key.
fn database(name: &str) -> (Postgres, u16, String, String) {
    let port = free_port().unwrap();
    let dir = std::env::temp_dir().join(format!("vane-{name}-{}-{port}", std::process::id()));
    let pg = Postgres::start(&dir, port).unwrap();
    let status =
        Command::new(VANE).arg("migrate").env("DATABASE_URL", &pg.url).env("VANE_LOG", "warn").status().unwrap();
    assert!(status.success());
    let mint = |scope: &str| {
        let out = Command::new(VANE)
            .args(["key", "create", "--scope", scope])
            .env("DATABASE_URL", &pg.url)
            .env("VANE_LOG", "warn")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let (admin, edge) = (mint("admin"), mint("edge"));
    (pg, port, admin, edge)
}

/// A running `vane serve`, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(url: &str) -> Server {
        Server::start_with(url, &[])
    }

    fn start_with(url: &str, env: &[(&str, &str)]) -> Server {
        let addr = format!("127.0.0.1:{}", free_port().unwrap());
        let child = Command::new(VANE)
            .arg("serve")
            .env("DATABASE_URL", url)
            .env("VANE_LISTEN", &addr)
            .env("VANE_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server { child, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http::request(&server.addr, "GET", "/health", None, None).map(|r| r.0) != Ok(200) {
            assert!(Instant::now() < deadline, "vane serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn get(&self, path: &str, key: &str) -> http::Response {
        http::send(&self.addr, "GET", path, &[("Authorization", &format!("Bearer {key}"))], None).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn postgres_outage_answers_503_and_recovers_without_restart() {
    let (pg, port, admin, _) = database("outage");
    let server = Server::start(&pg.url);
    assert_eq!(server.get("/api/v1/applications", &admin).status, 200);

    pg.stop();
    let r = server.get("/api/v1/applications", &admin);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("\"unavailable\""), "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("2"));
    let health = server.get("/health", &admin);
    assert_eq!(health.status, 200);
    assert!(health.body.contains("\"down\""), "{}", health.body);

    pg.restart(port).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = server.get("/api/v1/applications", &admin);
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 503, "only 503 while recovering: {}", r.body);
        assert!(Instant::now() < deadline, "no recovery within 20 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, body) = http::request(
        &server.addr,
        "POST",
        "/api/v1/applications",
        Some(&admin),
        Some(r#"{"key":"after-outage","name":"After the outage"}"#),
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
}

#[test]
fn two_server_processes_announce_each_others_writes() {
    let (pg, _, admin, edge) = database("two");
    let a = Server::start(&pg.url);
    let b = Server::start(&pg.url);
    let path = "/api/v1/snapshots/default/production";
    let first = b.get(path, &edge);
    let etag = first.header("etag").unwrap().to_owned();
    let version: i64 = first.header("x-vane-snapshot-version").unwrap().parse().unwrap();

    let poll = {
        let (addr, edge, etag) = (b.addr.clone(), edge.clone(), etag.clone());
        std::thread::spawn(move || {
            let auth = format!("Bearer {edge}");
            let r = http::send(
                &addr,
                "GET",
                &format!("{path}?wait=20"),
                &[("Authorization", &auth), ("If-None-Match", &etag)],
                None,
            )
            .unwrap();
            (r, Instant::now())
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let (status, body) = http::send(
        &a.addr,
        "PATCH",
        "/api/v1/environments/production",
        &[("Authorization", &format!("Bearer {admin}"))],
        Some(r#"{"max_staleness_s": 42}"#),
    )
    .map(|r| (r.status, r.body))
    .unwrap();
    let committed = Instant::now();
    assert_eq!(status, 200, "{body}");
    let (r, answered) = poll.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-vane-snapshot-version").unwrap().parse::<i64>().unwrap(), version + 1);
    assert!(r.body.contains("\"max_staleness_s\":42"), "{}", r.body);
    let lag = answered.saturating_duration_since(committed);
    assert!(lag < Duration::from_millis(500), "process B answered {lag:?} after process A's commit");
}

/// `vane import unleash`: an Unleash state file becomes a snapshot file that compiles cleanly
/// and answers as Unleash would (a 50 % flexibleRollout keeps Unleash's buckets); what cannot be
/// carried over is reported per item, and `--strict` refuses it.
#[test]
fn import_unleash_writes_a_snapshot_and_reports_per_item() {
    let dir = std::env::temp_dir().join(format!("vane-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("unleash.json");
    let output = dir.join("snapshot.json");
    let state = serde_json::json!({"version": 2, "features": [
        {"name": "half", "enabled": true, "strategies": [{"name": "flexibleRollout",
            "parameters": {"rollout": "50", "stickiness": "userId", "groupId": "boundary"}}]},
        {"name": "custom", "enabled": true, "strategies": [{"name": "myCustomStrategy", "parameters": {}}]}
    ]});
    std::fs::write(&input, state.to_string()).unwrap();
    let run = |extra: &[&str]| {
        Command::new(VANE)
            .args(["import", "unleash"])
            .arg(&input)
            .arg("--out")
            .arg(&output)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("custom") && stderr.contains("myCustomStrategy"),
        "the custom strategy is reported: {stderr}"
    );
    let snapshot = std::fs::read_to_string(&output).unwrap();
    let (compiled, warnings) = vane_core::compile_json(&snapshot).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    // boundary:28 → 50 (in at 50 %), boundary:68 → 51 (out): Unleash's normalisation, `+ 1` included.
    for (user, on) in [("28", true), ("68", false)] {
        let ctx = vane_core::Context::from_json(&serde_json::json!({"userId": user})).unwrap();
        let e = compiled.evaluate("half", &ctx, 0);
        assert_eq!(vane_core::unleash::is_enabled(&e), on, "user {user}");
    }
    assert!(!vane_core::unleash::is_enabled(&compiled.evaluate("custom", &vane_core::Context::new(), 0)));
    std::fs::remove_file(&output).unwrap();
    let strict = run(&["--strict"]);
    assert!(!strict.status.success(), "--strict refuses an import with notes");
    assert!(!output.exists(), "and writes nothing");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether the server closed `stream` (EOF or reset) within `within`.
fn closed(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // an answer (e.g. 408) before the close
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn slow_and_idle_clients_are_let_go_and_connections_are_capped() {
    let (pg, _, admin, _) = database("slow");
    let server = Server::start_with(&pg.url, &[("VANE_HEADER_TIMEOUT_S", "2"), ("VANE_MAX_CONNECTIONS", "300")]);
    // 250 clients that never finish their headers, and one idle after a request.
    let mut slow: Vec<TcpStream> = (0..250)
        .map(|_| {
            let mut s = TcpStream::connect(&server.addr).unwrap();
            s.write_all(b"GET /api/v1/applications HTTP/1.1\r\nHost: x\r\nAuthori").unwrap();
            s
        })
        .collect();
    let mut idle = TcpStream::connect(&server.addr).unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut head = [0u8; 12];
    idle.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let started = Instant::now();
    let open = slow.iter_mut().map(|s| closed(s, Duration::from_secs(6))).filter(|c| !c).count();
    assert_eq!(open, 0, "{open} of 250 slow connections still open");
    assert!(closed(&mut idle, Duration::from_secs(1)), "an idle keep-alive connection is closed too");
    assert!(started.elapsed() < Duration::from_secs(8));
    // The server is unharmed.
    assert_eq!(server.get("/api/v1/applications", &admin).status, 200);

    // At the cap, a new client waits for a slot instead of being refused or dropped.
    let capped = Server::start_with(&pg.url, &[("VANE_HEADER_TIMEOUT_S", "2"), ("VANE_MAX_CONNECTIONS", "10")]);
    let silent: Vec<TcpStream> = (0..10).map(|_| TcpStream::connect(&capped.addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    let r = capped.get("/health", &admin);
    assert_eq!(r.status, 200);
    let waited = asked.elapsed();
    assert!(waited > Duration::from_millis(1000), "answered after {waited:?}: the cap did not hold");
    drop(silent);
}
