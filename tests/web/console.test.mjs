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
  // Renamed in place (the key, and every URL, stay).
  await page.getByRole("button", { name: "Rename Checkout" }).click();
  await page.getByLabel("New name for Checkout").fill("Checkout web");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("link", { name: "Checkout web" }).waitFor();
  assert.equal((await apiAsAdmin("GET", "/applications/checkout")).body.name, "Checkout web");
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
  // By time: nothing from the future; the entries come back when the bound goes.
  await page.getByLabel("From (your time)").fill("2999-01-01T00:00");
  await page.getByText("Nothing matches.").waitFor();
  await page.getByLabel("From (your time)").fill("");
  await page
    .getByRole("button", { name: /^create flag new-checkout/ })
    .first()
    .waitFor();

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
  // Live for a read session too: a toggle made elsewhere flips here without a reload.
  const holiday = page.getByRole("switch", { name: "holiday-banner in Production" });
  const was = await holiday.getAttribute("aria-checked");
  const statePath = "/applications/demo/flags/holiday-banner/environments/production";
  const toggled = await apiAsAdmin("PATCH", statePath, { enabled: was !== "true" });
  assert.equal(toggled.status, 200);
  await until(async () => (await holiday.getAttribute("aria-checked")) !== was);
  assert.notEqual(await holiday.getAttribute("aria-checked"), was, "the list followed the change");
  await apiAsAdmin("PATCH", statePath, { enabled: was === "true" });
  await page.screenshot({ path: `${shots}/flags-read-only-dark.png` });
  // A flag's page and the audit log read, in dark mode; nothing to save.
  await page.goto(`${base}/ui/a/demo/production/flags/dark-mode`);
  await page.getByRole("region", { name: /^Targeting in Production/ }).waitFor();
  assert.equal(await page.getByRole("button", { name: /Save/ }).count(), 0);
  assert.equal(await page.getByRole("button", { name: /Add a rule/ }).count(), 0);
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
  const production = page.getByRole("region", { name: /^Targeting in Production/ });
  const save = async () => {
    await production.getByRole("button", { name: "Review and save…" }).click();
    await production.getByRole("button", { name: "Save to Production" }).click();
  };

  // An edit, reviewed and saved.
  await page.goto(url);
  await production.getByLabel("Enabled").check();
  await production.getByRole("button", { name: "Review and save…" }).click();
  await production.getByRole("dialog", { name: "Review the change" }).getByText('"enabled": true').waitFor();
  await production.getByRole("button", { name: "Save to Production" }).click();
  await until(async () => (await apiAsAdmin("GET", path)).body.enabled === true);
  let state = (await apiAsAdmin("GET", path)).body;
  assert.equal(state.enabled, true, "the edit reached the server");

  // Someone else changes it while the page is open: the page says so at once (live), and
  // saving shows theirs and overwrites nothing.
  await page.goto(url);
  await production.getByLabel("When no rule matches, serve: variant").selectOption("off");
  const theirs = await apiAsAdmin("PATCH", path, { enabled: false });
  assert.equal(theirs.status, 200);
  await production.getByRole("status").filter({ hasText: "changed in Production while you were editing" }).waitFor();
  await save();
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

/** A flag's answer from native vane-core (`vane eval`) on the snapshot the server publishes now. */
async function nativeAnswers(flag, contexts) {
  const { execFileSync } = await import("node:child_process");
  const { writeFileSync, mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const snapshot = await apiAsAdmin("GET", "/snapshots/demo/production?audience=server");
  const file = `${mkdtempSync(`${tmpdir()}/vane-console-`)}/snapshot.json`;
  writeFileSync(file, JSON.stringify(snapshot.body));
  return contexts.map((c) =>
    JSON.parse(
      execFileSync(env.VANE_BIN, ["eval", "--snapshot", file, "--flag", flag, "--context", JSON.stringify(c)], {
        encoding: "utf8",
      }),
    ),
  );
}

/** The edge's OFREP answer for one context. */
async function edgeAnswer(flag, c) {
  const r = await fetch(`${env.EDGE_URL}/ofrep/v1/evaluate/flags/${flag}`, {
    method: "POST",
    headers: { authorization: `Bearer ${env.EDGE_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ context: c }),
  });
  return r.json();
}

test("rules are drafted and previewed by the engine before saving; native vane-core and the edge agree", async () => {
  // A flag with three variants and a segment of 10,000 keys (through the API: the segments screen
  // is not built yet).
  const flagKey = "button-style";
  const created = await apiAsAdmin("POST", "/applications/demo/flags", {
    key: flagKey,
    type: "string",
    variants: [
      { key: "classic", value: "classic" },
      { key: "modern", value: "modern" },
      { key: "bold", value: "bold" },
    ],
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const { context, page, errors } = await open();
  await signIn(page, admin);

  // A segment of 10,000 pasted keys, made in the console.
  await page.goto(`${base}/ui/a/demo/production/segments`);
  await page.getByLabel("New segment").fill("beta");
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByRole("link", { name: "beta", exact: true }).click();
  const included = Array.from({ length: 10_000 }, (_, i) => `beta-${i}`);
  // Pasted as a browser pastes (one paste event carrying the text).
  await page.getByLabel("Keys to add to always in").evaluate((area, text) => {
    const data = new DataTransfer();
    data.setData("text/plain", text);
    area.focus();
    area.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
  }, included.join("\n"));
  await page.getByRole("button", { name: "Add 10,000 keys" }).click();
  // And a file of keys, some already in (counted once).
  await page
    .getByLabel("or upload a file")
    .first()
    .setInputFiles({
      name: "more.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("beta-1\nbeta-10000, beta-10001\n"),
    });
  await page.getByTestId("beta-included-count").filter({ hasText: "10,002" }).waitFor();
  await page.getByLabel("Search always in").fill("beta-999");
  await page.getByText("beta-9999", { exact: true }).waitFor();
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("status").filter({ hasText: "Saved." }).waitFor();
  const segment = (await apiAsAdmin("GET", "/applications/demo/segments/beta")).body;
  assert.equal(segment.included.length, 10_002);
  assert.equal(await page.getByTestId("beta-included-count").textContent(), "10,002");
  await page.screenshot({ path: `${shots}/segment.png` });
  await page.setViewportSize({ width: 1280, height: 1000 });
  await page.goto(`${base}/ui/a/demo/production/flags/${flagKey}`);
  const production = page.getByRole("region", { name: /^Targeting in Production/ });
  const preview = page.getByRole("complementary", { name: "Preview" });
  await preview.getByTestId("preview-answers").waitFor();

  // The definition: a description and a tag, saved on their own.
  const definition = page.getByRole("region", { name: /^Definition/ });
  await definition.getByLabel("Description").fill("How the checkout button looks");
  await definition.getByLabel(/^Tags/).fill("checkout, ui");
  await definition.getByRole("button", { name: "Save definition" }).click();
  const flagUrl = `/applications/demo/flags/${flagKey}`;
  await until(async () => (await apiAsAdmin("GET", flagUrl)).body.tags.length === 2);
  const defined = (await apiAsAdmin("GET", flagUrl)).body;
  assert.deepEqual([defined.description, defined.tags], ["How the checkout button looks", ["checkout", "ui"]]);

  // Enabled; rule 1: country in CA/US → modern; rule 2: in segment beta → a rollout.
  await production.getByLabel("Enabled").check();
  await production.getByRole("button", { name: "+ Add a rule" }).click();
  await production.getByRole("button", { name: "+ Add a condition" }).click();
  await production.getByLabel("Rule 1, condition 1: attribute").fill("country");
  await production.getByLabel("Rule 1, condition 1: operator").selectOption("in");
  await production.getByLabel("Rule 1, condition 1: values, one per line").fill("CA\nUS");
  await production.getByLabel("Rule 1 serves: variant").selectOption("modern");
  await production.getByRole("button", { name: "+ Add a rule" }).click();
  await production.getByRole("button", { name: "+ Add a condition" }).nth(1).click();
  await production.getByLabel("Rule 2, condition 1: attribute").fill("targetingKey");
  await production.getByLabel("Rule 2, condition 1: operator").selectOption("in_segment");
  await production
    .getByRole("group", { name: "Rule 2, condition 1: segments" })
    .getByLabel("beta", { exact: true })
    .check();
  await production.getByRole("radio", { name: "a percentage rollout" }).nth(1).check();
  await production.getByLabel("Rule 2 serves: bold (percent)").fill("70");
  await production.getByLabel("Rule 2 serves: bold (percent)").blur();
  // The split still adds up to 100 %: what bold gained came from the others.
  const split = await production.getByRole("img", { name: /bold 70.0 %/ }).getAttribute("aria-label");
  assert.match(split, /classic 0.0 %, modern 30.0 %, bold 70.0 %|classic 30.0 %, modern 0.0 %, bold 70.0 %/);

  // The draft answers beside the live ones, for the context being typed.
  const contextBox = preview.getByLabel("Context (JSON)");
  await contextBox.fill(JSON.stringify({ targetingKey: "user-1", country: "CA" }));
  await until(async () => (await preview.getByTestId("draft-variant").textContent()) === "modern");
  assert.equal(await preview.getByTestId("draft-variant").textContent(), "modern");
  assert.equal(await preview.getByTestId("live-reason").textContent(), "DISABLED");
  await preview.getByRole("button", { name: /Impact on 100,000 keys/ }).click();
  await preview.getByTestId("impact").waitFor();
  assert.match(await preview.getByTestId("impact").textContent(), /of 100,000 sample keys/);
  await production.getByText("Rule 2", { exact: true }).scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${shots}/flag-rules.png` });

  // A mistake is shown on its field as it is typed (the engine compiles the draft), and the
  // server's refusal lands there too; nothing is saved.
  await production.getByRole("button", { name: "+ Add a rule" }).click();
  await production.getByRole("button", { name: "+ Add a condition" }).nth(2).click();
  await production.getByLabel("Rule 3, condition 1: attribute").fill("appVersion");
  await production.getByLabel("Rule 3, condition 1: operator").selectOption("semver_gte");
  await production.getByLabel("Rule 3, condition 1: value").fill("1.x");
  const rule3 = production.getByRole("listitem").filter({ hasText: "Rule 3" });
  await rule3.getByRole("alert").filter({ hasText: "needs a semantic version" }).waitFor();
  const before = (await apiAsAdmin("GET", `/applications/demo/flags/${flagKey}/environments/production`)).body;
  await production.getByRole("button", { name: "Review and save…" }).click();
  await production.getByRole("button", { name: "Save to Production" }).click();
  await production.getByRole("alert").filter({ hasText: "rules[2].conditions[0]" }).waitFor();
  const after = (await apiAsAdmin("GET", `/applications/demo/flags/${flagKey}/environments/production`)).body;
  assert.equal(after.version, before.version, "a refused save changes nothing");
  assert.equal(await production.getByLabel("Rule 3, condition 1: value").inputValue(), "1.x", "the draft is kept");
  await rule3.getByRole("alert").scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${shots}/flag-422.png` });
  await production.getByRole("button", { name: "Remove Rule 3", exact: true }).click();

  // Thirty contexts through the preview, kept to compare with what is served after the save.
  const contexts = Array.from({ length: 30 }, (_, i) => ({
    targetingKey: i % 3 === 0 ? `beta-${i * 301}` : `user-${i}`,
    country: ["CA", "FR", "US", "DE", "JP"][i % 5],
  }));
  const drafted = [];
  const answers = preview.getByTestId("preview-answers");
  for (const c of contexts) {
    await contextBox.fill(JSON.stringify(c));
    await until(async () => (await answers.getAttribute("data-for")) === JSON.stringify(c));
    drafted.push({
      variant: await preview.getByTestId("draft-variant").textContent(),
      reason: await preview.getByTestId("draft-reason").textContent(),
    });
  }

  // Review: the semantic diff, then save.
  await production.getByRole("button", { name: "Review and save…" }).click();
  const review = production.getByRole("dialog", { name: "Review the change" });
  await review.getByText('"operator": "in_segment"').waitFor();
  await review.scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${shots}/flag-review.png` });
  await review.getByRole("button", { name: "Save to Production" }).click();
  const statePath = `/applications/demo/flags/${flagKey}/environments/production`;
  await until(async () => (await apiAsAdmin("GET", statePath)).body.rules.length === 2);
  const saved = (await apiAsAdmin("GET", statePath)).body;
  assert.equal(saved.rules.length, 2);
  assert.equal(saved.enabled, true);

  // Native vane-core on the published snapshot gives the preview's answers.
  const native = await nativeAnswers(flagKey, contexts);
  assert.deepEqual(
    native.map((a) => ({ variant: a.variant, reason: a.reason })),
    drafted,
    "the preview agrees with native vane-core",
  );
  // And the edge serves the new version with the same answers.
  const version = native[0].metadata.flagVersion;
  await until(async () => (await edgeAnswer(flagKey, contexts[0])).metadata?.flagVersion === version);
  for (const [i, c] of contexts.entries()) {
    const served = await edgeAnswer(flagKey, c);
    assert.equal(served.metadata?.flagVersion, version, "the edge serves the saved version");
    assert.deepEqual({ variant: served.variant, reason: served.reason }, drafted[i], JSON.stringify(c));
  }
  // The playground: every flag for a context, and why, rule by rule (the engine's own verdicts).
  await page.getByRole("link", { name: "Playground" }).click();
  const playground = page.getByTestId("playground");
  await page.getByLabel("Context (JSON)").fill(JSON.stringify({ targetingKey: "user-1", country: "FR" }));
  await until(async () => (await playground.getByTestId(`variant-${flagKey}`).textContent()) === "classic");
  await page.getByLabel("Name for this context").fill("French visitor");
  await page.getByRole("button", { name: "Save context" }).click();
  await page.getByLabel("Context (JSON)").fill(JSON.stringify({ targetingKey: "beta-7", country: "CA" }));
  await until(async () => (await playground.getByTestId(`variant-${flagKey}`).textContent()) === "modern");
  await playground.getByRole("button", { name: `Why does ${flagKey} answer modern?` }).click();
  const why = playground.locator(".why");
  await why.getByText("Rule 1").waitFor();
  const explained = await why.innerText();
  assert.match(explained, /Rule 1[^\n]*— matched/);
  assert.match(explained, /country in CA, US/);
  assert.match(explained, /Rule 2[^\n]*— not reached/);
  await page.screenshot({ path: `${shots}/playground.png` });
  await page.getByLabel("Saved contexts").selectOption("French visitor");
  await until(async () => (await playground.getByTestId(`variant-${flagKey}`).textContent()) === "classic");
  // The explanation follows the context.
  await why.getByText("No rule matched").waitFor();

  // The segment now says which flag uses it.
  await page.goto(`${base}/ui/a/demo/production/segments/beta`);
  await page.getByRole("complementary", { name: "Used by" }).getByRole("link", { name: flagKey }).waitFor();
  // A draft of the segment, estimated before saving: eleven members taken out now get the default.
  await page.getByLabel("Search always in").fill("beta-999");
  await page.getByRole("button", { name: "Remove the 11 shown" }).click();
  const impact = page.getByTestId("segment-impact");
  await impact.getByRole("button", { name: "Estimate" }).click();
  await impact.getByText("would change").waitFor();
  const estimated = await impact.innerText();
  assert.match(estimated, new RegExp(`${flagKey}: 11 would change`), estimated);
  assert.match(estimated, /Over 10,002 members/);
  // One context, live and with the draft: a key the draft takes out.
  const member = page.getByTestId("segment-member");
  await member.getByLabel("Context (JSON)").fill('{"targetingKey": "beta-9990"}');
  const answered = async () =>
    (await member.getByTestId("member-live").textContent()) === "member" &&
    (await member.getByTestId("member-draft").textContent()) === "not a member";
  await until(answered);
  assert.equal(await member.getByTestId("member-live").textContent(), "member");
  assert.equal(await member.getByTestId("member-draft").textContent(), "not a member");
  await page.screenshot({ path: `${shots}/segment-impact.png` });

  // No script error (the 401 before sign-in and the 422 above are answers, not errors).
  assert.deepEqual(
    errors.filter((e) => !e.startsWith("Failed to load resource")),
    [],
  );
  await context.close();
});

test("configs: a schema checked as typed, history with rollback, a secret masked until an audited reveal", async () => {
  const { context, page, errors } = await open();
  await signIn(page, admin);
  await page.goto(`${base}/ui/a/demo/production/configs`);
  const form = page.getByRole("form", { name: "New config" });
  const secretValue = "tok_live_7f3a9c";
  await form.getByLabel("Key").fill("payments.token");
  await form.getByLabel("Value").fill(secretValue);
  await form.getByRole("checkbox", { name: /Secret/ }).check();
  await form.getByRole("button", { name: "Create" }).click();
  await page.getByRole("link", { name: "payments.token" }).waitFor();
  await form.getByLabel("Key").fill("checkout.max-items");
  await form.getByLabel("Type").selectOption("number");
  await form.getByLabel("Value").fill("20");
  await form.getByRole("button", { name: "Create" }).click();
  await page.getByRole("link", { name: "checkout.max-items" }).waitFor();
  assert.ok(!(await page.content()).includes(secretValue), "the list shows the secret masked");
  await page.screenshot({ path: `${shots}/configs.png` });

  // The value is checked against the schema as it is typed; nothing invalid can be saved.
  await page.getByRole("link", { name: "checkout.max-items" }).click();
  const editor = page.getByRole("region", { name: "Config", exact: true });
  // The schema is typed into the JSON editor once it has loaded (a textarea stands in until then).
  const schemaEditor = editor.locator(".cm-content");
  await schemaEditor.waitFor();
  await schemaEditor.fill('{"type": "integer", "minimum": 1, "maximum": 50}');
  await editor.getByLabel("Value", { exact: true }).fill("80");
  await editor.getByRole("alert").filter({ hasText: "50" }).waitFor();
  assert.equal(await editor.getByRole("button", { name: "Save" }).isDisabled(), true);
  await editor.getByLabel("Value", { exact: true }).fill("30");
  // The network fails on the first try: the page says so and keeps the draft; the second saves.
  const path = "/applications/demo/environments/production/configs/checkout.max-items";
  await page.route(`**/api/v1${path}`, (route) =>
    route.request().method() === "PATCH" ? route.abort("connectionrefused") : route.continue(),
  );
  await editor.getByRole("button", { name: "Save" }).click();
  await editor.getByRole("alert").filter({ hasText: "cannot be reached; nothing was saved" }).waitFor();
  assert.equal(await editor.getByLabel("Value", { exact: true }).inputValue(), "30", "the draft is kept");
  assert.equal((await apiAsAdmin("GET", path)).body.value, 20);
  await page.unroute(`**/api/v1${path}`);
  await editor.getByRole("button", { name: "Save" }).click();
  await until(async () => (await apiAsAdmin("GET", path)).body.value === 30);
  assert.deepEqual((await apiAsAdmin("GET", path)).body.schema, { type: "integer", minimum: 1, maximum: 50 });

  // History: the two versions compared, and the first restored as a third.
  const history = page.getByRole("region", { name: "History" });
  await history.getByText('"value": 30').waitFor();
  await page.screenshot({ path: `${shots}/config.png` });
  await history.getByRole("button", { name: "Roll back to 1" }).click();
  await until(async () => (await apiAsAdmin("GET", path)).body.version === 3);
  const restored = (await apiAsAdmin("GET", path)).body;
  assert.deepEqual([restored.value, restored.version], [20, 3]);
  await until(async () => (await editor.getByLabel("Value", { exact: true }).inputValue()) === "20");
  assert.equal(
    await editor.getByLabel("Value", { exact: true }).inputValue(),
    "20",
    "the page shows the restored value",
  );

  // A secret: masked until the user asks; the reveal is in the audit log under this key.
  await page.goto(`${base}/ui/a/demo/production/configs/payments.token`);
  await page.getByLabel("secret value, masked").waitFor();
  assert.ok(!(await page.content()).includes(secretValue), "masked until revealed");
  await page.screenshot({ path: `${shots}/config-secret.png` });
  await page.getByRole("button", { name: /^Reveal/ }).click();
  const revealed = page.getByRole("region", { name: "Config", exact: true }).getByLabel("Value", { exact: true });
  await revealed.waitFor();
  assert.equal(await revealed.inputValue(), secretValue);
  const reveals = (await apiAsAdmin("GET", "/audit?entity_type=config&action=reveal")).body.items;
  assert.equal(reveals.length, 1);
  assert.equal(reveals[0].entity_key, "payments.token");
  assert.ok(!JSON.stringify(reveals).includes(secretValue), "the audit entry holds no value");
  assert.deepEqual(
    errors.filter((e) => !e.startsWith("Failed to load resource")),
    [],
  );
  await context.close();
});

test("flags are enabled, disabled and archived in bulk", async () => {
  const { context, page } = await open();
  await signIn(page, admin);
  for (const key of ["bulk-a", "bulk-b"]) {
    assert.equal((await apiAsAdmin("POST", "/applications/demo/flags", { key, type: "boolean" })).status, 201);
  }
  const state = async (key) =>
    (await apiAsAdmin("GET", `/applications/demo/flags/${key}/environments/production`)).body.enabled;
  await page.goto(`${base}/ui/a/demo/production`);
  await page.getByLabel("Select bulk-a").check();
  await page.getByLabel("Select bulk-b").check();
  const toolbar = page.getByRole("toolbar", { name: "Change the selected flags" });
  await toolbar.getByText("2 selected").waitFor();
  await page.screenshot({ path: `${shots}/flags-bulk.png` });
  await toolbar.getByRole("button", { name: "Enable in Production" }).click();
  await page.getByRole("status").filter({ hasText: "2 flags enabled in Production." }).waitFor();
  await until(async () => (await state("bulk-a")) && (await state("bulk-b")));
  const enabled = [await state("bulk-a"), await state("bulk-b")];
  const trail = (await apiAsAdmin("GET", "/audit?entity=bulk-a")).body.items.map((e) => [e.action, e.at, e.version]);
  assert.deepEqual(enabled, [true, true], `bulk-a's audit trail: ${JSON.stringify(trail)}`);
  await page.getByLabel("Select bulk-a").check();
  await page.getByLabel("Select bulk-b").check();
  await toolbar.getByRole("button", { name: "Archive" }).click();
  // The note comes once both writes have answered.
  await page.getByRole("status").filter({ hasText: "2 flags archived." }).waitFor();
  const archivedBoth = async () =>
    (await apiAsAdmin("GET", "/applications/demo/flags/bulk-a")).body.archived === true &&
    (await apiAsAdmin("GET", "/applications/demo/flags/bulk-b")).body.archived === true;
  await until(archivedBoth);
  const archived = await Promise.all(
    ["bulk-a", "bulk-b"].map(async (k) => (await apiAsAdmin("GET", `/applications/demo/flags/${k}`)).body.archived),
  );
  assert.deepEqual(archived, [true, true]);
  await page.getByLabel("Select bulk-a").waitFor({ state: "detached" });

  // A JSON flag's variants are edited in the JSON editor; broken JSON is caught as it is typed.
  await page.goto(`${base}/ui/a/demo/production/flags/checkout-theme`);
  const definition = page.getByRole("region", { name: /^Definition/ });
  const json = definition.locator(".cm-content").first();
  await json.waitFor();
  assert.equal(await json.getAttribute("aria-label"), "Variant 1 value (JSON)");
  await json.fill('{"color": "#1f6feb", "layout": ');
  await definition.getByRole("alert").filter({ hasText: "not JSON" }).waitFor();
  assert.equal(await definition.getByRole("button", { name: "Save definition" }).isDisabled(), true);
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
