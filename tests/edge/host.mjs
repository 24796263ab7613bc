// Runs the built worker under local workerd (Miniflare's Node API) until stdin closes.
// Environment: PORT, VANE_CONTROL_PLANE_URL, VANE_EDGE_KEY, optional VANE_DEFAULT_APPLICATION,
// VANE_DEFAULT_ENVIRONMENT, VANE_REFRESH_MS, VANE_WATCH_S, VANE_RATE_LIMIT_RPS, VANE_EDGE_KV_DIR
// (persist KV across restarts). Stop it by closing stdin: Miniflare then stops workerd too.
import { Miniflare } from "miniflare";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const e = process.env;
const mf = new Miniflare({
  modules: true,
  scriptPath: path.join(root, "edge/build/index.js"),
  modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
  compatibilityDate: "2026-04-20",
  kvNamespaces: ["VANE_KV"],
  kvPersist: e.VANE_EDGE_KV_DIR || false,
  bindings: {
    VANE_CONTROL_PLANE_URL: e.VANE_CONTROL_PLANE_URL ?? "http://127.0.0.1:8080",
    VANE_EDGE_KEY: e.VANE_EDGE_KEY ?? "",
    VANE_DEFAULT_APPLICATION: e.VANE_DEFAULT_APPLICATION ?? "demo",
    VANE_DEFAULT_ENVIRONMENT: e.VANE_DEFAULT_ENVIRONMENT ?? "production",
    VANE_REFRESH_MS: e.VANE_REFRESH_MS ?? "1000",
    VANE_WATCH_S: e.VANE_WATCH_S ?? "20",
    VANE_RATE_LIMIT_RPS: e.VANE_RATE_LIMIT_RPS ?? "0",
  },
  host: "127.0.0.1",
  port: Number(e.PORT ?? 8787),
  cf: false,
  unsafeTriggerHandlers: true,
  // Per-request logging goes through a loopback to Node: off, it costs throughput.
  logRequests: false,
});
console.log(`READY ${await mf.ready}`);
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.stdin.on("end", stop);
process.on("SIGTERM", stop);
process.stdin.resume();
