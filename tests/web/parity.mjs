// The parity vectors through the browser package (vane-web, wasm-bindgen) in Node, for
// tests/tests/parity.rs, which compares the answers with native vane-core byte for byte.
//   node tests/web/parity.mjs <input.jsonl> <output.jsonl>   (VANE_WEB_DIR: the built package)
// Input lines: {"snapshot": text, "contexts": [context JSON text, …], "now": ms}.
// Output lines, in the same order: {"load": error} when the snapshot does not load, else
// {"results": [flags, …]}: per context, the `flags` array of `evaluate_all` exactly as the package
// wrote it (a slice of its answer, never re-serialised), or {"error": …} when `set_context` refused it.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const dir = process.env.VANE_WEB_DIR;
if (!dir) throw new Error("VANE_WEB_DIR is not set");
const [input, output] = process.argv.slice(2);
const glue = await import(pathToFileURL(path.join(dir, "vane_web.js")).href);
await glue.default({ module_or_path: readFileSync(path.join(dir, "vane_web_bg.wasm")) });

const HEAD = '{"flags":';
const out = [];
for (const line of readFileSync(input, "utf8").split("\n")) {
  if (!line) continue;
  const vector = JSON.parse(line);
  // A fresh engine per snapshot: an engine refuses a snapshot older than, or from another stream
  // than, the one it holds.
  const engine = new glue.Engine();
  try {
    const loaded = JSON.parse(engine.load(vector.snapshot));
    if (!loaded.ok) {
      out.push(JSON.stringify({ load: loaded.error }));
      continue;
    }
    const results = vector.contexts.map((context) => {
      const set = JSON.parse(engine.set_context(context));
      if (!set.ok) return { error: set.error };
      const all = engine.evaluate_all(vector.now);
      const end = all.lastIndexOf(',"version":');
      if (!all.startsWith(HEAD) || end < 0) throw new Error(`unexpected evaluate_all answer: ${all.slice(0, 200)}`);
      return all.slice(HEAD.length, end);
    });
    out.push(JSON.stringify({ results }));
  } finally {
    engine.free();
  }
}
writeFileSync(output, out.length ? out.join("\n") + "\n" : "");
