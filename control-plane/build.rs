//! Embeds the console (`ui/dist`, built by `cargo xtask run`/`test`/`console`) in the `vane`
//! binary, so `vane serve` alone serves it. Without a build, the console is a page that says how
//! to build it: `cargo build` works in any clone. Every file of the build is embedded: the page,
//! its script and stylesheet, the chunks it imports lazily (the JSON editor) and the engine (the
//! browser package, for the draft preview and the playground).

use std::fmt::Write as _;
use std::path::Path;

/// What the console cannot open without.
const REQUIRED: [&str; 3] = ["index.html", "app.js", "app.css"];

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>Vane</title>\
<p>The console is not built into this binary. Build it with <code>cargo xtask console</code> \
(or start everything with <code>cargo xtask run</code>), then build <code>vane</code> again.</p>";

/// A file's content type, by its extension.
fn content_type(name: &str) -> Option<&'static str> {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => Some("text/html; charset=utf-8"),
        Some("js") => Some("text/javascript; charset=utf-8"),
        Some("css") => Some("text/css; charset=utf-8"),
        Some("wasm") => Some("application/wasm"),
        _ => None,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=ui/dist");
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/dist");
    let built = REQUIRED.iter().all(|name| dist.join(name).is_file());
    let out = Path::new(&std::env::var("OUT_DIR")?).join("console");
    std::fs::create_dir_all(&out)?;
    let mut files: Vec<(String, &str, std::path::PathBuf)> = Vec::new();
    if built {
        for entry in std::fs::read_dir(&dist)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else { continue };
            if let Some(mime) = content_type(&name) {
                files.push((name, mime, path));
            }
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
    } else {
        for name in REQUIRED {
            let placeholder = out.join(name);
            std::fs::write(&placeholder, if name == "index.html" { NOT_BUILT } else { "" })?;
            files.push((name.to_owned(), content_type(name).unwrap_or("text/plain"), placeholder));
        }
    }
    let mut code = String::from(
        "/// The console's files: (name, content type, bytes).\npub static FILES: &[(&str, &str, &[u8])] = &[\n",
    );
    for (name, mime, path) in &files {
        writeln!(code, "    ({name:?}, {mime:?}, include_bytes!({:?})),", path.display().to_string())?;
    }
    code.push_str("];\n");
    writeln!(
        code,
        "/// Whether the real console is embedded (not the page that says how to build it).\npub const BUILT: bool = {built};"
    )?;
    std::fs::write(out.join("files.rs"), code)?;
    Ok(())
}
