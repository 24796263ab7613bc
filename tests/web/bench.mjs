// In-page benchmarks of the browser package in real Chromium (`cargo xtask bench-web`):
// package size (wasm + JS, gzipped), snapshot load + compile of 350 flags, one flag with a
// condition and a rollout, all 350 flags for one context. Uses the page's clock
// (performance.now) over many iterations; needs no server beyond a static one for the files.
//   node tests/web/bench.mjs   with VANE_WEB_DIR (the built package)
import http from "node:http";
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import path from "node:path";
import { chromium } from "playwright-core";

const dir = process.env.VANE_WEB_DIR;
const files = ["vane_web_bg.wasm", "vane_web.js", "vane.js"];
const gz = files.map((f) => [f, gzipSync(readFileSync(path.join(dir, f)), { level: 9 }).length]);
const total = gz.reduce((a, [, n]) => a + n, 0);
console.log(`size: ${gz.map(([f, n]) => `${f} ${(n / 1024).toFixed(1)} KB`).join(", ")}; total ${(total / 1024).toFixed(1)} KB gzipped`);

// 350 flags: the engine benchmarks' mix (static, `in` rule, condition + rollout, multivariate
// rollout with payloads, string with two rules incl. a segment).
function flag(i) {
  const key = `flag-${i}`;
  switch (i % 5) {
    case 0: return { key, type: "boolean", default: { variant: "on" } };
    case 1: return { key, type: "boolean", default: { variant: "off" },
      rules: [{ id: "r", conditions: [{ attribute: "country", operator: "in", values: ["US", "CA", "MX", "DE"] }], serve: { variant: "on" } }] };
    case 2: return { key, type: "boolean", salt: key, default: { variant: "off" },
      rules: [{ conditions: [{ attribute: "plan", operator: "eq", values: ["pro"] }], serve: { rollout: { weights: { on: 50000, off: 50000 } } } }] };
    case 3: return { key, type: "json", salt: key, variants: [{ key: "a", value: { color: "red", size: 1 } }, { key: "b", value: { color: "blue", size: 2 } }, { key: "c", value: { color: "green", size: 3 } }],
      default: { rollout: { weights: { a: 33333, b: 33333, c: 33334 } } } };
    default: return { key, type: "string", variants: [{ key: "x", value: "X" }, { key: "y", value: "Y" }], default: { variant: "x" },
      rules: [{ conditions: [{ attribute: "email", operator: "ends_with", values: ["@acme.com"] }, { attribute: "version", operator: "semver_gte", values: ["2.0.0"] }], serve: { variant: "y" } },
              { conditions: [{ attribute: "targetingKey", operator: "in_segment", values: ["beta"] }], serve: { variant: "y" } }] };
  }
}
const snapshot = JSON.stringify({
  format_version: 1, application: "bench", environment: "production", version: 1,
  segments: [{ key: "beta", included: Array.from({ length: 1000 }, (_, i) => `user-${i}`) }],
  flags: Array.from({ length: 350 }, (_, i) => flag(i)),
});

const server = http.createServer((req, res) => {
  const name = req.url === "/" ? null : path.basename(req.url);
  if (!name) { res.writeHead(200, { "Content-Type": "text/html" }); return res.end("<!doctype html><title>bench</title>"); }
  try {
    const body = readFileSync(path.join(dir, name));
    res.writeHead(200, { "Content-Type": name.endsWith(".wasm") ? "application/wasm" : "text/javascript" });
    res.end(body);
  } catch { res.writeHead(404); res.end(); }
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}/`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const page = await browser.newPage();
await page.goto(base);
const r = await page.evaluate(async (doc) => {
  const { default: init, Engine } = await import("/vane_web.js");
  await init();
  // Mean per call over a batch of n calls; the median batch of 11 (after a warm-up batch), so a
  // GC pause or a noisy neighbour in one batch does not move the figure.
  const time = (n, f) => {
    for (let i = 0; i < n; i++) f(i);
    const batches = [];
    for (let b = 0; b < 11; b++) {
      const t = performance.now();
      for (let i = 0; i < n; i++) f(i);
      batches.push((performance.now() - t) / n);
    }
    batches.sort((a, b) => a - b);
    return batches[5];
  };
  // Per-load times, median of 60 (after 20 warm-ups): a load is milliseconds long, so the
  // clock's coarse resolution does not matter, and a GC pause in one run does not skew it.
  const median = (n, f) => {
    for (let i = 0; i < 20; i++) f(i);
    const ts = [];
    for (let i = 0; i < n; i++) { const t = performance.now(); f(i); ts.push(performance.now() - t); }
    ts.sort((a, b) => a - b);
    return ts[Math.floor(n / 2)];
  };
  const load = median(60, () => { const e = new Engine(); e.load(doc); e.free(); });
  const e = new Engine();
  e.load(doc);
  e.set_context(JSON.stringify({ targetingKey: "user-42", country: "CA", plan: "pro", email: "a@acme.com", version: "2.1.0" }));
  const one = time(20000, () => e.evaluate("flag-2", 0));
  const all = time(300, () => e.evaluate_all(0));
  // The client's path: numbers across the boundary, decoded against a per-snapshot table.
  const { VaneClient } = await import("/vane.js");
  const client = new VaneClient({ edgeUrl: "http://127.0.0.1:9", clientKey: "x", pollMs: 0, storage: null, bootstrap: doc, now: () => 0 });
  await client.start({ targetingKey: "user-42", country: "CA", plan: "pro", email: "a@acme.com", version: "2.1.0" });
  const clientOne = time(50000, () => client.evaluate("flag-2"));
  const clientAll = time(500, () => client.evaluateAll());
  const packedOne = time(50000, () => e.evaluate_packed(2, 0));
  const contexts = Array.from({ length: 64 }, (_, i) => ({ targetingKey: `user-${i}`, country: "CA", plan: "pro", email: "a@acme.com", version: "2.1.0" }));
  const clientFresh = time(5000, (i) => { client.setContext(contexts[i & 63]); return client.evaluate("flag-2"); });
  const ctx = time(5000, (i) => e.set_context(`{"targetingKey":"user-${i}","country":"CA","plan":"pro"}`));
  return { load, one, all, ctx, clientOne, clientAll, packedOne, clientFresh };
}, snapshot);
console.log(`load + compile 350 flags (median of 60): ${(r.load).toFixed(2)} ms`);
console.log(`one flag (condition + 50% rollout), evaluate → JSON: ${(r.one * 1e6).toFixed(0)} ns`);
console.log(`all 350 flags for one context → JSON: ${(r.all * 1000).toFixed(1)} µs`);
console.log(`set a context (parse): ${(r.ctx * 1e6).toFixed(0)} ns`);
console.log(`one flag (condition + 50% rollout) evaluated in wasm, Engine.evaluate_packed: ${(r.packedOne * 1e6).toFixed(0)} ns`);
console.log(`VaneClient.evaluate, one flag (condition + 50% rollout), result object, answer kept for the context: ${(r.clientOne * 1e6).toFixed(0)} ns`);
console.log(`VaneClient.evaluate after each setContext (context parse + evaluation + decode): ${(r.clientFresh * 1e6).toFixed(0)} ns`);
console.log(`VaneClient.evaluateAll, 350 flags, result objects: ${(r.clientAll * 1000).toFixed(1)} µs`);
await browser.close();
server.close();
