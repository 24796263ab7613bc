// The draft preview: the browser package (vane-web, the engine the edge runs, compiled to
// WebAssembly) evaluates a flag's draft and its live definition side by side. It is loaded on
// first use, so the console's first load does not carry it.

import { request } from "./client";
import type { Schemas } from "./client";

/** The parts of vane-web's `Engine` the preview uses (see shared/web/src/lib.rs). */
interface WasmEngine {
  load(snapshot: string): string;
  set_context(context: string): string;
  evaluate(key: string, nowMs: number): string;
  table(): string;
  evaluate_keys_packed(index: number, keys: string, nowMs: number): Float64Array;
  free(): void;
}

interface EngineModule {
  default: (init: { module_or_path: string }) => Promise<unknown>;
  Engine: new () => WasmEngine;
}

let loading: Promise<EngineModule> | null = null;

/** The engine module, fetched and instantiated once. */
function engineModule(): Promise<EngineModule> {
  loading ??= (async () => {
    // A computed specifier: the bundler leaves it alone and the browser fetches it when asked.
    const glue = "/ui/engine.js";
    const module = (await import(/* webpackIgnore: true */ glue)) as EngineModule;
    await module.default({ module_or_path: "/ui/engine.wasm" });
    return module;
  })();
  loading.catch(() => {
    loading = null;
  });
  return loading;
}

/** One evaluation, as OFREP shapes it. */
export interface Answer {
  key: string;
  value?: unknown;
  variant?: string;
  reason: string;
  errorCode?: string;
  errorDetails?: string;
  metadata: { ruleId?: string };
}

/** A compile problem of the draft, at a path within the flag's state (`rules[0].serve`, …). */
export interface DraftProblem {
  path: string;
  message: string;
}

/** A snapshot document as far as the preview reads and rewrites it. */
export interface SnapshotDocument {
  application: string;
  environment: string;
  version: number;
  flags: SnapshotFlag[];
  segments: { key: string; included?: string[] }[];
  [other: string]: unknown;
}

export type SnapshotFlag = Schemas["StateRow"] & {
  key: string;
  type: string;
  variants: Schemas["Variant"][];
  prerequisites?: Schemas["Prerequisite"][];
};

/** The part of a flag that a draft may change. */
export type FlagDraft = Pick<
  SnapshotFlag,
  "enabled" | "off_variant" | "default" | "rules" | "prerequisites" | "salt" | "variants"
>;

/** The server snapshot an application × environment publishes now (admin sessions). */
export function liveSnapshot(app: string, env: string): Promise<SnapshotDocument> {
  return request<SnapshotDocument>(
    "GET",
    `/snapshots/${encodeURIComponent(app)}/${encodeURIComponent(env)}?audience=server`,
  );
}

/**
 * `flag` and every flag it depends on (prerequisites, transitively), with all segments: all that
 * one flag's answer can depend on, so each preview compiles a few flags, not the environment.
 */
function around(snapshot: SnapshotDocument, flag: SnapshotFlag): SnapshotDocument {
  const byKey = new Map(snapshot.flags.map((f) => [f.key, f]));
  byKey.set(flag.key, flag);
  const wanted = new Map<string, SnapshotFlag>();
  const visit = (f: SnapshotFlag) => {
    if (wanted.has(f.key)) return;
    wanted.set(f.key, f);
    for (const p of f.prerequisites ?? []) {
      const dependency = byKey.get(p.flag);
      if (dependency) visit(dependency);
    }
  };
  visit(flag);
  return { ...snapshot, flags: [...wanted.values()], configs: [] };
}

/** `flag 'key': path: message` — how the engine reports a flag's compile problem. */
const PROBLEM = /^flag '(.*)': (?:([^:]*): )?(.*)$/s;

/** A loaded engine for one version of one flag. */
class Side {
  private readonly engine: WasmEngine;
  readonly problems: DraftProblem[] = [];
  private readonly index: number;
  private readonly variants: string[];

  constructor(module: EngineModule, snapshot: SnapshotDocument, flag: string) {
    this.engine = new module.Engine();
    const loaded = JSON.parse(this.engine.load(JSON.stringify(snapshot))) as {
      ok: boolean;
      error?: string;
      warnings?: string[];
    };
    if (!loaded.ok) this.problems.push({ path: "", message: loaded.error ?? "the snapshot does not compile" });
    for (const warning of loaded.warnings ?? []) {
      const m = PROBLEM.exec(warning);
      if (m && m[1] === flag) this.problems.push({ path: m[2] ?? "", message: m[3] ?? warning });
    }
    const table = JSON.parse(this.engine.table()) as { flags: { key: string; variants: { key: string }[] }[] };
    this.index = table.flags.findIndex((f) => f.key === flag);
    this.variants = this.index < 0 ? [] : (table.flags[this.index]?.variants.map((v) => v.key) ?? []);
  }

  evaluate(flag: string, context: string, now: number): Answer {
    this.engine.set_context(context);
    return JSON.parse(this.engine.evaluate(flag, now)) as Answer;
  }

  /** The variant each key gets ("" for none or an error). */
  sweep(keys: string, now: number): string[] {
    if (this.index < 0) return [];
    const packed = this.engine.evaluate_keys_packed(this.index, keys, now);
    const out = new Array<string>(packed.length);
    for (let i = 0; i < packed.length; i++) {
      const p = packed[i] ?? -1;
      out[i] = p < 0 ? "" : (this.variants[(p & 0xfff) - 1] ?? "");
    }
    return out;
  }

  free(): void {
    this.engine.free();
  }
}

/** The live definition and a draft of one flag, each in its own engine. */
export class Preview {
  private draft: Side;

  private constructor(
    private readonly module: EngineModule,
    private readonly snapshot: SnapshotDocument,
    private readonly liveFlag: SnapshotFlag,
    private readonly live: Side,
  ) {
    this.draft = new Side(module, around(snapshot, liveFlag), liveFlag.key);
  }

  /** Loads the engine and compiles the live flag as `snapshot` has it (the draft starts equal). */
  static async of(snapshot: SnapshotDocument, live: SnapshotFlag): Promise<Preview> {
    const module = await engineModule();
    return new Preview(module, snapshot, live, new Side(module, around(snapshot, live), live.key));
  }

  get flag(): string {
    return this.liveFlag.key;
  }

  /** Compiles `draft` in the live flag's place (the live side is kept). */
  setDraft(draft: FlagDraft): void {
    const drafted: SnapshotFlag = { ...this.liveFlag, ...draft };
    const next = new Side(this.module, around(this.snapshot, drafted), this.flag);
    this.draft.free();
    this.draft = next;
  }

  /** The draft's compile problems, at paths within the flag. */
  get problems(): DraftProblem[] {
    return this.draft.problems;
  }

  /** Both answers for one context (JSON text: an OpenFeature context object). */
  answers(context: string, now = Date.now()): { live: Answer; draft: Answer } {
    return { live: this.live.evaluate(this.flag, context, now), draft: this.draft.evaluate(this.flag, context, now) };
  }

  /**
   * How many of `keys` (targeting keys, with the rest of `context`) would get another variant
   * with the draft, by move (`"on → off"` → count), most common first.
   */
  impact(keys: string[], context: string, now = Date.now()): Impact {
    const joined = keys.join("\n");
    this.live.evaluate(this.flag, context, now);
    this.draft.evaluate(this.flag, context, now);
    const before = this.live.sweep(joined, now);
    const after = this.draft.sweep(joined, now);
    const moves = new Map<string, number>();
    let changed = 0;
    for (let i = 0; i < before.length; i++) {
      if (before[i] !== after[i]) {
        changed++;
        const move = `${before[i] || "no value"} → ${after[i] || "no value"}`;
        moves.set(move, (moves.get(move) ?? 0) + 1);
      }
    }
    return { total: before.length, changed, moves: [...moves.entries()].sort((a, b) => b[1] - a[1]) };
  }

  free(): void {
    this.live.free();
    this.draft.free();
  }
}

export interface Impact {
  total: number;
  changed: number;
  moves: [string, number][];
}

/** `n` synthetic targeting keys (`user-0`, `user-1`, …), for flags with no member list to use. */
export function sampleKeys(n: number): string[] {
  const keys = new Array<string>(n);
  for (let i = 0; i < n; i++) keys[i] = `user-${i}`;
  return keys;
}
