//! The console end to end in Debian's Chromium (`tests/web/console.test.mjs`) against a real
//! `vane serve` and PostgreSQL with the demo data, and the edge worker (Miniflare) serving what
//! it saves. `cargo xtask test` builds the console into the binary and runs this with
//! `--ignored`; the screenshots land in `target/console-screenshots`.

use std::process::Command;

use serde_json::Value;
use vane_e2e::stack::{ControlPlane, Edge, EdgeOptions, root, seed, target_dir, vane_bin};

type Result<T = ()> = std::result::Result<T, String>;

#[test]
#[ignore = "needs the vane binary with the console built in: cargo xtask test"]
fn the_console_signs_in_edits_and_signs_out_in_chromium() -> Result {
    let cp = ControlPlane::start()?;
    cp.admin("POST", "/applications", Some(r#"{"key":"demo","name":"Demo"}"#))?;
    let text = std::fs::read_to_string(root().join("shared/examples/demo-snapshot.json")).map_err(|e| e.to_string())?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    seed(&cp.addr, &cp.admin, "demo", "production", &doc)?;
    let read: Value =
        serde_json::from_str(&cp.admin("POST", "/api-keys", Some(r#"{"scope":"read","name":"auditor"}"#))?)
            .map_err(|e| e.to_string())?;
    let read = read["key"].as_str().ok_or("no read key")?;
    // What the console saves, the edge serves: the test reads the same flags there.
    let edge = Edge::start(EdgeOptions::new(&cp.addr, &cp.edge, "demo"))?;
    let status = Command::new("node")
        .args(["--test", "--test-reporter=spec", "--test-concurrency=1"])
        .arg(root().join("tests/web/console.test.mjs"))
        .current_dir(root())
        .env("CONTROL_PLANE_URL", format!("http://{}", cp.addr))
        .env("ADMIN_KEY", &cp.admin)
        .env("READ_KEY", read)
        .env("EDGE_URL", format!("http://{}", edge.addr))
        .env("EDGE_KEY", &cp.edge)
        .env("VANE_BIN", vane_bin())
        .env("SCREENSHOTS", target_dir().join("console-screenshots"))
        .status()
        .map_err(|e| format!("node --test: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("tests/web/console.test.mjs failed: {status}")) }
}
