// Vane in real Chromium (Debian's, driven by playwright-core): the demo page loads the package,
// evaluates like native vane-core, follows an admin write without reload, starts from
// localStorage when the edge is down, and the OpenFeature web SDK with the Vane provider works.
// Run by tests/tests/web.rs with the same environment as client.test.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const env = process.env;
const expected = JSON.parse(readFileSync(env.EXPECTED, "utf8"));
let server, base, browser;

before(async () => {
  server = spawn(process.execPath, ["shared/web/demo/serve.mjs"], {
    env: { ...env, PORT: "0" },
    stdio: ["pipe", "pipe", "inherit"],
  });
  base = await new Promise((resolve, reject) => {
    server.stdout.on("data", (d) => {
      const m = /READY (\S+)/.exec(String(d));
      if (m) resolve(m[1]);
    });
    server.on("exit", (code) => reject(new Error(`serve.mjs exited ${code}`)));
  });
  browser = await chromium.launch({
    executablePath: env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  server?.stdin.end();
});

async function openDemo(context) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(base);
  await page.waitForFunction(() => window.vaneReady !== undefined, null, { timeout: 15000 });
  return { page, errors };
}

test("the demo page evaluates every flag as native vane-core does", async () => {
  const context = await browser.newContext();
  const { page, errors } = await openDemo(context);
  assert.equal(await page.evaluate(() => window.vaneReady.ok), true);
  const results = await page.evaluate((exp) => {
    window.vane.now = () => exp.now;
    return exp.contexts.map((ctx) => {
      window.vane.setContext(ctx);
      return window.vane.evaluateAll();
    });
  }, expected);
  assert.deepEqual(results, expected.results);
  // The table shows them.
  const rows = await page.locator("#flags tr").count();
  assert.equal(rows, expected.results[0].length);
  assert.deepEqual(errors, []);
  await context.close();
});

test("an admin write shows up in the open page without a reload", async () => {
  const context = await browser.newContext();
  const { page } = await openDemo(context);
  const before = Number(await page.evaluate(() => document.body.dataset.version));
  const was = await page.evaluate(() => window.vane.evaluate("dark-mode").value === true);
  const res = await fetch(`${env.CONTROL_PLANE_URL}/api/v1/applications/demo/flags/dark-mode/environments/production`, {
    method: "PATCH",
    headers: { Authorization: `Bearer ${env.ADMIN_KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify({ enabled: !was }),
  });
  assert.equal(res.status, 200, await res.text());
  await page.waitForFunction((v) => Number(document.body.dataset.version) > v, before, { timeout: 10000 });
  const cell = await page.locator('tr[data-flag="dark-mode"] td').nth(1).textContent();
  assert.equal(cell, String(!was), `dark-mode cell after the write: ${cell}`);
  await context.close();
});

test("with the edge down at start-up the page serves the snapshot it stored", async () => {
  const context = await browser.newContext();
  const first = await openDemo(context);
  const version = await first.page.evaluate(() => window.vane.version);
  await first.page.close();
  await context.route(`${env.EDGE_URL}/**`, (route) => route.abort());
  const { page } = await openDemo(context);
  const ready = await page.evaluate(() => window.vaneReady);
  assert.deepEqual(ready, { ok: true, version, source: "storage" });
  assert.match(await page.locator("#status").textContent(), new RegExp(`snapshot version ${version} \\(from storage\\)`));
  await context.close();
});

test("the OpenFeature web SDK with the Vane provider returns Vane's details in the page", async () => {
  const context = await browser.newContext();
  const { page } = await openDemo(context);
  const details = await page.evaluate(async (cfg) => {
    const { OpenFeature } = await import("@openfeature/web-sdk");
    const { VaneWebProvider } = await import("/pkg/provider.js");
    await OpenFeature.setContext({ targetingKey: "user-ada" });
    await OpenFeature.setProviderAndWait(new VaneWebProvider({ ...cfg, pollMs: 0 }));
    const c = OpenFeature.getClient();
    const ada = c.getBooleanDetails("new-checkout", false);
    await OpenFeature.setContext({ targetingKey: "x", plan: "pro", app_version: "2.0.0" });
    const upload = c.getNumberDetails("max-upload-mb", 1);
    const missing = c.getBooleanDetails("nope", true);
    return { ada: [ada.value, ada.variant, ada.reason], upload: [upload.value, upload.reason], missing: [missing.value, missing.errorCode] };
  }, await (await fetch(`${base}config.json`)).json());
  assert.deepEqual(details, {
    ada: [true, "on", "TARGETING_MATCH"],
    upload: [100, "TARGETING_MATCH"],
    missing: [true, "FLAG_NOT_FOUND"],
  });
  await context.close();
});
