// Vane's browser client: fetches the client snapshot from the edge, keeps it fresh (pushed
// versions from a self-hosted edge's event stream, else ETag polling), evaluates flags locally with vane-core compiled to WebAssembly, and falls back to
// the last snapshot it stored (localStorage) when the edge cannot be reached at start-up.
//
//   import { VaneClient } from "./vane.js";
//   const vane = new VaneClient({ edgeUrl: "https://edge.example", clientKey: "vane_client_…",
//                                 application: "shop", environment: "production" });
//   await vane.start({ targetingKey: "user-1", country: "CA" });
//   vane.evaluate("new-checkout");      // {key, value, variant, reason, errorCode?, metadata}
//   vane.addEventListener("change", (e) => render(e.detail.version));
//
// Errors never throw out of evaluate()/config(): a flag always has an answer (with `errorCode`
// when something is wrong) and the caller's default applies.
import init, { Engine } from "./vane_web.js";

let wasmReady = null;

/** Not a packed answer (those are -1 or non-negative): "not evaluated for this context yet". */
const UNKNOWN = -2;

/** Reason codes of packed results (the same list as `REASONS` in vane-web). */
const REASONS = ["STATIC", "TARGETING_MATCH", "SPLIT", "DEFAULT", "DISABLED", "PREREQUISITE_FAILED", "ERROR"];

/** Deep-freezes a JSON value: object and array values are shared by every evaluation of a snapshot. */
const freeze = (v) => {
  if (v !== null && typeof v === "object") {
    Object.values(v).forEach(freeze);
    Object.freeze(v);
  }
  return v;
};

/** Loads the WebAssembly module once per page (or from `module`: bytes or a compiled module). */
export function loadWasm(module) {
  if (!wasmReady) {
    wasmReady = module === undefined ? init() : init({ module_or_path: module });
  }
  return wasmReady;
}

export class VaneClient extends EventTarget {
  /**
   * @param {object} options
   * @param {string} options.edgeUrl        the edge worker's base URL
   * @param {string} options.clientKey      a `client` API key
   * @param {string} [options.application]  default "default"
   * @param {string} [options.environment]  default "production"
   * @param {number} [options.pollMs]       ETag polling interval, default 1000 (0 = never refresh)
   * @param {boolean} [options.push]        follow the edge's event stream when it offers one
   *                                        (`vane edge` does; a Worker answers 404 and the client
   *                                        polls), default true
   * @param {string|object} [options.bootstrap] an inline snapshot (server-rendered pages)
   * @param {Storage|null} [options.storage] where the last snapshot is kept (default localStorage)
   * @param {Function} [options.fetch]       fetch implementation (default globalThis.fetch)
   * @param {Function} [options.now]         clock in ms (default Date.now)
   * @param {*} [options.wasm]               the wasm module or its bytes (default: fetched next to vane_web.js)
   */
  constructor(options) {
    super();
    this.edgeUrl = String(options.edgeUrl ?? "").replace(/\/+$/, "");
    this.clientKey = options.clientKey;
    this.application = options.application ?? "default";
    this.environment = options.environment ?? "production";
    this.pollMs = options.pollMs ?? 1000;
    this.push = options.push ?? true;
    /** How the snapshot is kept fresh now: "push", "poll" or "none". */
    this.transport = "none";
    this.bootstrap = options.bootstrap;
    this.storage = options.storage === undefined ? globalThis.localStorage ?? null : options.storage;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.now = options.now ?? Date.now;
    this.wasm = options.wasm;
    this.engine = null;
    this.etag = null;
    this.timer = null;
    this.inFlight = false;
    this.source = "none";
    this.lastError = null;
    // Per snapshot: every flag's key, variants, rule ids and version, decoded once, so an
    // evaluation crosses into wasm with numbers only.
    this.table = { version: 0, flags: [] };
    this.index = new Map();
    // Per context: each flag's packed answer once known (UNKNOWN until then).
    this.packed = new Float64Array(0);
  }

  get storageKey() {
    return `vane:${this.application}:${this.environment}`;
  }

  /** The snapshot version in use (0 before one is loaded). */
  get version() {
    return this.engine ? this.engine.version() : 0;
  }

  /**
   * Loads a snapshot (bootstrap, then the edge; the stored copy if the edge fails), sets the
   * context and starts polling. Resolves once a snapshot is in use, or with `{ok:false}` when
   * there is none at all (evaluations then answer FLAG_NOT_FOUND and callers get their defaults).
   */
  async start(context = {}) {
    await loadWasm(this.wasm);
    this.stop();
    this.engine?.free();
    this.engine = new Engine();
    this.setContext(context);
    if (this.bootstrap) {
      this.#load(typeof this.bootstrap === "string" ? this.bootstrap : JSON.stringify(this.bootstrap), null, "bootstrap");
    }
    const fetched = await this.refresh();
    if (!fetched && this.version === 0) {
      const stored = this.#stored();
      if (stored) {
        this.#load(stored.body, stored.etag, "storage");
      }
    }
    this.resume();
    return this.version > 0 ? { ok: true, version: this.version, source: this.source } : { ok: false, error: this.lastError };
  }

  /**
   * (Re)starts keeping the snapshot fresh (after `stop()`): the edge's event stream when it has
   * one, else polling (a tick is skipped while a refresh is in flight).
   */
  resume() {
    if (!this.engine || this.pollMs <= 0 || this.transport !== "none") return;
    if (this.push) this.#listen();
    else this.#poll();
  }

  /** Stops refreshing. */
  stop() {
    clearInterval(this.timer);
    clearTimeout(this.pushRetry);
    this.listening?.abort();
    this.listening = null;
    this.transport = "none";
  }

  #poll() {
    clearInterval(this.timer);
    this.transport = "poll";
    this.timer = setInterval(() => this.inFlight || this.refresh(), this.pollMs);
  }

  #url(suffix) {
    const app = encodeURIComponent(this.application);
    const env = encodeURIComponent(this.environment);
    return `${this.edgeUrl}/api/v1/snapshots/${app}/${env}${suffix}?audience=client`;
  }

  /**
   * Follows `GET …/events?audience=client` (Server-Sent Events, read with fetch so the key goes
   * in a header): an event that does not carry our content hash triggers one conditional GET.
   * An edge without the route (a Worker: 404) is polled from then on; a dropped stream is polled
   * until it is opened again five seconds later.
   */
  async #listen() {
    const abort = (this.listening = new AbortController());
    try {
      const response = await this.fetchImpl(this.#url("/events"), {
        headers: { Authorization: `Bearer ${this.clientKey}` },
        cache: "no-store",
        signal: abort.signal,
      });
      if (response.status === 404) this.push = false;
      if (!response.ok) throw response.status;
      clearInterval(this.timer);
      this.transport = "push";
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (let buffer = "", chunk; !(chunk = await reader.read()).done; ) {
        const events = (buffer += chunk.value).split("\n\n");
        buffer = events.pop();
        const ours = this.etag?.replace(/W\/|"/g, "");
        if (events.some((e) => e.includes("data:") && !(ours && e.includes(ours)))) this.refresh();
      }
    } catch {
      // Refused, unreachable, dropped or stopped: see below.
    }
    if (this.listening !== abort) return; // stopped
    this.listening = null;
    this.#poll();
    if (this.push) {
      this.pushRetry = setTimeout(() => {
        this.stop();
        this.resume();
      }, 5000);
    }
  }

  /** One conditional GET of the client snapshot; true when the edge answered (200 or 304). */
  async refresh() {
    this.inFlight = true;
    try {
      return await this.#refresh();
    } finally {
      this.inFlight = false;
    }
  }

  async #refresh() {
    const url = this.#url("");
    const headers = { Authorization: `Bearer ${this.clientKey}` };
    if (this.etag) headers["If-None-Match"] = this.etag;
    const abort = new AbortController();
    const timeout = setTimeout(() => abort.abort(), 10000);
    let status, body, etag;
    try {
      const response = await this.fetchImpl(url, { headers, cache: "no-store", signal: abort.signal });
      status = response.status;
      etag = response.headers.get("ETag");
      body = status === 304 ? "" : await response.text();
    } catch (e) {
      this.#error(`edge unreachable: ${e?.message ?? e}`);
      return false;
    } finally {
      clearTimeout(timeout);
    }
    if (status === 304) return true;
    if (status !== 200) {
      this.#error(`edge answered ${status}: ${body}`);
      return false;
    }
    return this.#load(body, etag, "edge");
  }

  /** Sets the evaluation context (OpenFeature shape: targetingKey + attributes). */
  setContext(context) {
    if (!this.engine) return { ok: false, error: "not started" };
    const outcome = JSON.parse(this.engine.set_context(JSON.stringify(context ?? {})));
    if (outcome.ok) this.packed.fill(UNKNOWN);
    return outcome;
  }

  /**
   * One flag for the current context. An answer is kept until the context or the snapshot
   * changes (OpenFeature's static-context model), except for flags whose rules have active
   * windows (`timed`), which are evaluated on every call.
   */
  evaluate(key) {
    if (!this.engine) return { key, reason: "ERROR", errorCode: "PROVIDER_NOT_READY", errorDetails: "not started", metadata: {} };
    const i = this.index.get(key);
    if (i === undefined) return JSON.parse(this.engine.evaluate(key, this.now()));
    let packed = this.packed[i];
    if (packed === UNKNOWN) {
      packed = this.engine.evaluate_packed(i, this.now());
      if (!this.table.flags[i].timed) this.packed[i] = packed;
    }
    return packed < 0 ? JSON.parse(this.engine.evaluate(key, this.now())) : this.#decode(i, packed);
  }

  /** Every flag for the current context. */
  evaluateAll() {
    if (!this.engine) return [];
    const packed = this.engine.evaluate_all_packed(this.now());
    if (packed.length !== this.table.flags.length) return JSON.parse(this.engine.evaluate_all(this.now())).flags;
    const out = new Array(packed.length);
    for (let i = 0; i < packed.length; i++) {
      const f = this.table.flags[i];
      if (!f.timed) this.packed[i] = packed[i];
      out[i] = packed[i] < 0 ? JSON.parse(this.engine.evaluate(f.key, this.now())) : this.#decode(i, packed[i]);
    }
    return out;
  }

  #decode(i, packed) {
    // A flag's answer is fully determined by its packed number, so each distinct answer is
    // built once per snapshot and shared, frozen like the values inside it: repeated
    // evaluations allocate nothing.
    const f = this.table.flags[i];
    let r = f.answers.get(packed);
    if (r === undefined) {
      r = { key: f.key };
      const v = packed & 0xfff;
      if (v > 0) {
        const variant = f.variants[v - 1];
        r.value = variant.value;
        r.variant = variant.key;
      }
      r.reason = REASONS[(packed >>> 12) & 0xf];
      r.metadata = f.metadata[(packed >>> 16) & 0xffff];
      f.answers.set(packed, Object.freeze(r));
    }
    return r;
  }

  /** A config's value (`undefined` when the snapshot has none by that key). */
  config(key) {
    if (!this.engine) return undefined;
    const value = JSON.parse(this.engine.config(key));
    return value === null ? undefined : value;
  }

  #load(body, etag, source) {
    const before = this.version;
    const outcome = JSON.parse(this.engine.load(body));
    if (!outcome.ok) {
      this.#error(`snapshot from ${source} refused: ${outcome.error}`);
      return false;
    }
    this.etag = etag ?? this.etag;
    this.source = source;
    this.table = JSON.parse(this.engine.table());
    for (const f of this.table.flags) {
      f.variants.forEach((v) => freeze(v.value));
      // Metadata per matched rule (index 0: none), frozen and shared like the values.
      const base = { snapshotVersion: this.table.version, flagVersion: f.flagVersion };
      f.metadata = [Object.freeze(base), ...f.rules.map((id) => Object.freeze(id ? { ...base, ruleId: id } : base))];
      f.answers = new Map();
    }
    this.packed = new Float64Array(this.table.flags.length).fill(UNKNOWN);
    this.index = new Map();
    this.table.flags.forEach((f, i) => {
      if (!this.index.has(f.key)) this.index.set(f.key, i);
    });
    this.lastError = null;
    if (source === "edge" && this.storage) {
      try {
        this.storage.setItem(this.storageKey, JSON.stringify({ etag, body }));
      } catch {
        // Storage full or denied: the snapshot still serves from memory.
      }
    }
    if (this.version !== before) {
      this.dispatchEvent(new CustomEvent("change", { detail: { version: this.version, previous: before, source } }));
    }
    return true;
  }

  #stored() {
    try {
      const raw = this.storage?.getItem(this.storageKey);
      return raw ? JSON.parse(raw) : null;
    } catch {
      return null;
    }
  }

  #error(message) {
    this.lastError = message;
    this.dispatchEvent(new CustomEvent("error", { detail: { message } }));
  }
}
