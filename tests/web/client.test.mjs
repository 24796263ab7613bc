// Node tests of Vane's browser client and OpenFeature web provider against a real edge worker.
// Run by tests/tests/web.rs, which starts PostgreSQL, `vane serve` and the edge, and passes:
//   VANE_WEB_DIR (the built package), EDGE_URL (the Worker), PUSH_EDGE_URL (`vane edge`),
//   CLIENT_KEY, CONTROL_PLANE_URL, ADMIN_KEY,
//   EXPECTED (a JSON file: {now, contexts, results} computed natively by vane-core).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";

const env = process.env;
const dir = env.VANE_WEB_DIR;
const { VaneClient, loadWasm } = await import(pathToFileURL(path.join(dir, "vane.js")).href);
await loadWasm(readFileSync(path.join(dir, "vane_web_bg.wasm")));
const expected = JSON.parse(readFileSync(env.EXPECTED, "utf8"));

// The budget every visitor downloads: module, glue and client, gzipped at level 9 (what
// `cargo xtask bench-web` reports), at most 120 KB (Flipt's browser engine: 139 KB).
const SIZE_BUDGET = 120_000;

test("the package stays within its 120 KB gzipped budget", () => {
  const sizes = ["vane_web_bg.wasm", "vane_web.js", "vane.js"].map(
    (f) => [f, gzipSync(readFileSync(path.join(dir, f)), { level: 9 }).length],
  );
  const total = sizes.reduce((sum, [, n]) => sum + n, 0);
  assert.ok(total <= SIZE_BUDGET, `${total} bytes gzipped (${JSON.stringify(sizes)}), over ${SIZE_BUDGET}`);
});

/** A Storage in memory (Node has no localStorage). */
class MemoryStorage {
  map = new Map();
  getItem(k) { return this.map.has(k) ? this.map.get(k) : null; }
  setItem(k, v) { this.map.set(k, String(v)); }
}

const options = (extra = {}) => ({
  edgeUrl: env.EDGE_URL, clientKey: env.CLIENT_KEY, application: "demo", environment: "production",
  pollMs: 0, storage: new MemoryStorage(), now: () => expected.now, ...extra,
});

test("evaluations in the package equal native vane-core for every context and flag", async () => {
  const client = new VaneClient(options());
  const started = await client.start({});
  assert.equal(started.ok, true, JSON.stringify(started));
  assert.equal(client.source, "edge");
  let compared = 0;
  expected.contexts.forEach((ctx, i) => {
    assert.equal(client.setContext(ctx).ok, true);
    for (const want of expected.results[i]) {
      assert.deepEqual(client.evaluate(want.key), want, `context ${JSON.stringify(ctx)}`);
      compared++;
    }
    assert.deepEqual(client.evaluateAll(), expected.results[i]);
  });
  assert.ok(compared >= 100, `${compared} comparisons`);
  assert.equal(client.config("api.timeout_ms"), 2500);
  assert.equal(client.config("nope"), undefined);
  assert.equal(client.evaluate("no-such-flag").errorCode, "FLAG_NOT_FOUND");
  assert.equal(client.setContext("not an object").ok, false);
});

test("an admin write reaches the client as a change event, without reload", async () => {
  const storage = new MemoryStorage();
  const client = new VaneClient(options({ pollMs: 50, storage }));
  await client.start({ targetingKey: "someone" });
  const before = client.version;
  const wasOn = client.evaluate("dark-mode").value;
  const changed = new Promise((resolve) => client.addEventListener("change", (e) => resolve(e.detail), { once: true }));
  const res = await fetch(`${env.CONTROL_PLANE_URL}/api/v1/applications/demo/flags/dark-mode/environments/production`, {
    method: "PATCH",
    headers: { Authorization: `Bearer ${env.ADMIN_KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify({ enabled: !wasOn }),
  });
  assert.equal(res.status, 200, await res.text());
  const detail = await changed;
  client.stop();
  assert.ok(detail.version > before, JSON.stringify(detail));
  const now = client.evaluate("dark-mode");
  assert.equal(now.value === true, !wasOn, JSON.stringify(now));
  assert.ok(storage.getItem("vane:demo:production"), "the new snapshot is stored for offline starts");
});

test("a self-hosted edge pushes new versions; a Worker is polled", async () => {
  // Polling every minute: only the push can bring a change within a second.
  const pushed = new VaneClient(options({ edgeUrl: env.PUSH_EDGE_URL, pollMs: 60_000 }));
  const polled = new VaneClient(options({ pollMs: 60_000 }));
  await pushed.start({ targetingKey: "someone" });
  await polled.start({ targetingKey: "someone" });
  const until = async (check, ms) => {
    for (const end = Date.now() + ms; Date.now() < end; ) {
      if (check()) return true;
      await new Promise((r) => setTimeout(r, 10));
    }
    return check();
  };
  assert.ok(await until(() => pushed.transport === "push", 5000), `transport ${pushed.transport}`);
  assert.ok(await until(() => polled.transport === "poll", 5000), `transport ${polled.transport}`);
  for (let i = 0; i < 3; i++) {
    const before = pushed.version;
    const wasOn = pushed.evaluate("dark-mode").value;
    const started = Date.now();
    const changed = new Promise((resolve) => pushed.addEventListener("change", (e) => resolve(e.detail), { once: true }));
    const res = await fetch(`${env.CONTROL_PLANE_URL}/api/v1/applications/demo/flags/dark-mode/environments/production`, {
      method: "PATCH",
      headers: { Authorization: `Bearer ${env.ADMIN_KEY}`, "Content-Type": "application/json" },
      body: JSON.stringify({ enabled: !wasOn }),
    });
    assert.equal(res.status, 200, await res.text());
    const detail = await Promise.race([changed, new Promise((r) => setTimeout(() => r(null), 1000))]);
    assert.ok(detail && detail.version > before, `no change within 1 s of the write (${JSON.stringify(detail)})`);
    assert.equal(pushed.evaluate("dark-mode").value === true, !wasOn);
    assert.ok(Date.now() - started < 1000);
  }
  pushed.stop();
  polled.stop();
  assert.equal(pushed.transport, "none");
});

test("with the edge down at start-up the stored snapshot serves; a bad one is refused", async () => {
  const storage = new MemoryStorage();
  const online = new VaneClient(options({ storage }));
  await online.start({});
  const version = online.version;
  const offline = new VaneClient(options({ storage, edgeUrl: "http://127.0.0.1:9" }));
  const errors = [];
  offline.addEventListener("error", (e) => errors.push(e.detail.message));
  const started = await offline.start({ targetingKey: "user-ada" });
  assert.deepEqual(started, { ok: true, version, source: "storage" });
  assert.equal(offline.evaluate("new-checkout").value, true);
  assert.ok(errors.some((m) => m.includes("unreachable")), errors.join("; "));
  // Nothing stored and no edge: no snapshot, every flag answers FLAG_NOT_FOUND (callers' defaults).
  const empty = new VaneClient(options({ edgeUrl: "http://127.0.0.1:9" }));
  assert.equal((await empty.start({})).ok, false);
  assert.equal(empty.evaluate("new-checkout").errorCode, "FLAG_NOT_FOUND");
  // A corrupted stored snapshot is refused, not half-loaded.
  const broken = new MemoryStorage();
  broken.setItem("vane:demo:production", JSON.stringify({ etag: null, body: "{\"format_version\": 2" }));
  const refused = new VaneClient(options({ storage: broken, edgeUrl: "http://127.0.0.1:9" }));
  assert.equal((await refused.start({})).ok, false);
  assert.match(refused.lastError, /refused/);
});

test("a server-rendered page starts from an inline snapshot without the network", async () => {
  const res = await fetch(`${env.EDGE_URL}/api/v1/snapshots/demo/production?audience=client`, {
    headers: { Authorization: `Bearer ${env.CLIENT_KEY}` },
  });
  const bootstrap = await res.text();
  const client = new VaneClient(options({ bootstrap, edgeUrl: "http://127.0.0.1:9" }));
  const started = await client.start({ targetingKey: "user-ada" });
  assert.equal(started.ok, true);
  assert.equal(client.source, "bootstrap");
  assert.equal(client.evaluate("new-checkout").reason, "TARGETING_MATCH");
});

test("the OpenFeature web SDK with the Vane provider returns the expected details", async () => {
  const { OpenFeature, ProviderEvents } = await import("@openfeature/web-sdk");
  const { VaneWebProvider } = await import(pathToFileURL(path.join(dir, "provider.js")).href);
  await OpenFeature.setContext({ targetingKey: "user-ada" });
  const provider = new VaneWebProvider(options({ pollMs: 50 }));
  await OpenFeature.setProviderAndWait(provider);
  const of = OpenFeature.getClient();
  const d = of.getBooleanDetails("new-checkout", false);
  assert.deepEqual([d.value, d.variant, d.reason, d.errorCode], [true, "on", "TARGETING_MATCH", undefined]);
  assert.equal(d.flagMetadata.ruleId, "betas-first");
  assert.equal(of.getStringDetails("new-checkout", "x").errorCode, "TYPE_MISMATCH");
  assert.equal(of.getBooleanDetails("no-such-flag", true).errorCode, "FLAG_NOT_FOUND");
  const theme = of.getObjectDetails("checkout-theme", {});
  assert.equal(typeof theme.value.color, "string");
  assert.equal(of.getNumberDetails("max-upload-mb", 1).value, 10);
  // A context change re-targets at once.
  await OpenFeature.setContext({ targetingKey: "x", plan: "pro", app_version: "2.1.0" });
  const big = of.getNumberDetails("max-upload-mb", 1);
  assert.deepEqual([big.value, big.reason], [100, "TARGETING_MATCH"]);
  // A new snapshot emits PROVIDER_CONFIGURATION_CHANGED.
  const changed = new Promise((resolve) => of.addHandler(ProviderEvents.ConfigurationChanged, resolve));
  const res = await fetch(`${env.CONTROL_PLANE_URL}/api/v1/applications/demo/flags/legacy-export/environments/production`, {
    method: "PATCH",
    headers: { Authorization: `Bearer ${env.ADMIN_KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify({ enabled: true }),
  });
  assert.equal(res.status, 200);
  await changed;
  assert.equal(of.getBooleanDetails("legacy-export", false).value, true);
  await OpenFeature.close();
});
