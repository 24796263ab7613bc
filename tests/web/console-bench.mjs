// Console benchmarks in Chromium with the page's clock, against a release `vane serve`
// (`cargo xtask bench-console`): an application of 5,000 flags × 3 environments; the flag list's
// time to interactive after navigation, a server search from keystroke to the new rows, and a
// toggle from click to the server's confirmation.

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
await browser.close();
