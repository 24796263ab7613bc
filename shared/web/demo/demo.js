// The demo page: a VaneClient fed from the edge; the table shows every flag for the chosen context.
import { VaneClient } from "/pkg/vane.js";

const config = await (await fetch("/config.json")).json();
const form = document.getElementById("context");
const status = document.getElementById("status");
const client = new VaneClient({ ...config, pollMs: 500 });
window.vane = client; // for tests and for poking around in the console

function context() {
  const ctx = {};
  for (const [k, v] of new FormData(form)) if (v !== "") ctx[k] = v;
  return ctx;
}

function render(changed = new Set()) {
  const rows = client.evaluateAll().map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.flag = r.key;
    if (changed.has(r.key)) tr.className = "flash";
    const cells = [
      `<code>${r.key}</code>`,
      `<code>${"value" in r ? JSON.stringify(r.value) : "(default)"}</code>`,
      r.variant ?? "",
      `<span class="badge ${r.reason}">${r.reason}</span>${r.errorCode ? ` ${r.errorCode}` : ""}`,
      r.metadata?.ruleId ?? "",
    ];
    tr.innerHTML = cells.map((c) => `<td>${c}</td>`).join("");
    return tr;
  });
  document.getElementById("flags").replaceChildren(...rows);
  const timeout = client.config("api.timeout_ms");
  document.getElementById("configs").textContent =
    timeout === undefined ? "" : `config api.timeout_ms = ${JSON.stringify(timeout)}`;
  status.textContent = `snapshot version ${client.version} (from ${client.source})${client.lastError ? ` — ${client.lastError}` : ""}`;
  document.body.dataset.version = String(client.version);
}

let last = new Map();
function rerender() {
  const now = new Map(client.evaluateAll().map((r) => [r.key, JSON.stringify(r)]));
  const changed = new Set([...now].filter(([k, v]) => last.has(k) && last.get(k) !== v).map(([k]) => k));
  last = now;
  render(changed);
}

const started = await client.start(context());
form.addEventListener("input", () => { client.setContext(context()); rerender(); });
client.addEventListener("change", rerender);
client.addEventListener("error", () => render());
rerender();
window.vaneReady = started;
