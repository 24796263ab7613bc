//! Embeds the console (`ui/dist`, built by `cargo xtask run`/`test`/`console`) in the `vane`
//! binary, so `vane serve` alone serves it. Without a build, the console is a page that says how
//! to build it: `cargo build` works in any clone. The engine (the browser package, which the
//! console loads lazily for draft previews) is embedded when it was built beside the console.

use std::fmt::Write as _;
use std::path::Path;

const FILES: [(&str, &str); 3] = [
    ("index.html", "text/html; charset=utf-8"),
    ("app.js", "text/javascript; charset=utf-8"),
    ("app.css", "text/css; charset=utf-8"),
];

/// The engine's glue and module, copied into `ui/dist` by `cargo xtask console`; without them
/// `/ui/engine.*` answer 404 and the console says the preview is unavailable.
const ENGINE: [(&str, &str); 2] =
    [("engine.js", "text/javascript; charset=utf-8"), ("engine.wasm", "application/wasm")];

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>Vane</title>\
<p>The console is not built into this binary. Build it with <code>cargo xtask console</code> \
(or start everything with <code>cargo xtask run</code>), then build <code>vane</code> again.</p>";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=ui/dist");
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/dist");
    let built = FILES.iter().all(|(name, _)| dist.join(name).is_file());
    let out = Path::new(&std::env::var("OUT_DIR")?).join("console");
    std::fs::create_dir_all(&out)?;
    let mut code = String::from(
        "/// The console's files: (name, content type, bytes).\npub static FILES: &[(&str, &str, &[u8])] = &[\n",
    );
    for (name, mime) in FILES {
        let source = if built {
            dist.join(name)
        } else {
            let placeholder = out.join(name);
            std::fs::write(&placeholder, if name == "index.html" { NOT_BUILT } else { "" })?;
            placeholder
        };
        writeln!(code, "    ({name:?}, {mime:?}, include_bytes!({:?})),", source.display().to_string())?;
    }
    for (name, mime) in ENGINE {
        let source = dist.join(name);
        if built && source.is_file() {
            writeln!(code, "    ({name:?}, {mime:?}, include_bytes!({:?})),", source.display().to_string())?;
        }
    }
    code.push_str("];\n");
    writeln!(
        code,
        "/// Whether the real console is embedded (not the page that says how to build it).\npub const BUILT: bool = {built};"
    )?;
    std::fs::write(out.join("files.rs"), code)?;
    Ok(())
}
