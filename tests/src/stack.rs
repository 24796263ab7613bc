//! The real processes of a Vane deployment, for end-to-end tests and benchmarks: a control plane
//! (`vane serve` on its own throwaway PostgreSQL), the edge worker under local workerd
//! (`tests/edge/host.mjs`, Miniflare), and a fault-injecting proxy between them.
//!
//! The `vane` binary is `$VANE_BIN`, else `target/debug/vane`; the worker is `edge/build/`
//! (`bash edge/build.sh`). `cargo xtask test` builds both before it runs these tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use crate::{Result, http, pg};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

/// Cargo's target directory (`CARGO_TARGET_DIR`, else `target/` in the repository).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

/// The `vane` binary under test (`VANE_BIN`, or the debug build).
pub fn vane_bin() -> PathBuf {
    std::env::var_os("VANE_BIN").map(PathBuf::from).unwrap_or_else(|| target_dir().join("debug/vane"))
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A scratch directory unique to this process and call.
pub fn scratch(name: &str) -> PathBuf {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("vane-{name}-{}-{n}", std::process::id()))
}

/// `vane serve` on a throwaway PostgreSQL, with an admin, an edge and a client key.
#[derive(Debug)]
pub struct ControlPlane {
    postgres: pg::Postgres,
    data: PathBuf,
    child: Option<Child>,
    pub addr: String,
    pub admin: String,
    pub edge: String,
    pub client: String,
}

impl ControlPlane {
    pub fn start() -> Result<ControlPlane> {
        let data = scratch("pg");
        let postgres = pg::Postgres::start(&data, pg::free_port()?)?;
        let vane = vane_bin();
        if !vane.exists() {
            return Err(format!("{} is missing: cargo build -p vane-control-plane --bin vane", vane.display()));
        }
        let out = Command::new(&vane).arg("migrate").env("DATABASE_URL", &postgres.url).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => return Err(format!("vane migrate: {}", String::from_utf8_lossy(&o.stderr))),
            Err(e) => return Err(format!("vane migrate: {e}")),
        }
        let mint = |scope: &str| -> Result<String> {
            let out = Command::new(&vane)
                .args(["key", "create", "--scope", scope, "--name", scope])
                .env("DATABASE_URL", &postgres.url)
                .output()
                .map_err(|e| format!("vane key create: {e}"))?;
            if !out.status.success() {
                return Err(format!("vane key create: {}", String::from_utf8_lossy(&out.stderr)));
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        let (admin, edge, client) = (mint("admin")?, mint("edge")?, mint("client")?);
        let mut cp = ControlPlane {
            postgres,
            data,
            child: None,
            addr: format!("127.0.0.1:{}", pg::free_port()?),
            admin,
            edge,
            client,
        };
        cp.resume()?;
        Ok(cp)
    }

    /// Starts `vane serve` (again) on the same address.
    pub fn resume(&mut self) -> Result {
        let child = Command::new(vane_bin())
            .arg("serve")
            .env("DATABASE_URL", &self.postgres.url)
            .env("VANE_LISTEN", &self.addr)
            .env("VANE_ENCRYPTION_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("vane serve: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if http::request(&self.addr, "GET", "/health", None, None).is_ok_and(|(s, _)| s == 200) {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(50));
        }
        Err(format!("vane serve did not become ready on {}", self.addr))
    }

    /// Kills `vane serve` (PostgreSQL keeps running).
    pub fn halt(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// An admin request; fails unless the status is 2xx. Returns the body.
    pub fn admin(&self, method: &str, path: &str, body: Option<&str>) -> Result<String> {
        let (status, text) = http::request(&self.addr, method, &format!("/api/v1{path}"), Some(&self.admin), body)?;
        if (200..300).contains(&status) { Ok(text) } else { Err(format!("{method} {path}: {status} {text}")) }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.halt();
        self.postgres.stop();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// How to run the edge worker.
#[derive(Debug, Clone)]
pub struct EdgeOptions {
    pub control_plane: String,
    pub edge_key: String,
    pub application: String,
    pub environment: String,
    /// Where KV (the Worker) or the copies on disk (`vane edge`) persist across restarts;
    /// `None` keeps none.
    pub kv_dir: Option<PathBuf>,
    pub refresh_ms: u64,
    pub watch_s: u64,
    pub rate_limit_rps: u32,
    /// Listen on this port (default: a free one).
    pub port: Option<u16>,
    /// Miniflare (KV, cron), bare `workerd serve`, or the self-hosted edge (`vane edge`).
    pub runtime: Runtime,
    /// The `vane` binary `Runtime::Native` runs (default: [`vane_bin`]).
    pub vane: Option<PathBuf>,
    /// `vane edge`'s worker threads (default: one per core).
    pub threads: Option<usize>,
}

/// How the worker is hosted locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// `tests/edge/host.mjs`: Miniflare's Node API around workerd, with KV and the cron trigger.
    Miniflare,
    /// `workerd serve` with a generated config: the runtime alone, as in production, without
    /// Miniflare's entry worker — and without KV or cron.
    Workerd,
    /// `vane edge`: the same modules on a native server, copies on disk, push to browsers.
    Native,
}

impl Runtime {
    /// Whether this host is the Worker (under Miniflare or workerd).
    pub fn is_worker(self) -> bool {
        self != Runtime::Native
    }
}

impl EdgeOptions {
    pub fn new(control_plane: &str, edge_key: &str, application: &str) -> EdgeOptions {
        EdgeOptions {
            control_plane: format!("http://{control_plane}"),
            edge_key: edge_key.to_owned(),
            application: application.to_owned(),
            environment: "production".to_owned(),
            kv_dir: None,
            refresh_ms: 1_000,
            watch_s: 20,
            rate_limit_rps: 0,
            port: None,
            runtime: Runtime::Miniflare,
            vane: None,
            threads: None,
        }
    }

    /// The settings every host reads, by the names both read them.
    fn vars(&self) -> [(&'static str, String); 7] {
        [
            ("VANE_CONTROL_PLANE_URL", self.control_plane.clone()),
            ("VANE_EDGE_KEY", self.edge_key.clone()),
            ("VANE_DEFAULT_APPLICATION", self.application.clone()),
            ("VANE_DEFAULT_ENVIRONMENT", self.environment.clone()),
            ("VANE_REFRESH_MS", self.refresh_ms.to_string()),
            ("VANE_WATCH_S", self.watch_s.to_string()),
            ("VANE_RATE_LIMIT_RPS", self.rate_limit_rps.to_string()),
        ]
    }

    /// The same options on another host.
    pub fn on(self, runtime: Runtime) -> EdgeOptions {
        EdgeOptions { runtime, ..self }
    }
}

/// The edge worker under local workerd (Miniflare's Node API).
#[derive(Debug)]
pub struct Edge {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    pub addr: String,
    pub options: EdgeOptions,
}

impl Edge {
    pub fn start(options: EdgeOptions) -> Result<Edge> {
        let mut edge = Edge { child: None, stdin: None, addr: String::new(), options };
        edge.launch()?;
        Ok(edge)
    }

    fn launch(&mut self) -> Result {
        match self.options.runtime {
            Runtime::Workerd => return self.launch_workerd(),
            Runtime::Native => return self.launch_native(),
            Runtime::Miniflare => {}
        }
        let o = &self.options;
        let script = root().join("edge/build/index.js");
        if !script.exists() {
            return Err(format!("{} is missing: bash edge/build.sh", script.display()));
        }
        let port = match o.port {
            Some(p) => p,
            None => pg::free_port()?,
        };
        let mut cmd = Command::new("node");
        cmd.arg(root().join("tests/edge/host.mjs"))
            .current_dir(root())
            .env("PORT", port.to_string())
            .envs(o.vars())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(dir) = &o.kv_dir {
            cmd.env("VANE_EDGE_KV_DIR", dir);
        }
        let mut child = cmd.spawn().map_err(|e| format!("node tests/edge/host.mjs: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        self.stdin = child.stdin.take();
        self.child = Some(child);
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref().map_while(std::result::Result::ok) {
                if line.starts_with("READY") {
                    let _ = tx.send(());
                    break;
                }
            }
            // Keep draining so a full pipe never blocks the worker.
            for _ in lines {}
        });
        rx.recv_timeout(Duration::from_secs(30)).map_err(|_| "the edge worker did not start within 30 s".to_owned())?;
        self.addr = format!("127.0.0.1:{port}");
        Ok(())
    }

    fn launch_workerd(&mut self) -> Result {
        let o = &self.options;
        let dir = scratch("workerd");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        for file in ["index.js", "index_bg.wasm"] {
            std::fs::copy(root().join("edge/build").join(file), dir.join(file))
                .map_err(|e| format!("edge/build/{file}: {e} (bash edge/build.sh)"))?;
        }
        let port = match o.port {
            Some(p) => p,
            None => pg::free_port()?,
        };
        let text = |name: &str, value: &str| format!("    (name = \"{name}\", text = \"{value}\"),\n");
        let config = format!(
            "using Workerd = import \"/workerd/workerd.capnp\";\n\
             const config :Workerd.Config = (\n  services = [\n    (name = \"main\", worker = .edge),\n\
             \x20   (name = \"internet\", network = (allow = [\"public\", \"private\", \"local\"])),\n  ],\n\
             \x20 sockets = [(name = \"http\", address = \"127.0.0.1:{port}\", http = (), service = \"main\")],\n);\n\
             const edge :Workerd.Worker = (\n  modules = [\n    (name = \"index.js\", esModule = embed \"index.js\"),\n\
             \x20   (name = \"index_bg.wasm\", wasm = embed \"index_bg.wasm\"),\n  ],\n\
             \x20 compatibilityDate = \"2026-04-20\",\n  globalOutbound = \"internet\",\n  bindings = [\n{}  ],\n);\n",
            o.vars().iter().map(|(name, value)| text(name, value)).collect::<String>(),
        );
        std::fs::write(dir.join("edge.capnp"), config).map_err(|e| e.to_string())?;
        let child = Command::new(root().join("node_modules/.bin/workerd"))
            .args(["serve", "edge.capnp", "--experimental"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("workerd: {e} (npm ci)"))?;
        self.serving(child, port, "workerd")
    }

    /// Keeps `child`, listening on `port`, once its `/health` answers (30 s at most).
    fn serving(&mut self, child: Child, port: u16, what: &str) -> Result {
        self.child = Some(child);
        self.addr = format!("127.0.0.1:{port}");
        let addr = self.addr.clone();
        wait_for(Duration::from_secs(30), || {
            http::send(&addr, "GET", "/health", &[], None).ok().filter(|r| r.status == 200)
        })
        .map(drop)
        .ok_or_else(|| format!("{what} did not start within 30 s"))
    }

    fn launch_native(&mut self) -> Result {
        let o = &self.options;
        let port = match o.port {
            Some(p) => p,
            None => pg::free_port()?,
        };
        let vane = o.vane.clone().unwrap_or_else(vane_bin);
        let mut command = Command::new(&vane);
        if let Some(n) = o.threads {
            command.env("VANE_EDGE_THREADS", n.to_string());
        }
        let child = command
            .arg("edge")
            .env("VANE_EDGE_LISTEN", format!("127.0.0.1:{port}"))
            .envs(o.vars())
            .env("VANE_EDGE_DATA_DIR", o.kv_dir.as_deref().unwrap_or(Path::new("none")))
            .env("VANE_LOG", std::env::var("VANE_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{} edge: {e} (cargo build -p vane-control-plane)", vane.display()))?;
        self.serving(child, port, "vane edge")
    }

    /// Stops the edge: `vane edge` and workerd are killed (neither has children), Miniflare is
    /// asked to dispose of workerd by closing its stdin.
    pub fn stop(&mut self) {
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            if self.options.runtime != Runtime::Miniflare {
                // workerd has no children of its own: stopping it is enough.
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A fresh isolate (same KV directory): what a cold start sees.
    pub fn restart(&mut self) -> Result {
        self.stop();
        self.launch()
    }

    /// Asks the edge to stop as an orchestrator does (`SIGTERM`) and waits for it (at most
    /// `limit`): its exit status, or `None` if it had to be killed.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// The process serving (workerd under Miniflare is a child of Node: its Node process).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Runs the Worker's cron handler once.
    pub fn cron(&self) -> Result<u16> {
        if !self.options.runtime.is_worker() {
            return Err("vane edge has no cron: its streams refresh themselves".into());
        }
        http::send(&self.addr, "GET", "/cdn-cgi/handler/scheduled?cron=*+*+*+*+*", &[], None).map(|r| r.status)
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the proxy does to control-plane traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward unchanged.
    Pass,
    /// Refuse: connections are closed at once (the control plane is unreachable).
    Down,
    /// Forward, but flip one byte of every 200 body (its ETag no longer matches).
    Corrupt,
    /// Answer every request with this 200 body and ETag instead.
    Canned { body: String, etag: String },
}

/// A TCP proxy in front of the control plane that can fail on demand. One request per
/// connection (it forwards `Connection: close`).
#[derive(Debug)]
pub struct Proxy {
    pub addr: String,
    fault: Arc<Mutex<Fault>>,
    connections: Arc<AtomicU64>,
}

impl Proxy {
    pub fn start(upstream: &str) -> Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?.to_string();
        let fault = Arc::new(Mutex::new(Fault::Pass));
        let connections = Arc::new(AtomicU64::new(0));
        let (shared, upstream, counter) = (fault.clone(), upstream.to_owned(), connections.clone());
        thread::spawn(move || {
            for conn in listener.incoming().map_while(std::result::Result::ok) {
                counter.fetch_add(1, Ordering::Relaxed);
                let (fault, upstream) = (shared.clone(), upstream.clone());
                thread::spawn(move || {
                    let mode = fault.lock().map(|f| f.clone()).unwrap_or(Fault::Down);
                    let _ = serve(conn, &upstream, &mode);
                });
            }
        });
        Ok(Proxy { addr, fault, connections })
    }

    /// Connections accepted so far (each is one control-plane request).
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    pub fn set(&self, fault: Fault) {
        if let Ok(mut f) = self.fault.lock() {
            *f = fault;
        }
    }
}

/// Reads one HTTP request head (and no body: the edge only GETs).
fn read_head(conn: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

fn serve(mut conn: TcpStream, upstream: &str, fault: &Fault) -> std::io::Result<()> {
    if *fault == Fault::Down {
        return conn.shutdown(Shutdown::Both);
    }
    let head = read_head(&mut conn)?;
    if let Fault::Canned { body, etag } = fault {
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: \"{etag}\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        return conn.write_all(reply.as_bytes());
    }
    let mut lines = head.split("\r\n").filter(|l| !l.is_empty());
    let Some(request_line) = lines.next() else { return Ok(()) };
    let mut out = format!("{request_line}\r\nHost: {upstream}\r\nConnection: close\r\n");
    for line in lines {
        let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
        if name != "host" && name != "connection" {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(out.as_bytes())?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    if *fault == Fault::Corrupt
        && answer.starts_with(b"HTTP/1.1 200")
        && let Some(at) = answer.windows(4).position(|w| w == b"\r\n\r\n")
        && let Some(open) = answer.iter().skip(at + 4).position(|b| *b == b'{')
        && let Some(byte) = answer.iter_mut().skip(at + 4 + open).find(|b| b.is_ascii_digit())
    {
        *byte = if *byte == b'9' { b'8' } else { *byte + 1 };
    }
    conn.write_all(&answer)
}

/// Polls `check` until it returns `Some`, for at most `limit`.
pub fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Fills application `app` (which must exist) with a snapshot document's segments, flags
/// (client-visible, with their state in `environment` as in the document) and configs, through
/// the admin API.
pub fn seed(addr: &str, admin: &str, app: &str, environment: &str, doc: &serde_json::Value) -> Result {
    use serde_json::{Map, Value, json};
    let items = |name: &str| doc[name].as_array().cloned().unwrap_or_default();
    let pick = |from: &Value, fields: &[&str]| -> Value {
        let mut m = Map::new();
        for f in fields {
            if let Some(v) = from.get(*f) {
                m.insert((*f).to_owned(), v.clone());
            }
        }
        Value::Object(m)
    };
    let send = |method: &str, path: &str, body: Value| -> Result {
        let (status, answer) = http::request(addr, method, path, Some(admin), Some(&body.to_string()))?;
        if (200..300).contains(&status) { Ok(()) } else { Err(format!("{method} {path}: {status} {answer}")) }
    };
    for s in items("segments") {
        send(
            "POST",
            &format!("/api/v1/applications/{app}/segments"),
            pick(&s, &["key", "description", "conditions", "included", "excluded"]),
        )?;
    }
    let flags = items("flags");
    for f in &flags {
        let mut create = pick(f, &["key", "type", "variants", "description", "tags"]);
        create["client_visible"] = f.get("client_visible").cloned().unwrap_or(json!(true));
        send("POST", &format!("/api/v1/applications/{app}/flags"), create)?;
    }
    for f in &flags {
        let mut state = pick(f, &["enabled", "off_variant", "rules", "default", "prerequisites", "salt"]);
        if state.get("enabled").is_none() {
            state["enabled"] = json!(true);
        }
        let key = f["key"].as_str().unwrap_or_default();
        send("PATCH", &format!("/api/v1/applications/{app}/flags/{key}/environments/{environment}"), state)?;
    }
    for c in items("configs") {
        let mut config = pick(&c, &["key", "value", "value_type", "description"]);
        config["client_visible"] = c.get("client_visible").cloned().unwrap_or(json!(true));
        send("POST", &format!("/api/v1/applications/{app}/environments/{environment}/configs"), config)?;
    }
    Ok(())
}
