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
  evaluate_all(nowMs: number): string;
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

/** A snapshot document loaded in an engine of its own. */
class Side {
  private readonly engine: WasmEngine;
  private readonly warnings: string[];
  private readonly failure: string | null;
  /** Each flag's position (what `evaluate_keys_packed` takes) and variants, by key. */
  private readonly flags: Map<string, { index: number; variants: string[] }>;

  constructor(module: EngineModule, snapshot: SnapshotDocument) {
    this.engine = new module.Engine();
    const loaded = JSON.parse(this.engine.load(JSON.stringify(snapshot))) as {
      ok: boolean;
      error?: string;
      warnings?: string[];
    };
    this.failure = loaded.ok ? null : (loaded.error ?? "the snapshot does not compile");
    this.warnings = loaded.warnings ?? [];
    const table = JSON.parse(this.engine.table()) as { flags: { key: string; variants: { key: string }[] }[] };
    this.flags = new Map(table.flags.map((f, index) => [f.key, { index, variants: f.variants.map((v) => v.key) }]));
  }

  /** The compile problems of one flag, at paths within it. */
  problemsOf(flag: string): DraftProblem[] {
    const out: DraftProblem[] = this.failure === null ? [] : [{ path: "", message: this.failure }];
    for (const warning of this.warnings) {
      const m = PROBLEM.exec(warning);
      if (m && m[1] === flag) out.push({ path: m[2] ?? "", message: m[3] ?? warning });
    }
    return out;
  }

  evaluate(flag: string, context: string, now: number): Answer {
    this.engine.set_context(context);
    return JSON.parse(this.engine.evaluate(flag, now)) as Answer;
  }

  /** The variant `flag` gives each of `keys` (one per line) with the current context ("" for none). */
  sweep(flag: string, keys: string, now: number): string[] {
    const found = this.flags.get(flag);
    if (!found) return [];
    const packed = this.engine.evaluate_keys_packed(found.index, keys, now);
    const out = new Array<string>(packed.length);
    for (let i = 0; i < packed.length; i++) {
      const p = packed[i] ?? -1;
      out[i] = p < 0 ? "" : (found.variants[(p & 0xfff) - 1] ?? "");
    }
    return out;
  }

  free(): void {
    this.engine.free();
  }
}

/** How `keys` move from one side to the other for `flag`, with the rest of `context`. */
function compare(flag: string, before: Side, after: Side, keys: string[], context: string, now: number): Impact {
  const joined = keys.join("\n");
  before.evaluate(flag, context, now);
  after.evaluate(flag, context, now);
  const was = before.sweep(flag, joined, now);
  const will = after.sweep(flag, joined, now);
  const moves = new Map<string, number>();
  let changed = 0;
  for (let i = 0; i < was.length; i++) {
    if (was[i] !== will[i]) {
      changed++;
      const move = `${was[i] || "no value"} → ${will[i] || "no value"}`;
      moves.set(move, (moves.get(move) ?? 0) + 1);
    }
  }
  return { total: was.length, changed, moves: [...moves.entries()].sort((a, b) => b[1] - a[1]) };
}

/** Whether `rules` name `segment` (`in_segment` or `not_in_segment`). */
export function namesSegment(rules: Schemas["Rule"][], segment: string): boolean {
  return rules.some((r) =>
    (r.conditions ?? []).some(
      (c) => (c.operator === "in_segment" || c.operator === "not_in_segment") && (c.values ?? []).includes(segment),
    ),
  );
}

/** The snapshot's segments with `segment` in its drafted form. */
function segmentsWith(snapshot: SnapshotDocument, segment: string, draft: object): SnapshotDocument["segments"] {
  return snapshot.segments.map((s) => (s.key === segment ? { ...s, ...draft } : s));
}

/**
 * A boolean flag whose one rule (`rule`: its conditions, schedule or gate) serves `on` when it
 * holds, else `off`: how the engine is asked about one part of a definition.
 */
function probeFlag(key: string, rule: Record<string, unknown>) {
  return {
    key,
    type: "boolean",
    rules: [{ id: "probe", serve: { variant: "on" }, ...rule }],
    default: { variant: "off" },
  };
}

/**
 * What a draft of a segment changes: for each flag of the snapshot whose rules name it, how many
 * of `keys` would get another variant.
 */
export async function segmentImpact(
  snapshot: SnapshotDocument,
  segment: string,
  draft: { conditions: Schemas["Condition"][]; included: string[]; excluded: string[] },
  keys: string[],
  context: string,
  now = Date.now(),
): Promise<{ flag: string; impact: Impact }[]> {
  const module = await engineModule();
  const users = snapshot.flags.filter((f) => namesSegment(f.rules, segment));
  if (users.length === 0) return [];
  const live = new Side(module, { ...snapshot, configs: [] });
  const drafted = new Side(module, { ...snapshot, configs: [], segments: segmentsWith(snapshot, segment, draft) });
  try {
    return users.map((f) => ({ flag: f.key, impact: compare(f.key, live, drafted, keys, context, now) }));
  } finally {
    live.free();
    drafted.free();
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
    this.draft = new Side(module, around(snapshot, liveFlag));
  }

  /** Loads the engine and compiles the live flag as `snapshot` has it (the draft starts equal). */
  static async of(snapshot: SnapshotDocument, live: SnapshotFlag): Promise<Preview> {
    const module = await engineModule();
    return new Preview(module, snapshot, live, new Side(module, around(snapshot, live)));
  }

  get flag(): string {
    return this.liveFlag.key;
  }

  /** Compiles `draft` in the live flag's place (the live side is kept). */
  setDraft(draft: FlagDraft): void {
    const drafted: SnapshotFlag = { ...this.liveFlag, ...draft };
    const next = new Side(this.module, around(this.snapshot, drafted));
    this.draft.free();
    this.draft = next;
  }

  /** The draft's compile problems, at paths within the flag. */
  get problems(): DraftProblem[] {
    return this.draft.problemsOf(this.flag);
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
    return compare(this.flag, this.live, this.draft, keys, context, now);
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

/** Every flag of a snapshot for one context: the playground. */
export class Playground {
  private constructor(
    private readonly module: EngineModule,
    private readonly engine: WasmEngine,
    readonly snapshot: SnapshotDocument,
  ) {}

  static async of(snapshot: SnapshotDocument): Promise<Playground> {
    const module = await engineModule();
    const engine = new module.Engine();
    const loaded = JSON.parse(engine.load(JSON.stringify(snapshot))) as { ok: boolean; error?: string };
    if (!loaded.ok) throw new Error(loaded.error ?? "the snapshot does not compile");
    return new Playground(module, engine, snapshot);
  }

  /** Every flag's answer, in the snapshot's order (`context`: JSON text). */
  evaluateAll(context: string, now = Date.now()): Answer[] {
    this.engine.set_context(context);
    return (JSON.parse(this.engine.evaluate_all(now)) as { flags: Answer[] }).flags;
  }

  /**
   * Why a flag answers as it does, rule by rule: each condition, schedule and gate of each rule
   * is evaluated on its own by the engine (as a one-rule flag of its own beside the snapshot's
   * segments), so the explanation is the engine's, not a re-implementation's.
   */
  explain(key: string, context: string, now = Date.now()): Explanation | null {
    const flag = this.snapshot.flags.find((f) => f.key === key);
    if (!flag) return null;
    type Probe = { rule: number; part: "condition" | "schedule" | "gate"; index: number };
    const probes: Probe[] = [];
    const flags: unknown[] = [];
    const probe = (p: Probe, rule: Record<string, unknown>) => {
      probes.push(p);
      flags.push(probeFlag(`why-${probes.length}`, rule));
    };
    flag.rules.forEach((r, i) => {
      (r.conditions ?? []).forEach((c, j) => probe({ rule: i, part: "condition", index: j }, { conditions: [c] }));
      if (r.active_from || r.active_until)
        probe(
          { rule: i, part: "schedule", index: 0 },
          { active_from: r.active_from ?? null, active_until: r.active_until ?? null },
        );
      if (r.gate) probe({ rule: i, part: "gate", index: 0 }, { gate: r.gate });
    });
    const engine = new this.module.Engine();
    try {
      const doc = { ...this.snapshot, flags, configs: [] };
      engine.load(JSON.stringify(doc));
      engine.set_context(context);
      const answers = (JSON.parse(engine.evaluate_all(now)) as { flags: Answer[] }).flags;
      const held = (i: number) => answers[i]?.variant === "on";
      this.engine.set_context(context);
      const prerequisites = (flag.prerequisites ?? []).map((p) => {
        const served = (JSON.parse(this.engine.evaluate(p.flag, now)) as Answer).variant ?? null;
        return { flag: p.flag, variants: p.variants, served, holds: served !== null && p.variants.includes(served) };
      });
      return {
        enabled: flag.enabled,
        prerequisites,
        rules: flag.rules.map((r, i) => ({
          id: r.id ?? "",
          description: r.description ?? "",
          conditions: (r.conditions ?? []).map((c, j) => ({
            condition: c,
            holds: held(probes.findIndex((p) => p.rule === i && p.part === "condition" && p.index === j)),
          })),
          schedule:
            r.active_from || r.active_until
              ? held(probes.findIndex((p) => p.rule === i && p.part === "schedule"))
              : null,
          gate: r.gate ? held(probes.findIndex((p) => p.rule === i && p.part === "gate")) : null,
        })),
      };
    } finally {
      engine.free();
    }
  }

  free(): void {
    this.engine.free();
  }
}

/** A flag's answer, explained: its switch, its prerequisites, and each rule's parts. */
export interface Explanation {
  enabled: boolean;
  prerequisites: { flag: string; variants: string[]; served: string | null; holds: boolean }[];
  rules: {
    id: string;
    description: string;
    conditions: { condition: Schemas["Condition"]; holds: boolean }[];
    /** Whether the rule's schedule includes now (`null`: it has none). */
    schedule: boolean | null;
    /** Whether the rule's percentage gate lets this context in (`null`: it has none). */
    gate: boolean | null;
  }[];
}

/**
 * Whether a context is a member of a segment, as the live snapshot has the segment and as a draft
 * of it would: one probe flag (`targetingKey` in the segment) evaluated by the engine on each.
 */
export async function membership(
  snapshot: SnapshotDocument,
  segment: string,
  draft: { conditions: Schemas["Condition"][]; included: string[]; excluded: string[] },
  context: string,
  now = Date.now(),
): Promise<{ live: boolean; draft: boolean }> {
  const module = await engineModule();
  const probe = probeFlag("member", {
    conditions: [{ attribute: "targetingKey", operator: "in_segment", values: [segment] }],
  });
  const member = (segments: SnapshotDocument["segments"]) => {
    const engine = new module.Engine();
    try {
      engine.load(JSON.stringify({ ...snapshot, flags: [probe], configs: [], segments }));
      engine.set_context(context);
      return (JSON.parse(engine.evaluate("member", now)) as Answer).variant === "on";
    } finally {
      engine.free();
    }
  };
  return {
    live: member(snapshot.segments),
    draft: member(segmentsWith(snapshot, segment, draft)),
  };
}
