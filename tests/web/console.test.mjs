// The console in real Chromium against a real `vane serve` and PostgreSQL: sign-in, the
// applications and flags screens, a toggle confirmed by the API, sign-out ending the session, a
// read key's console without edit controls, the key never kept by the page, and the security
// headers. Screenshots of the screens go to $SCREENSHOTS.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { env } from "node:process";
import { chromium } from "playwright-core";

const base = env.CONTROL_PLANE_URL;
const admin = env.ADMIN_KEY;
const read = env.READ_KEY;
const shots = env.SCREENSHOTS;
let browser;

before(async () => {
  mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({
    executablePath: env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
});

/** The API as a script would use it, with the admin key. */
async function apiAsAdmin(method, path, body) {
  const response = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** Polls `check` until it holds (5 s at most); the assertions after it say what was expected. */
async function until(check) {
  for (let waited = 0; waited < 5000 && !(await check()); waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function open(colorScheme = "light") {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  return { context, page, errors };
}

async function signIn(page, key) {
  await page.goto(`${base}/`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Applications" }).waitFor();
}

test("the console's pages carry the security headers, and / leads to it", async () => {
  const response = await fetch(`${base}/`, { redirect: "manual" });
  assert.equal(response.status, 303);
  assert.equal(response.headers.get("location"), "/ui/");
  for (const path of ["/ui/", "/ui/a/demo/production", "/ui/app.js", "/ui/app.css"]) {
    const r = await fetch(`${base}${path}`);
    assert.equal(r.status, 200, path);
    const csp = r.headers.get("content-security-policy");
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/, path);
    assert.match(csp, /frame-ancestors 'none'/, path);
    assert.doesNotMatch(csp, /unsafe-inline/, path);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff", path);
    assert.equal(r.headers.get("referrer-policy"), "no-referrer", path);
  }
});

test("an admin signs in, creates an application and a flag, and toggles it", async () => {
  const { context, page, errors } = await open();
  await page.goto(`${base}/`);
  await page.getByLabel("API key").waitFor();
  await page.screenshot({ path: `${shots}/sign-in.png` });

  // A client key is refused with a message that says why.
  const client = await apiAsAdmin("POST", "/api-keys", { scope: "client", name: "browser" });
  await page.getByLabel("API key").fill(client.body.key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "admin or read key" }).waitFor();

  await page.getByLabel("API key").fill(admin);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Applications" }).waitFor();
  const stored = await page.evaluate(
    () => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie,
  );
  assert.ok(!stored.includes(admin), "the key is not kept by the page");
  assert.ok(!stored.includes("vane_session"), "the session cookie is not readable by scripts");

  await page.getByLabel("New application").fill("Checkout");
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByRole("link", { name: "Checkout" }).waitFor();
  await page.screenshot({ path: `${shots}/applications.png` });

  await page.getByRole("link", { name: "Checkout" }).click();
  await page.getByRole("heading", { name: /Flags/ }).waitFor();
  assert.match(page.url(), /\/ui\/a\/checkout\/production$/);
  await page.getByLabel("New boolean flag").fill("new-checkout");
  await page.getByRole("button", { name: "Create" }).click();
  const toggle = page.getByRole("switch", { name: "new-checkout in Production" });
  await toggle.waitFor();
  // A refusal lands on the field it names, and the text stays for the user to fix.
  await page.getByLabel("New boolean flag").fill("Bad key!");
  await page.getByRole("button", { name: "Create" }).click();
  const field = page.getByLabel("New boolean flag");
  await page.locator(".field-problem").waitFor();
  assert.equal(await field.getAttribute("aria-invalid"), "true");
  assert.equal(await field.inputValue(), "Bad key!");
  assert.match(await page.locator(".field-problem").innerText(), /must match/);
  await page.screenshot({ path: `${shots}/field-error.png` });
  assert.equal(await toggle.getAttribute("aria-checked"), "false");
  await toggle.click();
  await page.waitForFunction(
    () => document.querySelector('[aria-label="new-checkout in Production"]')?.getAttribute("aria-checked") === "true",
  );
  const state = await apiAsAdmin("GET", "/applications/checkout/flags/new-checkout/environments/production");
  assert.equal(state.body.enabled, true, "the toggle reached the server");
  const staging = await apiAsAdmin("GET", "/applications/checkout/flags/new-checkout/environments/staging");
  assert.equal(staging.body.enabled, false, "only that environment changed");

  // Live: the same flag switched off through the API flips in the open list, without a reload.
  const off = await apiAsAdmin("PATCH", "/applications/checkout/flags/new-checkout/environments/production", {
    enabled: false,
  });
  assert.equal(off.status, 200);
  await page.waitForFunction(
    () => document.querySelector('[aria-label="new-checkout in Production"]')?.getAttribute("aria-checked") === "false",
    null,
    { timeout: 5000 },
  );

  // The demo application's flags, as a user would first see them.
  await page.goto(`${base}/ui/a/demo/production`);
  await page.getByRole("switch").first().waitFor();
  await page.screenshot({ path: `${shots}/flags.png` });
  // The search runs on the server, over keys and descriptions.
  const rows = () => page.locator("table.flags tbody tr");
  const all = await rows().count();
  await page.getByPlaceholder("Search flags").fill("STATIC SWITCH");
  await page.waitForFunction(() => document.querySelectorAll("table.flags tbody tr").length === 1);
  assert.match(await rows().first().innerText(), /dark-mode/);
  await page.getByPlaceholder("Search flags").fill("");
  await page.waitForFunction((n) => document.querySelectorAll("table.flags tbody tr").length === n, all);

  // API keys: a new key is shown once, works at once, and revoking it (confirmed) ends it.
  page.on("dialog", (dialog) => dialog.accept());
  await page.getByRole("link", { name: "API keys" }).click();
  await page.getByRole("heading", { name: "API keys" }).waitFor();
  await page.getByLabel("Name").fill("edge in test");
  await page.getByLabel("Scope").selectOption("edge");
  await page.getByRole("button", { name: "Create key" }).click();
  const minted = (await page.locator(".minted code").innerText()).trim();
  assert.match(minted, /^vane_edge_[0-9a-f]{48}$/);
  const snapshot = (key) =>
    fetch(`${base}/api/v1/snapshots/demo/production`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal((await snapshot(minted)).status, 200);
  await page.screenshot({ path: `${shots}/keys.png` });
  await page.getByRole("button", { name: "Revoke edge in test" }).click();
  await page.locator("tr.revoked").filter({ hasText: "edge in test" }).waitFor();
  assert.equal((await snapshot(minted)).status, 401);

  // The audit log: the toggle's entry, with its before and after.
  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByPlaceholder("Key or id").fill("new-checkout");
  await page.getByPlaceholder("Key or id").press("Enter");
  // The newest first: the flag just created in Checkout (the demo application has one too).
  await page
    .getByRole("button", { name: /^create flag new-checkout/ })
    .first()
    .click();
  const diff = page.locator("tr.diff");
  await diff.waitFor();
  assert.match(await diff.innerText(), /"key": "new-checkout"/);
  await page.screenshot({ path: `${shots}/audit.png` });

  // Audit entries made through the console name the key.
  const log = await apiAsAdmin("GET", "/audit?entity=new-checkout");
  assert.ok(
    log.body.items.every((e) => e.actor !== null),
    "every entry has its actor",
  );

  // Signing out ends the session: the old cookie no longer works.
  const [cookie] = await context.cookies();
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("API key").waitFor();
  const reused = await fetch(`${base}/api/v1/applications`, { headers: { cookie: `${cookie.name}=${cookie.value}` } });
  assert.equal(reused.status, 401);
  // The refusals the test asked for (the client key, the bad flag key, the ended session) are expected.
  assert.deepEqual(
    errors.filter((e) => !/401|403|422/.test(e)),
    [],
  );
  await context.close();
});

test("a read key's console has no edit control, and the API refuses its writes anyway", async () => {
  const { context, page } = await open("dark");
  await signIn(page, read);
  assert.equal(await page.getByRole("button", { name: "Create" }).count(), 0);
  assert.equal(await page.getByRole("button", { name: /Delete/ }).count(), 0);
  await page.goto(`${base}/ui/a/demo/production`);
  const first = page.getByRole("switch").first();
  await first.waitFor();
  assert.equal(await first.isDisabled(), true);
  await page.screenshot({ path: `${shots}/flags-read-only-dark.png` });
  // A flag's page and the audit log read, in dark mode; nothing to save.
  await page.goto(`${base}/ui/a/demo/production/flags/dark-mode`);
  await page.getByRole("region", { name: /^Production/ }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Save" }).count(), 0);
  await page.screenshot({ path: `${shots}/flag-read-only-dark.png` });
  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByRole("heading", { name: "Audit log" }).waitFor();
  await page.locator("table.list tbody tr").first().waitFor();
  await page.screenshot({ path: `${shots}/audit-dark.png` });
  // Even with the session's CSRF proof, a read session cannot write.
  const refused = await page.evaluate(async () => {
    const session = await (await fetch("/api/v1/sessions/current")).json();
    const r = await fetch("/api/v1/applications", {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": session.csrf_token },
      body: JSON.stringify({ name: "Nope" }),
    });
    return r.status;
  });
  assert.equal(refused, 403);
  await context.close();
});

test("a write with the cookie but without the CSRF proof is refused", async () => {
  const { context, page } = await open();
  await signIn(page, admin);
  const status = await page.evaluate(async () => {
    const r = await fetch("/api/v1/applications", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "Forged" }),
    });
    return r.status;
  });
  assert.equal(status, 403);
  const apps = await apiAsAdmin("GET", "/applications?limit=1000");
  assert.ok(!apps.body.items.some((a) => a.name === "Forged"), "nothing was created");
  await context.close();
});

test("a flag's state is edited per environment, and a concurrent change is never overwritten", async () => {
  const { context, page } = await open();
  await signIn(page, admin);
  const url = `${base}/ui/a/demo/production/flags/legacy-export`;
  const path = "/applications/demo/flags/legacy-export/environments/production";
  const production = page.getByRole("region", { name: /^Production/ });

  // An edit, saved.
  await page.goto(url);
  await production.getByLabel("Enabled").check();
  await production.getByRole("button", { name: "Save" }).click();
  await until(async () => (await apiAsAdmin("GET", path)).body.enabled === true);
  let state = (await apiAsAdmin("GET", path)).body;
  assert.equal(state.enabled, true, "the edit reached the server");
  await page.screenshot({ path: `${shots}/flag.png` });

  // Someone else changes it while the page is open: saving shows theirs and overwrites nothing.
  await page.goto(url);
  await production.getByLabel("Serves by default").selectOption("off");
  const theirs = await apiAsAdmin("PATCH", path, { enabled: false });
  assert.equal(theirs.status, 200);
  await production.getByRole("button", { name: "Save" }).click();
  await production.getByRole("alert").filter({ hasText: "Changed by someone else" }).waitFor();
  state = (await apiAsAdmin("GET", path)).body;
  assert.deepEqual([state.enabled, state.default], [false, { variant: "on" }], "nothing was overwritten");
  await page.screenshot({ path: `${shots}/conflict.png` });

  // Reapplying: the user's change (the default) on top of theirs (disabled), both kept.
  await production.getByRole("button", { name: "Apply mine on top" }).click();
  await until(async () => (await apiAsAdmin("GET", path)).body.default?.variant === "off");
  state = (await apiAsAdmin("GET", path)).body;
  assert.deepEqual([state.enabled, state.default], [false, { variant: "off" }]);
  await context.close();
});

test("environments' staleness settings are edited, and the registry lists its services", async () => {
  const { context, page } = await open();
  await signIn(page, admin);
  await page.getByRole("link", { name: "Environments" }).click();
  await page.getByLabel("Staging: maximum staleness in seconds").fill("600");
  await page.getByLabel("Staging: when the snapshot is too old").selectOption("fail_closed");
  await page
    .getByRole("row", { name: /Staging/ })
    .getByRole("button", { name: "Save" })
    .click();
  await until(async () => (await apiAsAdmin("GET", "/environments/staging")).body.stale_policy === "fail_closed");
  const staging = (await apiAsAdmin("GET", "/environments/staging")).body;
  assert.deepEqual([staging.max_staleness_s, staging.stale_policy], [600, "fail_closed"]);
  await page.screenshot({ path: `${shots}/environments.png` });

  const registered = await apiAsAdmin("POST", "/registry/register", {
    service_name: "payments",
    service_url: "http://payments.internal:8080",
  });
  assert.equal(registered.status, 201);
  await page.getByRole("link", { name: "Services" }).click();
  const row = page.getByRole("row", { name: /payments/ });
  await row.waitFor();
  assert.match(await row.innerText(), /http:\/\/payments\.internal:8080/);
  await page.screenshot({ path: `${shots}/services.png` });
  await context.close();
});
