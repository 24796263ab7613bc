// Serves the browser demo (and what it imports) on one origin; the page talks to the edge.
//   node shared/web/demo/serve.mjs   with PORT, VANE_WEB_DIR (the built package), EDGE_URL,
//   CLIENT_KEY, VANE_APPLICATION, VANE_ENVIRONMENT. Prints "READY http://…" when listening;
//   stops when stdin closes.
import http from "node:http";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../..");
const e = process.env;
const config = {
  edgeUrl: e.EDGE_URL ?? "http://127.0.0.1:8787",
  clientKey: e.CLIENT_KEY ?? "",
  application: e.VANE_APPLICATION ?? "demo",
  environment: e.VANE_ENVIRONMENT ?? "production",
};
const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".ts": "text/plain" };
// URL prefix → directory. Nothing outside these is served.
const mounts = [
  ["/pkg/", path.resolve(e.VANE_WEB_DIR ?? path.join(root, "target/vane-web"))],
  ["/modules/@openfeature/web-sdk/", path.join(root, "node_modules/@openfeature/web-sdk/dist/")],
  ["/modules/@openfeature/core/", path.join(root, "node_modules/@openfeature/core/dist/")],
  ["/", here],
];

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/config.json") {
    res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-store" });
    return res.end(JSON.stringify(config));
  }
  const pathname = url.pathname === "/" ? "/index.html" : url.pathname;
  for (const [prefix, dir] of mounts) {
    if (!pathname.startsWith(prefix)) continue;
    const file = path.resolve(dir, "." + pathname.slice(prefix.length - 1));
    if (!file.startsWith(dir)) break;
    try {
      const body = await readFile(file);
      res.writeHead(200, { "Content-Type": types[path.extname(file)] ?? "application/octet-stream", "Cache-Control": "no-store" });
      return res.end(body);
    } catch {
      break;
    }
  }
  res.writeHead(404, { "Content-Type": "text/plain" });
  res.end("not found");
});
server.listen(Number(e.PORT ?? 8788), "127.0.0.1", () => {
  console.log(`READY http://127.0.0.1:${server.address().port}/`);
});
process.stdin.on("end", () => server.close(() => process.exit(0)));
process.stdin.resume();
