//! `cargo xtask <task>`: the one entry point for Vane's development chores.
//!
//! Tasks shell out to cargo and to the few system tools they need, and install what is
//! missing idempotently, so the same command works on a fresh machine, in CI and on a
//! developer's laptop. It has no dependencies beyond std, so it builds in seconds.
//!
//! * `cargo xtask test`  — everything CI checks: formatting, clippy, every test, the wasm build.
//! * `cargo xtask run`   — runs Vane locally (today: the engine demo over a demo snapshot).
//! * `cargo xtask bench` — the benchmarks behind BENCHMARKS.md.
//! * `cargo xtask setup` — installs the toolchain pieces the other tasks need.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

type Result<T = (), E = String> = std::result::Result<T, E>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((t, r)) => (t.as_str(), r),
        None => ("help", &[][..]),
    };
    let outcome = match task {
        "test" => test(),
        "run" => run(rest),
        "bench" => bench(rest),
        "setup" => setup(),
        "help" | "-h" | "--help" => {
            eprintln!("usage: cargo xtask <test|run|bench|setup>");
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

fn cargo() -> Command {
    let mut c = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn step(title: &str, cmd: &mut Command) -> Result {
    eprintln!("\n==> {title}");
    let status = cmd.status().map_err(|e| format!("{title}: cannot start: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{title}: failed ({status})")) }
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
    Ok(())
}

fn test() -> Result {
    setup()?;
    step("format", cargo().args(["fmt", "--all", "--", "--check"]))?;
    step("clippy", cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    step("tests", cargo().args(["test", "--workspace"]))?;
    step(
        "vane-core for wasm32-unknown-unknown",
        cargo().args(["build", "-p", "vane-core", "--target", "wasm32-unknown-unknown", "--release"]),
    )?;
    eprintln!("\nAll checks passed.");
    Ok(())
}

fn run(rest: &[String]) -> Result {
    step(
        "engine demo",
        cargo().args(["run", "--quiet", "--release", "-p", "vane-core", "--example", "demo", "--"]).args(rest),
    )
}

fn bench(rest: &[String]) -> Result {
    step("vane-core benchmarks", cargo().args(["bench", "-p", "vane-core", "--bench", "evaluate", "--"]).args(rest))
}
