// Console benchmarks in Chromium with the page's clock, against a release `vane serve`
// (`cargo xtask bench-console`): an application of 5,000 flags × 3 environments; the flag list's
// time to interactive after navigation, a server search from keystroke to the new rows, and a
// toggle from click to the server's confirmation; the draft preview's refresh after an edit and
// its impact estimate over 100,000 keys (the engine in WebAssembly, in the page).

import { env } from "node:process";
import { chromium } from "playwright-core";

const base = `http://${env.VANE_ADDR}`;
const admin = env.VANE_ADMIN_KEY;
const FLAGS = 5000;

async function api(method, path, body) {
  const r = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.status === 204 ? null : r.json();
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))];
const ms = (x) => `${x.toFixed(1)} ms`;

await api("POST", "/applications", { key: "bench", name: "Bench" });
let next = 0;
const started = Date.now();
await Promise.all(
  Array.from({ length: 16 }, async () => {
    while (next < FLAGS) {
      const i = next++;
      const key = `flag-${String(i).padStart(4, "0")}`;
      await api("POST", "/applications/bench/flags", { key, type: "boolean", description: `Flag number ${i}` });
    }
  }),
);
console.log(`seeded ${FLAGS} flags × 3 environments in ${((Date.now() - started) / 1000).toFixed(1)} s`);

const browser = await chromium.launch({
  executablePath: env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();
await page.goto(`${base}/ui/`);
await page.getByLabel("API key").fill(admin);
await page.getByRole("button", { name: "Sign in" }).click();
await page.getByRole("heading", { name: "Applications" }).waitFor();

// Time to interactive: navigation start (the page's time origin) → the first page of rows with
// their switches in the document.
const interactive = [];
for (let run = 0; run < 7; run++) {
  await page.goto(`${base}/ui/a/bench/production`);
  const at = await page.waitForFunction(
    () => document.querySelectorAll("table.flags tbody tr button[role=switch]").length >= 300 && performance.now(),
  );
  interactive.push(await at.jsonValue());
}
console.log(
  `flag list of ${FLAGS} flags × 3 environments, navigation → interactive: median ${ms(median(interactive))} (runs ${interactive.map((x) => x.toFixed(0)).join(", ")})`,
);

// In the page, with its clock (no driver round trips inside the measured time): an input event
// or a click, then the first animation frame at which the table shows the answer.
const timed = (action, done) =>
  page.evaluate(
    ([action, done]) =>
      new Promise((resolve) => {
        const act = new Function(action);
        const finished = new Function(done);
        const t0 = performance.now();
        act();
        const check = () => (finished() ? resolve(performance.now() - t0) : requestAnimationFrame(check));
        requestAnimationFrame(check);
      }),
    [action, done],
  );
const rows = "document.querySelectorAll('table.flags tbody tr').length";

// A search: keystroke → rows replaced (the 150 ms pause after typing, the server's search over
// every flag, the render).
const search = [];
for (let run = 0; run < 7; run++) {
  const needle = `flag-${String(1000 + run * 111).padStart(4, "0")}`;
  const type = (text) =>
    `const i = document.querySelector('input[type=search]'); i.value = ${JSON.stringify(text)};` +
    `i.dispatchEvent(new Event('input', { bubbles: true }));`;
  search.push(await timed(type(needle), `return ${rows} === 1`));
  await timed(type(""), `return ${rows} === 100`);
}
console.log(
  `search over ${FLAGS} flags, keystroke → new rows: median ${ms(median(search))} (150 ms of it the pause after typing)`,
);

// A toggle: click → the server's answer shown (PATCH, group commit, publish, render).
const toggles = [];
for (let run = 0; run < 30; run++) {
  const selector = `[aria-label="flag-${String(run).padStart(4, "0")} in Production"]`;
  const was = await page.getAttribute(selector, "aria-checked");
  toggles.push(
    await timed(
      `document.querySelector(${JSON.stringify(selector)}).click()`,
      `return document.querySelector(${JSON.stringify(selector)})?.getAttribute('aria-checked') !== ${JSON.stringify(was)}`,
    ),
  );
}
console.log(`toggle → confirmed by the server: p50 ${ms(median(toggles))}, p90 ${ms(p(toggles, 0.9))} (30 toggles)`);

// The draft preview: a flag with three rules among the 5,000; an edit of a condition's values →
// the draft's answer shown (the engine compiles the draft and evaluates it, the page renders).
await api("POST", "/applications/bench/flags", {
  key: "theme",
  type: "string",
  variants: ["classic", "modern", "bold"].map((v) => ({ key: v, value: v })),
});
const rule = (id, attribute, values, variant) => ({
  id,
  conditions: [{ attribute, operator: "in", values }],
  serve: { variant },
});
await api("PATCH", "/applications/bench/flags/theme/environments/production", {
  enabled: true,
  rules: [
    rule("by-country", "country", ["CA", "US"], "modern"),
    rule("by-plan", "plan", ["pro"], "bold"),
    {
      id: "beta",
      conditions: [{ attribute: "beta", operator: "eq", values: [true] }],
      serve: { rollout: { weights: { classic: 50000, modern: 50000 } } },
    },
  ],
});
await page.goto(`${base}/ui/a/bench/production/flags/theme`);
const box = page.getByLabel("Context (JSON)");
await box.fill(JSON.stringify({ targetingKey: "user-7", country: "FR" }));
await page.getByTestId("draft-variant").waitFor();
const values = page.getByLabel("Rule 1, condition 1: values, one per line");
const refresh = [];
for (let run = 0; run < 21; run++) {
  const text = run % 2 === 0 ? "CA\\nUS\\nFR" : "CA\\nUS";
  const expected = run % 2 === 0 ? "modern" : "classic";
  refresh.push(
    await timed(
      `const t = document.querySelector('textarea[aria-label="Rule 1, condition 1: values, one per line"]');` +
        `t.value = "${text}"; t.dispatchEvent(new Event('input', { bubbles: true }));`,
      `return document.querySelector('[data-testid=draft-variant]')?.textContent === ${JSON.stringify(expected)}`,
    ),
  );
}
await values.fill("CA\nUS");
console.log(
  `draft preview, edit → draft answer shown: p50 ${ms(median(refresh))}, p90 ${ms(p(refresh, 0.9))} (21 edits)`,
);

// Impact: click → the count of 100,000 sample keys that would change, shown. Each run edits the
// draft first (an edit clears the previous estimate).
const impact = [];
for (let run = 0; run < 7; run++) {
  await values.fill(run % 2 === 0 ? "CA\nUS\nFR\nDE" : "CA\nUS\nFR");
  await page.getByTestId("impact").waitFor({ state: "detached" });
  impact.push(
    await timed(
      `[...document.querySelectorAll('button')].find((b) => b.textContent.startsWith('Impact on')).click()`,
      `return document.querySelector('[data-testid=impact]') !== null`,
    ),
  );
}
console.log(
  `impact over 100,000 keys, click → shown: median ${ms(median(impact))} (runs ${impact.map((x) => x.toFixed(0)).join(", ")})`,
);

// A segment of 100,000 keys: paste → counted in the button, add → counted in the list, save →
// confirmed by the server (the wall clock around each step; these include the driver's steps).
await api("POST", "/applications/bench/segments", { key: "members" });
await page.goto(`${base}/ui/a/bench/production/segments/members`);
const area = page.getByLabel("Keys to add to always in");
await area.waitFor();
const members = Array.from({ length: 100_000 }, (_, i) => `customer-${i}`).join("\n");
let t0 = Date.now();
await area.evaluate((a, text) => {
  const data = new DataTransfer();
  data.setData("text/plain", text);
  a.focus();
  a.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
}, members);
await page.getByRole("button", { name: "Add 100,000 keys" }).waitFor();
const pasted = Date.now() - t0;
t0 = Date.now();
await page.getByRole("button", { name: "Add 100,000 keys" }).click();
await page.getByText("Always in: 100,000 keys").waitFor();
const added = Date.now() - t0;
t0 = Date.now();
await page.getByLabel("Search always in").fill("customer-99999");
await page.getByText("customer-99999", { exact: true }).waitFor();
const searched = Date.now() - t0;
t0 = Date.now();
await page.getByRole("button", { name: "Save" }).click();
await page.getByRole("status").filter({ hasText: "Saved." }).waitFor({ timeout: 60_000 });
const savedIn = Date.now() - t0;
console.log(
  `segment of 100,000 keys: paste → counted ${pasted} ms, add → listed ${added} ms, search ${searched} ms, save → confirmed ${savedIn} ms`,
);
await browser.close();
