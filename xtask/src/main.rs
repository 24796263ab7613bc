//! `cargo xtask <task>`: the one entry point for Vane's development chores.
//!
//! Tasks shell out to cargo and to the few system tools they need, and install what is
//! missing idempotently, so the same command works on a fresh machine, in CI and on a
//! developer's laptop. It has no dependencies beyond std, so it builds in seconds.
//!
//! * `cargo xtask test`  — everything CI checks: formatting, clippy, every test, the wasm builds
//!   and their parity with native code.
//! * `cargo xtask run`   — runs Vane locally: PostgreSQL, the control plane, a demo application.
//! * `cargo xtask demo`  — the evaluation engine on a demo snapshot, no server needed.
//! * `cargo xtask bench` — the engine benchmarks behind BENCHMARKS.md.
//! * `cargo xtask bench-control-plane` — the control plane's (PostgreSQL, release `vane`, wrk).
//! * `cargo xtask bench-edge` — the edge worker's (propagation, OFREP single and bulk, workerd).
//! * `cargo xtask bench-web` — the browser package's (size, in-page load and evaluation, Chromium).
//! * `cargo xtask bench-edges` — `vane edge` and the Worker beside Unleash Edge (same flags, one run).
//! * `cargo xtask bench-unleash` — vane-core vs unleash-yggdrasil on the same Unleash flags.
//! * `cargo xtask setup` — installs the toolchain pieces the other tasks need.
//! * `cargo xtask sqlx-prepare` — rewrites the offline SQL data (`.sqlx/`) after a statement or a
//!   migration changed.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use vane_e2e::{Result, http, pg, step};

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((t, r)) => (t.as_str(), r),
        None => ("help", &[][..]),
    };
    let outcome = match task {
        "test" => test(),
        "run" => run(),
        "demo" => demo(rest),
        "bench" => bench(rest),
        "bench-control-plane" => bench_control_plane(),
        "bench-edge" => bench_edge(),
        "bench-edges" => bench_edges(),
        "bench-web" => bench_web(),
        "bench-console" => bench_console(),
        "bench-unleash" => bench_unleash(rest),
        "setup" => setup(),
        "sqlx-prepare" => sqlx_prepare(),
        "console" => setup().and_then(|()| build_console()),
        "api-types" => setup().and_then(|()| {
            step("build the control plane", cargo().args(["build", "-p", "vane-control-plane", "--bin", "vane"]))?;
            api_types(false)
        }),
        "help" | "-h" | "--help" => {
            eprintln!(
                "usage: cargo xtask <test|run|demo|bench|bench-control-plane|bench-edge|bench-edges|bench-web|bench-console|bench-unleash|setup|sqlx-prepare|api-types|console>"
            );
            Ok(())
        }
        other => Err(format!("unknown task '{other}'; try `cargo xtask help`")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `target/`).
fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

fn cargo() -> Command {
    let mut c = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// wasm-bindgen's CLI must match the `wasm-bindgen` crate in Cargo.lock exactly.
const WASM_BINDGEN_VERSION: &str = "0.2.130";
/// worker-build builds the edge worker (`edge/build.sh`).
const WORKER_BUILD_VERSION: &str = "0.8.7";
/// sqlx-cli checks (and writes) the offline query data in `.sqlx/`: the `sqlx` crate's version.
const SQLX_CLI_VERSION: &str = "0.9.0";

/// The output of `program args`, if it runs.
fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Installs what the tasks need; each step checks before it installs.
fn setup() -> Result {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup is required: {e}"))?;
    if !String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == "wasm32-unknown-unknown") {
        step("install the wasm32 target", Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    // The browser package rebuilds the standard library for size (`build_web`): needs its source.
    let components = output_of("rustup", &["component", "list", "--installed"]).unwrap_or_default();
    if !components.lines().any(|l| l.trim().starts_with("rust-src")) {
        step("install the rust-src component", Command::new("rustup").args(["component", "add", "rust-src"]))?;
    }
    // No --locked for wasm-bindgen-cli: its lock file pins crates that no longer build.
    if output_of("wasm-bindgen", &["--version"]).is_none_or(|v| !v.ends_with(WASM_BINDGEN_VERSION)) {
        step(
            "install wasm-bindgen-cli (a few minutes, once)",
            cargo().args(["install", "wasm-bindgen-cli", "--version", WASM_BINDGEN_VERSION]),
        )?;
    }
    if output_of("worker-build", &["--version"]).is_none_or(|v| !v.ends_with(WORKER_BUILD_VERSION)) {
        step(
            "install worker-build (a few minutes, once)",
            cargo().args(["install", "worker-build", "--version", WORKER_BUILD_VERSION, "--locked"]),
        )?;
    }
    if output_of("cargo", &["sqlx", "--version"]).is_none_or(|v| !v.ends_with(SQLX_CLI_VERSION)) {
        step(
            "install sqlx-cli (a few minutes, once)",
            cargo().args([
                "install",
                "sqlx-cli",
                "--version",
                SQLX_CLI_VERSION,
                "--no-default-features",
                "--features",
                "postgres,rustls",
                "--locked",
            ]),
        )?;
    }
    setup_node()?;
    setup_python()?;
    // The browser tests drive Debian's Chromium (Playwright's own download is not reachable).
    if !Path::new("/usr/bin/chromium").exists() {
        step("apt-get update", Command::new("apt-get").args(["update", "-qq"]))?;
        step(
            "install Chromium (browser tests)",
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends", "chromium"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    Ok(())
}

/// `npm ci` when node_modules does not match package-lock.json (wrangler, Miniflare/workerd,
/// the OpenFeature Node clients).
fn setup_node() -> Result {
    if output_of("node", &["--version"]).is_none() || output_of("npm", &["--version"]).is_none() {
        return Err("Node.js 20+ and npm are required (https://nodejs.org, or apt-get install nodejs npm)".into());
    }
    let lock = root().join("package-lock.json");
    let stamp = root().join("node_modules/.vane-package-lock.json");
    let wanted = std::fs::read(&lock).map_err(|e| format!("{}: {e}", lock.display()))?;
    if std::fs::read(&stamp).ok().as_ref() == Some(&wanted) {
        return Ok(());
    }
    step(
        "npm ci (wrangler, Miniflare, OpenFeature clients)",
        Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(root()),
    )?;
    std::fs::write(&stamp, wanted).map_err(|e| format!("{}: {e}", stamp.display()))
}

/// The Python OpenFeature client the edge tests use, in `target/e2e-venv`.
fn setup_python() -> Result {
    let requirements = root().join("tests/clients/requirements.txt");
    let venv = root().join("target/e2e-venv");
    let stamp = venv.join("vane-requirements.txt");
    let wanted = std::fs::read(&requirements).map_err(|e| format!("{}: {e}", requirements.display()))?;
    if std::fs::read(&stamp).ok().as_ref() == Some(&wanted) {
        return Ok(());
    }
    let create = || Command::new("python3").arg("-m").arg("venv").arg("--clear").arg(&venv).status();
    if !create().is_ok_and(|s| s.success()) {
        step("apt-get update", Command::new("apt-get").args(["update", "-qq"]))?;
        step(
            "install python3-venv",
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends", "python3-venv", "python3-pip"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
        step("create the Python venv", Command::new("python3").arg("-m").arg("venv").arg("--clear").arg(&venv))?;
    }
    step(
        "pip install the OpenFeature Python client",
        Command::new(venv.join("bin/pip")).args(["install", "-q", "-r"]).arg(&requirements),
    )?;
    std::fs::write(&stamp, wanted).map_err(|e| format!("{}: {e}", stamp.display()))
}

/// Where the browser package is put: `target/vane-web/` in the repository whatever
/// `CARGO_TARGET_DIR` says, so its modules resolve `@openfeature/web-sdk` from `node_modules/`.
fn web_dir() -> PathBuf {
    root().join("target/vane-web")
}

/// Builds the browser package into `target/vane-web/`: vane-core's bindings (`vane-web`,
/// profile `web`, wasm-bindgen `--target web`) next to the JS client, provider and types.
fn build_web() -> Result {
    // Size matters here (the package is downloaded by every visitor): the standard library is
    // rebuilt with this profile, panics abort without formatting a message, and no source
    // locations are kept. These are unstable flags, allowed on the stable toolchain by
    // RUSTC_BOOTSTRAP for this one build only (recorded in ARCHITECTURE.md).
    step(
        "build vane-web for wasm32 (profile web, std rebuilt for size)",
        cargo()
            .args(["build", "-p", "vane-web", "--target", "wasm32-unknown-unknown", "--profile", "web"])
            .args(["-Z", "build-std=std,panic_abort"])
            .env("RUSTC_BOOTSTRAP", "1")
            .env(
                "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
                "-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none",
            ),
    )?;
    let out = web_dir();
    step(
        "wasm-bindgen --target web",
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--remove-name-section", "--remove-producers-section", "--out-dir"])
            .arg(&out)
            .arg(target_dir().join("wasm32-unknown-unknown/web/vane_web.wasm")),
    )?;
    // The shipped JS is minified by esbuild (installed by `npm ci` with wrangler); the readable
    // sources are in shared/web/js.
    let esbuild = root().join("node_modules/@esbuild/linux-x64/bin/esbuild");
    let glue = out.join("vane_web.js");
    step(
        "minify the wasm-bindgen glue",
        Command::new(&esbuild)
            .arg(&glue)
            .args(["--minify", "--format=esm", "--allow-overwrite", "--log-level=warning"])
            .arg(format!("--outfile={}", glue.display())),
    )?;
    for file in ["vane.js", "provider.js"] {
        let from = root().join("shared/web/js").join(file);
        step(
            &format!("minify {file}"),
            Command::new(&esbuild)
                .arg(&from)
                .args(["--minify", "--format=esm", "--log-level=warning"])
                .arg(format!("--outfile={}", out.join(file).display())),
        )?;
    }
    let types = root().join("shared/web/js/vane.d.ts");
    std::fs::copy(&types, out.join("vane.d.ts")).map_err(|e| format!("{}: {e}", types.display()))?;
    Ok(())
}

/// Builds the edge worker into `edge/build/` (worker-build, offline).
fn build_worker() -> Result {
    step("build the edge worker (worker-build)", Command::new("bash").arg(root().join("edge/build.sh")))
}

fn test() -> Result {
    setup()?;
    step("format", cargo().args(["fmt", "--all", "--", "--check"]))?;
    step("clippy", cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    step(
        "clippy for wasm32 (the worker and browser bindings, the parity probe)",
        cargo().args([
            "clippy",
            "-p",
            "vane-core",
            "-p",
            "vane-edge",
            "-p",
            "vane-web",
            "-p",
            "vane-wasm-probe",
            "--target",
            "wasm32-unknown-unknown",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // The console embeds the browser package (built first by `build_console`).
    build_console()?;
    step("build the control plane", cargo().args(["build", "-p", "vane-control-plane", "--bin", "vane"]))?;
    api_types(true)?;
    build_worker()?;
    // The control plane's tests each get a fresh database on this throwaway cluster.
    let data = env::temp_dir().join(format!("vane-test-pg-{}", std::process::id()));
    let postgres = pg::Postgres::start(&data, pg::free_port()?)?;
    // Builds read the statements' types from `.sqlx/` (`SQLX_OFFLINE`, .cargo/config.toml); this
    // fails when that data no longer matches the statements or the migrated schema.
    let checked = sqlx_against(&postgres.url, true);
    // vane-core's tests record the snapshots and contexts they evaluate here: the parity
    // harness (tests/tests/parity.rs) replays them in the wasm32 builds.
    let vectors = target_dir().join("parity-vectors");
    let _ = std::fs::remove_dir_all(&vectors);
    std::fs::create_dir_all(&vectors).map_err(|e| format!("{}: {e}", vectors.display()))?;
    let tests = step(
        "tests",
        cargo().args(["test", "--workspace"]).env("DATABASE_URL", &postgres.url).env("VANE_VECTORS_OUT", &vectors),
    );
    drop(postgres);
    let _ = std::fs::remove_dir_all(&data);
    checked?;
    tests?;
    step(
        "the parity probe for wasm32 (vane-core behind a C ABI, run under wasmtime)",
        cargo().args(["build", "-p", "vane-wasm-probe", "--target", "wasm32-unknown-unknown", "--release"]),
    )?;
    // The edge end to end: each test starts its own PostgreSQL, `vane serve` and workerd; one at
    // a time, since they share two cores. Also the parity of the wasm32 builds with native code.
    step(
        "edge worker and browser package end to end (workerd, real OpenFeature clients), wasm parity",
        cargo()
            .args(["test", "-p", "vane-e2e", "--", "--ignored", "--test-threads=1"])
            .env("VANE_BIN", target_dir().join("debug/vane"))
            .env("VANE_WEB_DIR", web_dir())
            .env("VANE_VECTORS_DIR", &vectors)
            .env("VANE_PROBE_WASM", target_dir().join("wasm32-unknown-unknown/release/vane_wasm_probe.wasm")),
    )?;
    step(
        "vane-core for wasm32-unknown-unknown",
        cargo().args(["build", "-p", "vane-core", "--target", "wasm32-unknown-unknown", "--release"]),
    )?;
    eprintln!("\nAll checks passed.");
    Ok(())
}

/// The console's TypeScript types of the HTTP API (`control-plane/ui/src/api.d.ts`), generated by
/// openapi-typescript from the server's own OpenAPI document (`vane openapi`, from the debug
/// build): rewritten, or (`check`) compared with the committed file, which fails when the server's
/// types changed without them. Then the console's TypeScript is type-checked (strict).
fn api_types(check: bool) -> Result {
    let document = target_dir().join("openapi.json");
    let printed = Command::new(target_dir().join("debug/vane"))
        .arg("openapi")
        .output()
        .map_err(|e| format!("vane openapi: {e}"))?;
    if !printed.status.success() {
        return Err(format!("vane openapi failed: {}", String::from_utf8_lossy(&printed.stderr)));
    }
    std::fs::write(&document, &printed.stdout).map_err(|e| format!("{}: {e}", document.display()))?;
    let committed = root().join("control-plane/ui/src/api.d.ts");
    let written = if check { target_dir().join("api.d.ts") } else { committed.clone() };
    step(
        "generate the console's API types (openapi-typescript)",
        Command::new(root().join("node_modules/.bin/openapi-typescript")).arg(&document).arg("-o").arg(&written),
    )?;
    if check {
        let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        if read(&written)? != read(&committed)? {
            return Err(format!(
                "{} does not match the server's OpenAPI document; run `cargo xtask api-types` and commit it",
                committed.display()
            ));
        }
    }
    step(
        "type-check the console (tsc, strict)",
        Command::new(root().join("node_modules/.bin/tsc")).args(["-p", "control-plane/ui"]).current_dir(root()),
    )?;
    step(
        "check the console's formatting (prettier)",
        Command::new(root().join("node_modules/.bin/prettier"))
            .args(["--check", "control-plane/ui/src", "control-plane/ui/index.html"])
            .args(["tests/web/console.test.mjs", "tests/web/console-bench.mjs"])
            .current_dir(root()),
    )
}

/// Migrates the database at `url` with sqlx-cli (no build of Vane needed, so it works while the
/// offline data is stale), then checks the offline data against it (`check`) or rewrites it.
/// Every target counts: unit tests use checked statements too.
fn sqlx_against(url: &str, check: bool) -> Result {
    step(
        "migrate a database for the SQL checks",
        cargo().args(["sqlx", "migrate", "run", "--source", "migrations"]).env("DATABASE_URL", url),
    )?;
    let (what, flag) = if check { ("check", Some("--check")) } else { ("write", None) };
    step(
        &format!("{what} the offline SQL data (.sqlx/) against the schema"),
        cargo()
            .args(["sqlx", "prepare", "--workspace"])
            .args(flag)
            .args(["--", "--all-targets"])
            .env("DATABASE_URL", url),
    )
}

/// `cargo xtask sqlx-prepare`: rewrites `.sqlx/` after a statement or a migration changed, against
/// a throwaway database.
fn sqlx_prepare() -> Result {
    setup()?;
    let data = env::temp_dir().join(format!("vane-sqlx-pg-{}", std::process::id()));
    let postgres = pg::Postgres::start(&data, pg::free_port()?)?;
    let prepared = sqlx_against(&postgres.url, false);
    drop(postgres);
    let _ = std::fs::remove_dir_all(&data);
    prepared
}

fn demo(rest: &[String]) -> Result {
    step(
        "engine demo",
        cargo().args(["run", "--quiet", "--release", "-p", "vane-core", "--example", "demo", "--"]).args(rest),
    )
}

/// Builds the console (`control-plane/ui`) into `control-plane/ui/dist`, which `vane` embeds
/// (`control-plane/build.rs`): its TypeScript bundled and minified by esbuild (installed by `npm
/// ci` with wrangler), its stylesheet minified, its page copied.
fn build_console() -> Result {
    // The draft preview runs the browser package: its module and glue ship with the console
    // (as `engine.wasm` and `engine.js`, loaded only when a preview is first shown).
    build_web()?;
    let ui = root().join("control-plane/ui");
    let dist = ui.join("dist");
    // Chunks are named by their content: the last build's must not linger (build.rs embeds all).
    let _ = std::fs::remove_dir_all(&dist);
    std::fs::create_dir_all(&dist).map_err(|e| format!("{}: {e}", dist.display()))?;
    for (from, to) in [("vane_web.js", "engine.js"), ("vane_web_bg.wasm", "engine.wasm")] {
        let from = web_dir().join(from);
        std::fs::copy(&from, dist.join(to)).map_err(|e| format!("{}: {e}", from.display()))?;
    }
    let esbuild = root().join("node_modules/@esbuild/linux-x64/bin/esbuild");
    step(
        "bundle the console (esbuild)",
        Command::new(&esbuild)
            .arg(ui.join("src/main.tsx"))
            .args(["--bundle", "--minify", "--format=esm", "--target=es2022", "--jsx=automatic"])
            .args(["--jsx-import-source=preact", "--log-level=warning"])
            // What is imported lazily (the JSON editor) becomes chunks of its own, fetched on use.
            .args(["--splitting", "--entry-names=app", "--chunk-names=chunk-[hash]"])
            .arg(format!("--outdir={}", dist.display()))
            .current_dir(root()),
    )?;
    step(
        "minify the console's stylesheet",
        Command::new(&esbuild)
            .arg(ui.join("src/app.css"))
            .args(["--minify", "--log-level=warning"])
            .arg(format!("--outfile={}", dist.join("app.css").display())),
    )?;
    let page = ui.join("index.html");
    std::fs::copy(&page, dist.join("index.html")).map_err(|e| format!("{}: {e}", page.display()))?;
    Ok(())
}

/// Runs the local stack until Ctrl-C.
fn run() -> Result {
    setup()?;
    build_console()?;
    let listen = env::var("VANE_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let pg_port: u16 = env::var("VANE_DEV_PG_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(55432);
    let postgres = pg::Postgres::start(&env::temp_dir().join("vane-dev-pg"), pg_port)?;
    // What a new user judges Vane by: the release build (a few minutes the first time).
    step(
        "build the control plane (release)",
        cargo().args(["build", "--release", "-p", "vane-control-plane", "--bin", "vane"]),
    )?;
    let vane = target_dir().join("release/vane");
    let db = [("DATABASE_URL", postgres.url.as_str())];
    step("migrate", Command::new(&vane).arg("migrate").envs(db))?;
    // Secret configs need a key; a fresh random one suits a throwaway local stack.
    let encryption_key = env::var("VANE_ENCRYPTION_KEY").unwrap_or_else(|_| random_key_base64());
    let mint = |scope: &str| -> Result<String> {
        let out = Command::new(&vane)
            .args(["key", "create", "--scope", scope, "--name", &format!("local {scope}")])
            .envs(db)
            .output()
            .map_err(|e| format!("vane key create: {e}"))?;
        if !out.status.success() {
            return Err(format!("vane key create failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let (admin, edge, client) = (mint("admin")?, mint("edge")?, mint("client")?);
    let mut server = Command::new(&vane)
        .arg("serve")
        .envs(db)
        .env("VANE_LISTEN", &listen)
        .env("VANE_ENCRYPTION_KEY", &encryption_key)
        .spawn()
        .map_err(|e| format!("cannot start vane serve: {e}"))?;
    let ready = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        http::request(&listen, "GET", "/health", None, None).is_ok_and(|(status, _)| status == 200)
    });
    if !ready {
        let _ = server.kill();
        return Err(format!("vane serve did not become ready on {listen}"));
    }
    let (status, body) = http::request(
        &listen,
        "POST",
        "/api/v1/applications",
        Some(&admin),
        Some(r#"{"key":"demo","name":"Demo application","comments":"Seeded by cargo xtask run"}"#),
    )?;
    if status != 201 {
        eprintln!("warning: seeding the demo application answered {status}: {body}");
    }
    if let Err(e) = seed_demo(&listen, &admin) {
        eprintln!("warning: seeding the demo flags: {e}");
    }
    if let Err(e) = build_worker() {
        let _ = server.kill();
        return Err(e);
    }
    let edge_port: u16 = env::var("VANE_EDGE_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8787);
    // The database is new on every run and its versions start again: KV copies from an earlier
    // run would be newer than anything it publishes and be kept (older versions are refused).
    let kv = target_dir().join("vane-dev-kv");
    let _ = std::fs::remove_dir_all(&kv);
    let worker = vane_e2e::stack::Edge::start(vane_e2e::stack::EdgeOptions {
        kv_dir: Some(kv),
        port: Some(edge_port),
        ..vane_e2e::stack::EdgeOptions::new(&listen, &edge, "demo")
    });
    let worker = match worker {
        Ok(w) => w,
        Err(e) => {
            let _ = server.kill();
            return Err(format!("starting the edge worker: {e}"));
        }
    };
    let edge_addr = worker.addr.clone();
    // The self-hosted edge beside it, following the same control plane (copies on disk, push).
    let native_port: u16 = env::var("VANE_SELF_HOSTED_EDGE_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8789);
    let native_data = target_dir().join("vane-dev-edge-data");
    let _ = std::fs::remove_dir_all(&native_data);
    let native = vane_e2e::stack::Edge::start(vane_e2e::stack::EdgeOptions {
        kv_dir: Some(native_data),
        port: Some(native_port),
        runtime: vane_e2e::stack::Runtime::Native,
        vane: Some(vane.clone()),
        ..vane_e2e::stack::EdgeOptions::new(&listen, &edge, "demo")
    });
    let native = match native {
        Ok(n) => n,
        Err(e) => {
            let _ = server.kill();
            return Err(format!("starting vane edge: {e}"));
        }
    };
    let native_addr = native.addr.clone();
    // The browser package the demo serves was built with the console.
    let demo_port: u16 = env::var("VANE_DEMO_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8788);
    let demo = Command::new("node")
        .arg(root().join("shared/web/demo/serve.mjs"))
        .current_dir(root())
        .env("PORT", demo_port.to_string())
        .env("VANE_WEB_DIR", web_dir())
        // The self-hosted edge pushes new versions to the page (a Worker would be polled).
        .env("EDGE_URL", format!("http://{native_addr}"))
        .env("CLIENT_KEY", &client)
        .env("VANE_APPLICATION", "demo")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn();
    let demo = match demo {
        Ok(d) => d,
        Err(e) => {
            let _ = server.kill();
            return Err(format!("starting the browser demo: {e}"));
        }
    };
    eprintln!(
        "
Vane is running.
  console         http://{listen}/ui/   (sign in with the admin key below; a read key gives a read-only console)
  control plane   http://{listen}
  edge worker     http://{edge_addr}   (the Cloudflare Worker under workerd; application demo, environment production)
  vane edge       http://{native_addr}   (the self-hosted edge: the same routes natively, copies on disk, push to browsers)
  browser demo    http://127.0.0.1:{demo_port}/   (flags evaluated in the page by vane-core in WebAssembly, pushed by vane edge)
  PostgreSQL      {url}
  admin key       {admin}
  edge key        {edge}
  client key      {client}

Try:
  curl -s http://{listen}/health
  curl -s -H 'Authorization: Bearer {admin}' http://{listen}/api/v1/applications
  curl -s -H 'Authorization: Bearer {admin}' -H 'Content-Type: application/json' \\
       -d '{{\"key\":\"shop\",\"name\":\"Shop\"}}' http://{listen}/api/v1/applications
  curl -si -H 'Authorization: Bearer {edge}' http://{listen}/api/v1/snapshots/demo/production
  curl -s -H 'Authorization: Bearer {admin}' http://{listen}/api/v1/applications/demo/flags

At the edge (OFREP; a client key sees client-visible flags only):
  curl -s -H 'Authorization: Bearer {edge}' -d '{{\"context\":{{\"targetingKey\":\"user-ada\"}}}}' \\
       http://{edge_addr}/ofrep/v1/evaluate/flags/new-checkout
  curl -s -H 'Authorization: Bearer {client}' -d '{{\"context\":{{\"targetingKey\":\"u1\",\"country\":\"CA\"}}}}' \\
       http://{edge_addr}/ofrep/v1/evaluate/flags
  curl -s -H 'Authorization: Bearer {edge}' 'http://{edge_addr}/api/v1/config/api.timeout_ms?service_name=demo'
  curl -s -H 'Authorization: Bearer {edge}' -d '{{\"flag_name\":\"new-checkout\",\"service_name\":\"demo\",\"user_id\":\"user-ada\"}}' \\
       http://{edge_addr}/api/v1/feature-flags/evaluate
  curl -s http://{edge_addr}/health
The self-hosted edge answers the same routes (and pushes client-snapshot versions):
  curl -s -H 'Authorization: Bearer {edge}' -d '{{\"context\":{{\"targetingKey\":\"user-ada\"}}}}' \\
       http://{native_addr}/ofrep/v1/evaluate/flags
  curl -sN -H 'Authorization: Bearer {client}' 'http://{native_addr}/api/v1/snapshots/demo/production/events?audience=client'
Flip a flag and watch both edges follow:
  curl -s -X PATCH -H 'Authorization: Bearer {admin}' -H 'Content-Type: application/json' -d '{{\"enabled\":false}}' \\
       http://{listen}/api/v1/applications/demo/flags/dark-mode/environments/production

Press Ctrl-C to stop.",
        url = postgres.url
    );
    let status = server.wait().map_err(|e| e.to_string())?;
    drop(worker);
    drop(native);
    drop(demo);
    drop(postgres);
    if status.success() { Ok(()) } else { Err(format!("vane serve exited with {status}")) }
}

/// Fills the `demo` application with the engine demo's segments, flags and configs.
fn seed_demo(listen: &str, admin: &str) -> Result {
    let path = root().join("shared/examples/demo-snapshot.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    vane_e2e::stack::seed(listen, admin, "demo", "production", &doc)
}

/// 32 bytes from the OS, base64: a `VANE_ENCRYPTION_KEY` for the local stack.
fn random_key_base64() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut bytes);
    }
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Edge benchmarks: release `vane serve` and worker, workerd, wrk (`tests/examples/bench_edge.rs`).
fn bench_edge() -> Result {
    setup()?;
    ensure_wrk()?;
    build_for_edge_bench("bench_edge")?;
    step(
        "edge benchmarks",
        Command::new(target_dir().join("release/examples/bench_edge"))
            .env("VANE_BIN", target_dir().join("release/vane"))
            .current_dir(root()),
    )
}

/// The release `vane`, the benchmark example `example` and the worker.
fn build_for_edge_bench(example: &str) -> Result {
    step(
        "build release binaries",
        cargo()
            .args(["build", "--release", "-p", "vane-control-plane", "--bin", "vane", "-p", "vane-e2e", "--example"])
            .arg(example),
    )?;
    build_worker()
}

/// Unleash Edge, pinned, built once into `target/unleash-edge/` (never in CI: only this
/// benchmark runs it).
const UNLEASH_EDGE_VERSION: &str = "20.1.0";

/// `vane edge` and the Worker beside Unleash Edge on the same 350 (and 10,000) Unleash features
/// (`tests/examples/bench_edges.rs`).
fn bench_edges() -> Result {
    setup()?;
    ensure_wrk()?;
    let unleash_root = target_dir().join("unleash-edge");
    let unleash_bin = unleash_root.join("bin/unleash-edge");
    if !unleash_bin.exists() {
        step(
            &format!("install Unleash Edge {UNLEASH_EDGE_VERSION} from crates.io (once; several minutes)"),
            cargo()
                .args(["install", "unleash-edge", "--version", &format!("={UNLEASH_EDGE_VERSION}")])
                .args(["--no-default-features", "--locked", "--root"])
                .arg(&unleash_root)
                .arg("--target-dir")
                .arg(unleash_root.join("build")),
        )?;
        let _ = std::fs::remove_dir_all(unleash_root.join("build"));
    }
    build_for_edge_bench("bench_edges")?;
    step(
        "vane edge, the Worker and Unleash Edge side by side",
        Command::new(target_dir().join("release/examples/bench_edges"))
            .env("VANE_BIN", target_dir().join("release/vane"))
            .env("UNLEASH_EDGE_BIN", &unleash_bin)
            .current_dir(root()),
    )
}

/// vane-core on imported Unleash flags vs unleash-yggdrasil on the same definitions (criterion;
/// extra arguments go to criterion, e.g. a filter), then the ingest with both engines alternating
/// round by round (`benches/paired.rs`, ~30 s).
fn bench_unleash(rest: &[String]) -> Result {
    // `cargo xtask bench-unleash -- --measurement-time 3` and without the `--` both work.
    let rest = rest.strip_prefix(&["--".to_owned()][..]).unwrap_or(rest);
    step(
        "vane-core vs unleash-yggdrasil",
        cargo().args(["bench", "-p", "vane-unleash-bench", "--bench", "unleash", "--"]).args(rest),
    )?;
    step("ingest, both engines alternating", cargo().args(["bench", "-p", "vane-unleash-bench", "--bench", "paired"]))
}

/// Browser package benchmarks in Chromium (`tests/web/bench.mjs`).
fn bench_web() -> Result {
    setup()?;
    build_web()?;
    step(
        "browser benchmarks (Chromium)",
        Command::new("node").arg(root().join("tests/web/bench.mjs")).current_dir(root()).env("VANE_WEB_DIR", web_dir()),
    )
}

/// Console benchmarks in Chromium (`tests/web/console-bench.mjs`) against a release `vane serve`
/// with the console built in, on a throwaway PostgreSQL.
fn bench_console() -> Result {
    setup()?;
    build_console()?;
    step("build vane (release)", cargo().args(["build", "--release", "-p", "vane-control-plane", "--bin", "vane"]))?;
    let stack = BenchStack::start("vane-bench-console-pg", &root().join("target/release/vane"))?;
    step(
        "console benchmarks (Chromium)",
        Command::new("node").arg(root().join("tests/web/console-bench.mjs")).current_dir(root()).envs(stack.env()),
    )
}

/// wrk, from Debian's packages, for the HTTP load benchmarks.
fn ensure_wrk() -> Result {
    if Command::new("wrk").arg("--version").output().is_err() {
        step("install wrk", Command::new("apt-get").args(["install", "-y", "-qq", "wrk"]))?;
    }
    Ok(())
}

/// Control-plane benchmarks against a release `vane serve` on a throwaway PostgreSQL.
fn bench_control_plane() -> Result {
    ensure_wrk()?;
    step(
        "build release binaries",
        cargo().args([
            "build",
            "--release",
            "-p",
            "vane-control-plane",
            "--bin",
            "vane",
            "--example",
            "bench_publish",
            "--example",
            "bench_writes",
        ]),
    )?;
    let vane = root().join("target/release/vane");
    {
        let stack = BenchStack::start("vane-bench-pg", &vane)?;
        let env = stack.env();
        step("writes", Command::new(root().join("target/release/examples/bench_publish")).envs(env.clone()))?;
        let auth = format!("Authorization: Bearer {}", stack.edge);
        let path = "/api/v1/snapshots/bench/production";
        let first =
            http::send(&stack.addr, "GET", path, &[("Authorization", &format!("Bearer {}", stack.edge))], None)?;
        let etag = first.header("etag").ok_or("no ETag on the snapshot")?.to_owned();
        step(
            "snapshot GET answered 304 (wrk, 2 threads, 64 connections, 10 s)",
            Command::new("wrk")
                .args(["-t2", "-c64", "-d10s", "--latency", "-H", &auth, "-H"])
                .arg(format!("If-None-Match: {etag}"))
                .arg(format!("http://{}{path}", stack.addr)),
        )?;
    }
    // A fresh database with the three built-in environments, as `cargo xtask run` has (the
    // publishing benchmark above adds eight, and publishing is per environment).
    let stack = BenchStack::start("vane-bench-writes-pg", &vane)?;
    step(
        "big writes, their neighbours, flag creation as an application grows, key changes",
        Command::new(root().join("target/release/examples/bench_writes")).envs(stack.env()).env("VANE_BIN", &vane),
    )
}

/// A release `vane serve` on a throwaway PostgreSQL of its own, with an admin and an edge key;
/// stopped when dropped.
struct BenchStack {
    postgres: pg::Postgres,
    server: std::process::Child,
    addr: String,
    admin: String,
    edge: String,
}

impl BenchStack {
    fn start(name: &str, vane: &Path) -> Result<BenchStack> {
        let postgres = pg::Postgres::start(&env::temp_dir().join(name), pg::free_port()?)?;
        let db = [("DATABASE_URL", postgres.url.as_str()), ("VANE_LOG", "warn")];
        step("migrate", Command::new(vane).arg("migrate").envs(db))?;
        let mint = |scope: &str| -> Result<String> {
            let out = Command::new(vane)
                .args(["key", "create", "--scope", scope])
                .envs(db)
                .output()
                .map_err(|e| e.to_string())?;
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        let (admin, edge) = (mint("admin")?, mint("edge")?);
        let addr = format!("127.0.0.1:{}", pg::free_port()?);
        let server = Command::new(vane)
            .arg("serve")
            .envs(db)
            .env("VANE_LISTEN", &addr)
            .env("VANE_HEALTH_INTERVAL_S", "0")
            .spawn()
            .map_err(|e| e.to_string())?;
        let stack = BenchStack { postgres, server, addr, admin, edge };
        let ready = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            http::request(&stack.addr, "GET", "/health", None, None).is_ok_and(|(s, _)| s == 200)
        });
        if ready { Ok(stack) } else { Err("vane serve did not start".into()) }
    }

    /// What the benchmark drivers read: `DATABASE_URL`, `VANE_ADDR`, `VANE_ADMIN_KEY`.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", self.postgres.url.clone()),
            ("VANE_ADDR", self.addr.clone()),
            ("VANE_ADMIN_KEY", self.admin.clone()),
        ]
    }
}

impl Drop for BenchStack {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn bench(rest: &[String]) -> Result {
    step("vane-core benchmarks", cargo().args(["bench", "-p", "vane-core", "--bench", "evaluate", "--"]).args(rest))
}
