//! Parity: vane-core gives the same answers, byte for byte, natively, in its wasm32 build (the
//! edge's, run here under wasmtime) and in the browser package (`vane-web`, wasm-bindgen, in Node).
//!
//! The vectors are what vane-core's own tests evaluate: its test helpers
//! (`shared/tests/common/mod.rs`) record every snapshot and context they build when
//! `VANE_VECTORS_OUT` is set, and conformance suites add whole vectors with `record_vector`.
//! Here every context a test recorded is evaluated against every snapshot it recorded (plus a few
//! standard contexts), through `vane-wasm-probe`: natively, and as the release wasm32 module
//! under wasmtime. The same vectors then go through `tests/web/parity.mjs` (Node, the built
//! browser package). A mismatch fails with the vector that showed it.
//!
//! Needs `VANE_VECTORS_DIR` (the recorded vectors), `VANE_PROBE_WASM` (`cargo build -p
//! vane-wasm-probe --target wasm32-unknown-unknown --release`) and `VANE_WEB_DIR` (the browser
//! package); `cargo xtask test` provides all three and runs this with `--ignored`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vane_e2e::stack::{root, scratch};

type Result<T = ()> = std::result::Result<T, String>;

/// The evaluation time of recorded snapshots (the tests' `common::NOW`).
const NOW: i64 = 1_750_000_000_000;
/// Fewer vectors than this means the recording broke (e.g. an empty or stale directory).
const MIN_VECTORS: usize = 210;
/// Likewise for (snapshot, context) evaluations.
const MIN_EVALUATIONS: usize = 20_000;
/// Longer snapshots are shortened when a mismatch is printed (the full vector goes to a file).
const SHOW: usize = 4_000;

/// One snapshot evaluated for some contexts at one time. Context texts are kept as recorded:
/// every evaluator reads the same bytes.
#[derive(Debug)]
struct Vector {
    /// Where it came from: the vector file (test binary and test name) or "demo".
    origin: String,
    snapshot: String,
    contexts: Vec<String>,
    now: i64,
}

impl Vector {
    /// The probe's input: `{"snapshot": text, "contexts": [...], "now": n}`.
    fn input(&self) -> String {
        format!(
            "{{\"snapshot\":{},\"contexts\":[{}],\"now\":{}}}",
            json!(self.snapshot),
            self.contexts.join(","),
            self.now
        )
    }

    fn with_context(&self, context: &str) -> Vector {
        Vector {
            origin: self.origin.clone(),
            snapshot: self.snapshot.clone(),
            contexts: vec![context.to_owned()],
            now: self.now,
        }
    }
}

/// Contexts every recorded snapshot is also evaluated for: empty, and users for rollouts
/// (tests that build contexts with `Context::with_targeting_key` record none).
fn standard_contexts() -> Vec<String> {
    let mut contexts = vec!["{}".to_owned()];
    contexts.extend((0..12).map(|i| json!({"targetingKey": format!("user-{i}")}).to_string()));
    contexts.extend((0..4).map(|i| json!({"userId": i.to_string(), "sessionId": format!("s{i}")}).to_string()));
    contexts
}

/// Ordered, de-duplicated texts.
#[derive(Debug, Default)]
struct Texts {
    seen: HashSet<String>,
    list: Vec<String>,
}

impl Texts {
    fn add(&mut self, text: String) {
        if self.seen.insert(text.clone()) {
            self.list.push(text);
        }
    }
}

/// A snapshot field as text: the recorded string, or the document itself.
fn snapshot_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(_) => Some(v.to_string()),
        _ => None,
    }
}

/// Reads the recorded vectors: explicit ones as they are; per file (one test), every recorded
/// context against every recorded snapshot (snapshots recorded by several tests are evaluated
/// once, for all their contexts); contexts of tests that recorded no snapshot, against the demo
/// snapshot.
fn load_vectors(dir: &Path) -> Result<Vec<Vector>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut explicit = Vec::new();
    // Snapshot text → (first test that built it, its contexts).
    let mut pooled: BTreeMap<String, (String, Texts)> = BTreeMap::new();
    let mut orphans = Texts::default();
    for file in &files {
        let origin = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut snapshots = Vec::new();
        let mut contexts = Texts::default();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).map_err(|e| format!("{origin}:{}: {e}", n + 1))?;
            let snapshot = v.get("snapshot").and_then(snapshot_text);
            match (snapshot, v.get("contexts"), v.get("context")) {
                (Some(snapshot), Some(Value::Array(cs)), _) => explicit.push(Vector {
                    origin: format!("{origin}:{}", n + 1),
                    snapshot,
                    contexts: cs.iter().map(Value::to_string).collect(),
                    now: v.get("now").and_then(Value::as_i64).ok_or(format!("{origin}:{}: no \"now\"", n + 1))?,
                }),
                (Some(snapshot), None, _) => snapshots.push(snapshot),
                (None, _, Some(context)) => contexts.add(context.to_string()),
                _ => return Err(format!("{origin}:{}: not a vector record: {line}", n + 1)),
            }
        }
        if snapshots.is_empty() {
            contexts.list.into_iter().for_each(|c| orphans.add(c));
            continue;
        }
        for snapshot in snapshots {
            let (_, pool) = pooled.entry(snapshot).or_insert_with(|| (origin.clone(), Texts::default()));
            contexts.list.iter().for_each(|c| pool.add(c.clone()));
        }
    }
    let mut vectors = explicit;
    for (snapshot, (origin, mut contexts)) in pooled {
        standard_contexts().into_iter().for_each(|c| contexts.add(c));
        vectors.push(Vector { origin, snapshot, contexts: contexts.list, now: NOW });
    }
    let demo = root().join("shared/examples/demo-snapshot.json");
    let snapshot = std::fs::read_to_string(&demo).map_err(|e| format!("{}: {e}", demo.display()))?;
    standard_contexts().into_iter().for_each(|c| orphans.add(c));
    for c in [
        json!({"targetingKey": "user-ada"}),
        json!({"targetingKey": "user-mallory", "email": "m@vane.dev"}),
        json!({"targetingKey": "user-7", "country": "CA", "plan": "pro", "app_version": "2.4.0", "email": "u@VANE.dev"}),
    ] {
        orphans.add(c.to_string());
    }
    vectors.push(Vector { origin: "demo".into(), snapshot, contexts: orphans.list, now: NOW });
    Ok(vectors)
}

fn vectors_from_env() -> Result<Vec<Vector>> {
    let dir = std::env::var_os("VANE_VECTORS_DIR")
        .ok_or("VANE_VECTORS_DIR is not set (cargo xtask test records the vectors and sets it)")?;
    let vectors = load_vectors(Path::new(&dir))?;
    let evaluations: usize = vectors.iter().map(|v| v.contexts.len()).sum();
    eprintln!("parity: {} vectors, {evaluations} evaluations (snapshot × context)", vectors.len());
    if vectors.len() < MIN_VECTORS || evaluations < MIN_EVALUATIONS {
        return Err(format!(
            "only {} vectors and {evaluations} evaluations in {} (want at least {MIN_VECTORS} and \
             {MIN_EVALUATIONS}): were vane-core's tests run with VANE_VECTORS_OUT?",
            vectors.len(),
            Path::new(&dir).display()
        ));
    }
    Ok(vectors)
}

/// The release wasm32 build of `vane-wasm-probe`, instantiated once under wasmtime.
struct Probe {
    store: wasmtime::Store<()>,
    memory: wasmtime::Memory,
    alloc: wasmtime::TypedFunc<u32, u32>,
    free: wasmtime::TypedFunc<(u32, u32), ()>,
    run: wasmtime::TypedFunc<(u32, u32), u64>,
}

impl Probe {
    fn load(path: &Path) -> Result<Probe> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut config = wasmtime::Config::new();
        if std::env::var_os("XOPT").is_some() {
            config.cranelift_opt_level(wasmtime::OptLevel::None);
        }
        let engine = wasmtime::Engine::new(&config).map_err(|e| format!("{e:?}"))?;
        let module =
            wasmtime::Module::new(&engine, &bytes).map_err(|e| format!("compiling {}: {e:?}", path.display()))?;
        let mut store = wasmtime::Store::new(&engine, ());
        let instance =
            wasmtime::Instance::new(&mut store, &module, &[]).map_err(|e| format!("instantiating the probe: {e:?}"))?;
        let memory = instance.get_memory(&mut store, "memory").ok_or("the probe exports no memory")?;
        let alloc = instance.get_typed_func(&mut store, "probe_alloc").map_err(|e| format!("probe_alloc: {e:?}"))?;
        let free = instance.get_typed_func(&mut store, "probe_free").map_err(|e| format!("probe_free: {e:?}"))?;
        let run = instance.get_typed_func(&mut store, "probe_run").map_err(|e| format!("probe_run: {e:?}"))?;
        Ok(Probe { store, memory, alloc, free, run })
    }

    /// The probe's answer to `input`. A trap (a panic in the module) is an error.
    fn run(&mut self, input: &str) -> Result<String> {
        let len = u32::try_from(input.len()).map_err(|_| "input over 4 GiB")?;
        let ptr = self.alloc.call(&mut self.store, len).map_err(|e| format!("probe_alloc trapped: {e:?}"))?;
        self.memory
            .write(&mut self.store, ptr as usize, input.as_bytes())
            .map_err(|e| format!("writing the input: {e}"))?;
        let packed = self.run.call(&mut self.store, (ptr, len)).map_err(|e| format!("probe_run trapped: {e:?}"))?;
        self.free.call(&mut self.store, (ptr, len)).map_err(|e| format!("probe_free trapped: {e:?}"))?;
        let (out_ptr, out_len) = ((packed >> 32) as u32, packed as u32);
        let mut out = vec![0u8; out_len as usize];
        self.memory.read(&self.store, out_ptr as usize, &mut out).map_err(|e| format!("reading the answer: {e}"))?;
        self.free.call(&mut self.store, (out_ptr, out_len)).map_err(|e| format!("probe_free trapped: {e:?}"))?;
        String::from_utf8(out).map_err(|e| format!("the answer is not UTF-8: {e}"))
    }
}

fn shorten(text: &str) -> String {
    if text.len() <= SHOW {
        return text.to_owned();
    }
    let mut end = SHOW;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

/// The mismatches of a run: the first is printed in full (and its vector saved to a file), the
/// others by origin.
#[derive(Debug, Default)]
struct Mismatches {
    count: usize,
    first: Option<String>,
}

impl Mismatches {
    fn add(&mut self, what: &str, vector: &Vector, context: Option<&str>, native: &str, other: &str) {
        self.count += 1;
        if self.first.is_some() {
            if self.count <= 20 {
                eprintln!("PARITY MISMATCH ({what}) also for a vector from {}", vector.origin);
            }
            return;
        }
        let file = scratch("parity-mismatch").with_extension("json");
        let saved = match std::fs::write(&file, vector.input()) {
            Ok(()) => format!("the whole vector (probe input): {}", file.display()),
            Err(e) => format!("could not save the vector: {e}"),
        };
        eprintln!(
            "\nPARITY MISMATCH ({what})\n  from:     {}\n  now:      {}\n  snapshot: {}\n  context:  {}\n  \
             native:   {native}\n  {what:<9} {other}\n  {saved}\n",
            vector.origin,
            vector.now,
            shorten(&vector.snapshot),
            context.unwrap_or("(all of the vector's contexts)"),
        );
        self.first =
            Some(format!("{what} answered differently from native vane-core for a vector from {}", vector.origin));
    }

    fn result(self) -> Result {
        match self.first {
            None => Ok(()),
            Some(first) => {
                Err(format!("{first} ({} mismatching vectors in all; the first is printed above)", self.count))
            }
        }
    }
}

/// The one known difference of the browser package, tolerated here: it reads snapshots with its
/// own reader (`vane_core::read`, smaller than serde's derived deserialisers), which words the
/// problem with a flag definition it cannot read differently. Such a flag answers `PARSE_ERROR`
/// everywhere, only its `errorDetails` ("unreadable: …") differ. When that is the only difference,
/// returns how many resolutions it touched: `web` with native's details put back is then native's
/// text byte for byte.
fn unreadable_wording_only(native: &str, web: &str) -> Option<usize> {
    let (Ok(Value::Array(ours)), Ok(Value::Array(theirs))) =
        (serde_json::from_str::<Value>(native), serde_json::from_str::<Value>(web))
    else {
        return None;
    };
    if ours.len() != theirs.len() {
        return None;
    }
    fn details(v: &Value) -> Option<&str> {
        let details = v.get("errorDetails")?.as_str()?;
        (v.get("errorCode")?.as_str()? == "PARSE_ERROR" && details.starts_with("unreadable: ")).then_some(details)
    }
    let mut text = web.to_owned();
    let mut touched = 0;
    for (a, b) in ours.iter().zip(&theirs).filter(|(a, b)| a != b) {
        let (Some(ours), Some(theirs)) = (details(a), details(b)) else { return None };
        text = text.replacen(
            &format!("\"errorDetails\":{}", json!(theirs)),
            &format!("\"errorDetails\":{}", json!(ours)),
            1,
        );
        touched += 1;
    }
    (text == native).then_some(touched)
}

#[test]
#[ignore = "needs recorded vectors and the wasm32 probe: cargo xtask test"]
fn wasm32_build_under_wasmtime_answers_byte_for_byte_like_native() -> Result {
    let vectors = vectors_from_env()?;
    let wasm = std::env::var_os("VANE_PROBE_WASM").ok_or(
        "VANE_PROBE_WASM is not set (cargo build -p vane-wasm-probe --target wasm32-unknown-unknown --release)",
    )?;
    let started = Instant::now();
    let mut probe = Probe::load(Path::new(&wasm))?;
    let compiled = started.elapsed();
    let (mut native_time, mut wasm_time) = (Duration::ZERO, Duration::ZERO);
    let mut mismatches = Mismatches::default();
    for vector in &vectors {
        let input = vector.input();
        let t = Instant::now();
        let native = vane_wasm_probe::run(&input);
        native_time += t.elapsed();
        let t = Instant::now();
        let answer = probe.run(&input);
        wasm_time += t.elapsed();
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                // The instance is not to be trusted after a trap.
                mismatches.add("wasmtime", vector, None, &shorten(&native), &e);
                return mismatches.result();
            }
        };
        if answer == native {
            continue;
        }
        // Narrow it down to the first context that differs.
        let mut narrowed = None;
        for context in &vector.contexts {
            let one = vector.with_context(context).input();
            let (native, answer) = (vane_wasm_probe::run(&one), probe.run(&one)?);
            if native != answer {
                narrowed = Some((context, native, answer));
                break;
            }
        }
        match narrowed {
            Some((context, native, answer)) => mismatches.add("wasmtime", vector, Some(context), &native, &answer),
            None => mismatches.add("wasmtime", vector, None, &shorten(&native), &shorten(&answer)),
        }
    }
    eprintln!(
        "parity: wasmtime compiled the probe in {compiled:.1?}; evaluated {} vectors natively in {native_time:.1?}, \
         in wasm in {wasm_time:.1?}",
        vectors.len()
    );
    mismatches.result()
}

#[test]
#[ignore = "needs recorded vectors and the browser package: cargo xtask test"]
fn browser_package_in_node_answers_byte_for_byte_like_native() -> Result {
    let vectors = vectors_from_env()?;
    let web =
        std::env::var_os("VANE_WEB_DIR").ok_or("VANE_WEB_DIR is not set (cargo xtask test builds the package)")?;
    let input = scratch("parity-input").with_extension("jsonl");
    let output = scratch("parity-output").with_extension("jsonl");
    let mut lines = String::new();
    for v in &vectors {
        lines.push_str(&json!({"snapshot": v.snapshot, "contexts": v.contexts, "now": v.now}).to_string());
        lines.push('\n');
    }
    std::fs::write(&input, lines).map_err(|e| format!("{}: {e}", input.display()))?;
    let started = Instant::now();
    let status = Command::new("node")
        .arg(root().join("tests/web/parity.mjs"))
        .arg(&input)
        .arg(&output)
        .current_dir(root())
        .env("VANE_WEB_DIR", &web)
        .status()
        .map_err(|e| format!("node: {e}"));
    let node_time = started.elapsed();
    let _ = std::fs::remove_file(&input);
    let status = status?;
    let answers = std::fs::read_to_string(&output).map_err(|e| format!("{}: {e}", output.display()));
    let _ = std::fs::remove_file(&output);
    if !status.success() {
        return Err(format!("tests/web/parity.mjs failed: {status}"));
    }
    let answers = answers?;
    let answers: Vec<&str> = answers.lines().filter(|l| !l.is_empty()).collect();
    if answers.len() != vectors.len() {
        return Err(format!("parity.mjs answered {} vectors of {}", answers.len(), vectors.len()));
    }
    let mut mismatches = Mismatches::default();
    let mut tolerated = 0;
    for (vector, line) in vectors.iter().zip(answers) {
        let answer: Value = serde_json::from_str(line).map_err(|e| format!("parity.mjs answer: {e}: {line}"))?;
        let native = vane_wasm_probe::evaluate_vector(&vector.input());
        // A snapshot that does not compile, or a context that is not valid, must be refused by
        // both; the messages are not compared (the package words JSON errors its own way).
        let results = match (native, answer.get("load"), answer.get("results").and_then(Value::as_array)) {
            (Err(_), Some(_), _) => continue,
            (Ok(parts), None, Some(results)) if results.len() == parts.len() => parts.into_iter().zip(results),
            (native, _, _) => {
                let native =
                    native.map_or_else(|e| vane_wasm_probe::error_json(&e), |p| format!("{} contexts", p.len()));
                mismatches.add("vane-web", vector, None, &native, &shorten(line));
                continue;
            }
        };
        for ((native, web), context) in results.zip(&vector.contexts) {
            let same = match web {
                Value::String(flags) if *flags == native => true,
                Value::String(flags) => unreadable_wording_only(&native, flags).map(|n| tolerated += n).is_some(),
                Value::Object(o) => o.contains_key("error") && native.starts_with("{\"error\":"),
                _ => false,
            };
            if !same {
                let web = web.as_str().map_or_else(|| web.to_string(), str::to_owned);
                mismatches.add("vane-web", vector, Some(context), &native, &web);
                break;
            }
        }
    }
    eprintln!(
        "parity: the browser package evaluated {} vectors in Node in {node_time:.1?}; {tolerated} resolutions of \
         unreadable flags differ only in the wording of their PARSE_ERROR details (tolerated)",
        vectors.len()
    );
    mismatches.result()
}
