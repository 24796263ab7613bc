// One flag: its definition (variants, description, tags) and, per environment, its targeting —
// rules with conditions, rollouts, prerequisites, schedules — edited as a draft that the engine
// previews beside the live definition before anything is saved.

import { useEffect, useMemo, useState } from "preact/hooks";

import { ApiError, api } from "./client";
import type {
  Condition,
  Environment,
  FlagView,
  Operator,
  Prerequisite,
  Rule,
  SegmentRow,
  Serve,
  Session,
  StateChange,
  StateRow,
  Variant,
} from "./client";
import { Preview, liveSnapshot, sampleKeys } from "./engine";
import type { Answer, DraftProblem, FlagDraft, Impact, SnapshotDocument, SnapshotFlag } from "./engine";
import { LineDiff } from "./diff";
import { History } from "./history";
import {
  Conflict,
  JsonField,
  Link,
  Problem,
  flagPath,
  flagsPath,
  readValue,
  usePreviewContext,
  useSnapshotEvents,
  useVersionedSave,
  valueText,
} from "./ui";

/** Rollout weights are parts of this (vane-core's `ROLLOUT_SCALE`): 100 % = 100000. */
const SCALE = 100_000;

const percent = (weight: number) => `${(weight / (SCALE / 100)).toFixed(1)} %`;

/** What a serve says, in words. */
function served(serve: Serve): string {
  if ("variant" in serve) return serve.variant;
  const weights = Object.entries(serve.rollout.weights).map(([v, w]) => `${v} ${percent(w)}`);
  return `rollout: ${weights.join(", ")}`;
}

// --- problems on their fields ---------------------------------------------------------------

/** Problems by JSON path (the server's 422 details, or the engine's compile problems). */
type Problems = Map<string, string[]>;

export function problemsOf(list: { path: string; message: string }[]): Problems {
  const map: Problems = new Map();
  for (const p of list) map.set(p.path, [...(map.get(p.path) ?? []), p.message]);
  return map;
}

/** The messages at `path` and below it (`rules[0]` shows `rules[0].serve`'s too, when asked). */
function at(problems: Problems, path: string, below = false): string[] {
  const out: string[] = [];
  for (const [p, messages] of problems) {
    if (p === path || (below && (p.startsWith(`${path}.`) || p.startsWith(`${path}[`)))) out.push(...messages);
  }
  return out;
}

/** Messages on a field, each once (the engine and the server often say the same thing). */
function FieldProblem(props: { messages: string[]; id?: string }) {
  if (props.messages.length === 0) return null;
  return (
    <span class="field-problem" role="alert" id={props.id}>
      {[...new Set(props.messages)].join("; ")}
    </span>
  );
}

/** The attributes of a text input, or of a number input when `number`. */
const typed = (number: boolean) => (number ? { type: "number" as const, step: "any" } : { type: "text" as const });

// --- values of variants ---------------------------------------------------------------------

interface VariantDraft {
  key: string;
  text: string;
}

/** The definition: variants (typed values, JSON checked as it is typed), description and tags. */
function Definition(props: { app: string; flag: FlagView; writable: boolean; saved: (f: FlagView) => void }) {
  const { flag } = props;
  const start = (f: FlagView) => ({
    variants: f.variants.map((v) => ({ key: v.key, text: valueText(f.type, v.value) })),
    description: f.description,
    tags: f.tags.join(", "),
  });
  const [draft, setDraft] = useState(() => start(flag));
  const { busy, error, conflict, setConflict, save: versioned } = useVersionedSave<FlagView>();
  const parsed = draft.variants.map((v) => readValue(flag.type, v.text));
  const invalid = parsed.some((p) => p.problem !== undefined) || draft.variants.some((v) => v.key.trim() === "");
  const dirty = JSON.stringify(draft) !== JSON.stringify(start(flag));
  const problems = error instanceof ApiError ? problemsOf(error.details) : new Map<string, string[]>();
  const setVariant = (i: number, change: Partial<VariantDraft>) =>
    setDraft({ ...draft, variants: draft.variants.map((v, j) => (j === i ? { ...v, ...change } : v)) });
  const save = (version: number) =>
    versioned(
      () => {
        const variants: Variant[] = draft.variants.map((v, i) => ({ key: v.key.trim(), value: parsed[i]?.value }));
        const tags = draft.tags
          .split(",")
          .map((t) => t.trim())
          .filter(Boolean);
        return api.changeFlag(props.app, flag.key, { variants, description: draft.description, tags, version });
      },
      () => api.flag(props.app, flag.key),
      props.saved,
    );
  return (
    <section class="card wide" aria-labelledby="definition">
      <h2 id="definition">
        Definition <span class="muted small">version {flag.version}</span>
      </h2>
      <label>
        Description
        <input
          value={draft.description}
          disabled={!props.writable}
          onInput={(e) => setDraft({ ...draft, description: (e.target as HTMLInputElement).value })}
        />
      </label>
      <label>
        Tags <span class="muted small">(comma-separated)</span>
        <input
          value={draft.tags}
          disabled={!props.writable}
          onInput={(e) => setDraft({ ...draft, tags: (e.target as HTMLInputElement).value })}
        />
      </label>
      <fieldset>
        <legend>Variants ({flag.type})</legend>
        {draft.variants.map((v, i) => {
          const problem = parsed[i]?.problem;
          const server = at(problems, `variants[${i}]`, true);
          return (
            <div class="variant-row" key={i}>
              <input
                aria-label={`Variant ${i + 1} key`}
                value={v.key}
                disabled={!props.writable}
                onInput={(e) => setVariant(i, { key: (e.target as HTMLInputElement).value })}
              />
              {flag.type === "boolean" ? (
                <select
                  aria-label={`Variant ${i + 1} value`}
                  value={v.text}
                  disabled={!props.writable}
                  onChange={(e) => setVariant(i, { text: (e.target as HTMLSelectElement).value })}
                >
                  <option value="true">true</option>
                  <option value="false">false</option>
                </select>
              ) : flag.type === "json" ? (
                <JsonField
                  label={`Variant ${i + 1} value (JSON)`}
                  invalid={problem !== undefined}
                  value={v.text}
                  disabled={!props.writable}
                  onInput={(text) => setVariant(i, { text })}
                />
              ) : (
                <input
                  aria-label={`Variant ${i + 1} value`}
                  aria-invalid={problem !== undefined}
                  {...typed(flag.type === "number")}
                  value={v.text}
                  disabled={!props.writable}
                  onInput={(e) => setVariant(i, { text: (e.target as HTMLInputElement).value })}
                />
              )}
              {props.writable && flag.type === "json" && problem === undefined && (
                <button
                  class="link"
                  onClick={() => setVariant(i, { text: JSON.stringify(parsed[i]?.value, null, 2) })}
                  type="button"
                >
                  Format
                </button>
              )}
              {props.writable && draft.variants.length > 1 && (
                <button
                  class="link danger"
                  type="button"
                  aria-label={`Remove variant ${v.key || i + 1}`}
                  onClick={() => setDraft({ ...draft, variants: draft.variants.filter((_, j) => j !== i) })}
                >
                  Remove
                </button>
              )}
              <FieldProblem messages={[...(problem ? [problem] : []), ...server]} />
            </div>
          );
        })}
        {props.writable && (
          <button
            type="button"
            class="link"
            onClick={() =>
              setDraft({
                ...draft,
                variants: [
                  ...draft.variants,
                  { key: "", text: flag.type === "boolean" ? "false" : flag.type === "json" ? "{}" : "" },
                ],
              })
            }
          >
            + Add a variant
          </button>
        )}
      </fieldset>
      {conflict && (
        <Conflict
          version={conflict.version}
          theirs={`variants ${conflict.variants.map((v) => v.key).join(", ")}`}
          busy={busy}
          mine={() => save(conflict.version)}
          take={() => {
            setConflict(null);
            setDraft(start(conflict));
            props.saved(conflict);
          }}
        />
      )}
      {props.writable && (
        <button onClick={() => save(flag.version)} disabled={!dirty || invalid || busy || conflict !== null}>
          {busy ? "Saving…" : "Save definition"}
        </button>
      )}
      <Problem error={error} />
    </section>
  );
}

// --- serving: one variant, or a split that always sums to 100 % -----------------------------

/** Even weights over `variants`, the remainder on the first, summing to 100 %. */
function evenly(variants: string[]): Record<string, number> {
  const share = Math.floor(SCALE / Math.max(1, variants.length));
  const weights: Record<string, number> = {};
  variants.forEach((v, i) => (weights[v] = share + (i === 0 ? SCALE - share * variants.length : 0)));
  return weights;
}

/**
 * Sets `variant`'s weight and keeps the total at 100 %: what it gains is taken from the variants
 * after it (in order, wrapping around), what it gives up goes to the next one.
 */
function rebalance(weights: Record<string, number>, order: string[], variant: string, weight: number) {
  const next: Record<string, number> = {};
  for (const v of order) next[v] = weights[v] ?? 0;
  const target = Math.max(0, Math.min(SCALE, Math.round(weight)));
  let delta = target - (next[variant] ?? 0);
  next[variant] = target;
  const start = order.indexOf(variant);
  for (let step = 1; step < order.length && delta !== 0; step++) {
    const other = order[(start + step) % order.length] ?? variant;
    const have = next[other] ?? 0;
    const moved = delta > 0 ? Math.min(have, delta) : delta;
    next[other] = have - moved;
    delta -= moved;
  }
  return next;
}

function SplitBar(props: {
  weights: Record<string, number>;
  variants: string[];
  disabled: boolean;
  label: string;
  onChange: (weights: Record<string, number>) => void;
}) {
  const { weights, variants } = props;
  const total = variants.reduce((sum, v) => sum + (weights[v] ?? 0), 0);
  return (
    <div class="split">
      <div class="split-bar" role="img" aria-label={variants.map((v) => `${v} ${percent(weights[v] ?? 0)}`).join(", ")}>
        {variants.map((v, i) =>
          (weights[v] ?? 0) > 0 ? (
            <span key={v} class={`hue${i % 6}`} style={{ flexGrow: weights[v] ?? 0 }}>
              {v} {percent(weights[v] ?? 0)}
            </span>
          ) : null,
        )}
      </div>
      <div class="split-inputs">
        {variants.map((v) => (
          <label key={v} class="inline-label">
            {v}
            <input
              type="number"
              min={0}
              max={100}
              step={0.1}
              aria-label={`${props.label}: ${v} (percent)`}
              value={((weights[v] ?? 0) / (SCALE / 100)).toFixed(1)}
              disabled={props.disabled}
              onChange={(e) => {
                const n = Number((e.target as HTMLInputElement).value);
                if (Number.isFinite(n)) props.onChange(rebalance(weights, variants, v, n * (SCALE / 100)));
              }}
            />
            %
          </label>
        ))}
      </div>
      {total !== SCALE && <span class="field-problem">The split adds up to {percent(total)}, not 100 %.</span>}
    </div>
  );
}

function ServeEditor(props: {
  serve: Serve;
  variants: string[];
  disabled: boolean;
  label: string;
  problems: string[];
  onChange: (serve: Serve) => void;
}) {
  const { serve } = props;
  const name = useMemo(() => `serve-${Math.random().toString(36).slice(2)}`, []);
  const rollout = "rollout" in serve;
  return (
    <fieldset class="serve">
      <legend>{props.label}</legend>
      <label class="check">
        <input
          type="radio"
          name={name}
          checked={!rollout}
          disabled={props.disabled}
          onChange={() => props.onChange({ variant: props.variants[0] ?? "" })}
        />{" "}
        one variant
      </label>
      <label class="check">
        <input
          type="radio"
          name={name}
          checked={rollout}
          disabled={props.disabled}
          onChange={() => props.onChange({ rollout: { weights: evenly(props.variants) } })}
        />{" "}
        a percentage rollout
      </label>
      {"variant" in serve ? (
        <select
          aria-label={`${props.label}: variant`}
          value={serve.variant}
          disabled={props.disabled}
          onChange={(e) => props.onChange({ variant: (e.target as HTMLSelectElement).value })}
        >
          {props.variants.map((v) => (
            <option key={v}>{v}</option>
          ))}
        </select>
      ) : (
        <SplitBar
          weights={serve.rollout.weights}
          variants={props.variants}
          disabled={props.disabled}
          label={props.label}
          onChange={(weights) => props.onChange({ rollout: { ...serve.rollout, weights } })}
        />
      )}
      <FieldProblem messages={props.problems} />
    </fieldset>
  );
}

// --- conditions -----------------------------------------------------------------------------

/** How an operator's values are entered and checked. */
type Kind = "one" | "many" | "number" | "date" | "semver" | "cidr" | "regex" | "none" | "segment";

const OPERATORS: [Operator, string, Kind][] = [
  ["eq", "equals", "one"],
  ["neq", "does not equal", "one"],
  ["in", "is one of", "many"],
  ["not_in", "is not one of", "many"],
  ["contains", "contains", "many"],
  ["not_contains", "does not contain", "many"],
  ["starts_with", "starts with", "many"],
  ["ends_with", "ends with", "many"],
  ["matches", "matches regex", "regex"],
  ["lt", "<", "number"],
  ["lte", "≤", "number"],
  ["gt", ">", "number"],
  ["gte", "≥", "number"],
  ["before", "is before", "date"],
  ["after", "is after", "date"],
  ["semver_eq", "version =", "semver"],
  ["semver_lt", "version <", "semver"],
  ["semver_lte", "version ≤", "semver"],
  ["semver_gt", "version >", "semver"],
  ["semver_gte", "version ≥", "semver"],
  ["in_cidr", "is in network", "cidr"],
  ["exists", "is present", "none"],
  ["not_exists", "is absent", "none"],
  ["in_segment", "is in segment", "segment"],
  ["not_in_segment", "is not in segment", "segment"],
];

const kindOf = (op: Operator): Kind => OPERATORS.find(([o]) => o === op)?.[2] ?? "one";

const SEMVER =
  /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;

function ipv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function cidr(text: string): boolean {
  const [address = "", prefix, ...rest] = text.split("/");
  if (rest.length > 0) return false;
  const v6 = address.includes(":");
  if (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= (v6 ? 128 : 32))) return false;
  return v6 ? /^[0-9a-fA-F:.]+$/.test(address) && address.split("::").length <= 2 : ipv4(address);
}

/** What is wrong with one value of an operator of this kind, checked as it is typed. */
function checkValue(kind: Kind, text: string, strictSemver = false): string | null {
  switch (kind) {
    case "number":
      return text.trim() !== "" && Number.isFinite(Number(text)) ? null : "a number";
    case "date":
      return Number.isNaN(Date.parse(text)) ? "a date and time" : null;
    case "semver":
      if (strictSemver && text.startsWith("v")) return "a version without a leading v (strict)";
      return SEMVER.test(text) ? null : "a version like 1.4.0 or 2.0.0-beta.1";
    case "cidr":
      return cidr(text) ? null : "an IP address or network like 10.0.0.0/8";
    case "regex":
      try {
        new RegExp(text);
        return null;
      } catch (e) {
        return `not a regular expression: ${e instanceof Error ? e.message : String(e)}`;
      }
    case "none":
    case "segment":
      return null;
    default:
      return text === "" ? "a value" : null;
  }
}

/** `<input type=datetime-local>` text (the user's time zone) for an RFC 3339 instant, and back. */
const toLocal = (iso: string) => {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const local = new Date(d.getTime() - d.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
};
const fromLocal = (local: string) => (local === "" ? "" : new Date(local).toISOString());
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

const nonBlank = (text: string) => text.split("\n").filter((l) => l.trim() !== "");

export function ConditionEditor(props: {
  condition: Condition;
  path: string;
  label: string;
  problems: Problems;
  segments: SegmentRow[];
  disabled: boolean;
  onChange: (c: Condition) => void;
  onRemove: () => void;
}) {
  const { condition: c } = props;
  const kind = kindOf(c.operator);
  const values = (c.values ?? []).map((v) => (typeof v === "string" ? v : JSON.stringify(v)));
  // Lists are edited as text, one value per line; the text is kept while it is typed (blank
  // lines and all) and follows the values when they change otherwise (another operator, a
  // condition above removed).
  const joined = values.join("\n");
  const [text, setText] = useState(joined);
  useEffect(() => {
    if (nonBlank(text).join("\n") !== joined) setText(joined);
  }, [joined]);
  const set = (change: Partial<Condition>) => props.onChange({ ...c, ...change });
  const setValues = (list: string[]) =>
    set({
      values: kind === "number" ? list.map((v) => (Number.isFinite(Number(v)) && v !== "" ? Number(v) : v)) : list,
    });
  const lines = nonBlank(text);
  const entered = kind === "many" || kind === "regex" || kind === "cidr" ? lines : values.slice(0, 1);
  const checks = entered
    .map((v) => checkValue(kind, v, c.strict_semver ?? false))
    .filter((m): m is string => m !== null);
  // What the engine (or the server) says is exact; the quick check as typed stands in until then.
  const reported = at(props.problems, props.path, true);
  const messages = reported.length > 0 ? reported : checks;
  const input = (() => {
    switch (kind) {
      case "none":
        return null;
      case "segment":
        return (
          <span class="segment-pick" role="group" aria-label={`${props.label}: segments`}>
            {props.segments.length === 0 && <span class="muted small">This application has no segments.</span>}
            {props.segments.map((s) => (
              <label class="check" key={s.key}>
                <input
                  type="checkbox"
                  checked={values.includes(s.key)}
                  disabled={props.disabled}
                  onChange={(e) =>
                    setValues(
                      (e.target as HTMLInputElement).checked ? [...values, s.key] : values.filter((v) => v !== s.key),
                    )
                  }
                />{" "}
                {s.key}
              </label>
            ))}
          </span>
        );
      case "date":
        return (
          <input
            type="datetime-local"
            aria-label={`${props.label}: date and time (${ZONE})`}
            title={`Your time zone, ${ZONE}; stored in UTC`}
            value={toLocal(values[0] ?? "")}
            disabled={props.disabled}
            onInput={(e) => setValues([fromLocal((e.target as HTMLInputElement).value)])}
          />
        );
      case "many":
      case "regex":
      case "cidr":
        return (
          <textarea
            rows={Math.min(6, Math.max(1, lines.length))}
            aria-label={`${props.label}: values, one per line`}
            placeholder="one per line"
            aria-invalid={checks.length > 0}
            spellcheck={false}
            value={text}
            disabled={props.disabled}
            onInput={(e) => {
              const t = (e.target as HTMLTextAreaElement).value;
              setText(t);
              setValues(nonBlank(t));
            }}
          />
        );
      default:
        return (
          <input
            {...typed(kind === "number")}
            aria-label={`${props.label}: value`}
            aria-invalid={checks.length > 0}
            placeholder={kind === "semver" ? "1.4.0" : ""}
            value={values[0] ?? ""}
            disabled={props.disabled}
            onInput={(e) => setValues([(e.target as HTMLInputElement).value])}
          />
        );
    }
  })();
  return (
    <div class="condition">
      <input
        class="attribute"
        aria-label={`${props.label}: attribute`}
        placeholder="attribute"
        value={c.attribute}
        disabled={props.disabled}
        onInput={(e) => set({ attribute: (e.target as HTMLInputElement).value })}
      />
      <select
        aria-label={`${props.label}: operator`}
        value={c.operator}
        disabled={props.disabled}
        onChange={(e) => {
          const operator = (e.target as HTMLSelectElement).value as Operator;
          const same = kindOf(operator) === kind;
          props.onChange({ ...c, operator, values: same ? (c.values ?? []) : [] });
        }}
      >
        {OPERATORS.map(([op, label]) => (
          <option key={op} value={op}>
            {label}
          </option>
        ))}
      </select>
      {input}
      {!props.disabled && (
        <button type="button" class="link danger" aria-label={`Remove ${props.label}`} onClick={props.onRemove}>
          ✕
        </button>
      )}
      <FieldProblem messages={messages} />
    </div>
  );
}

// --- rules ----------------------------------------------------------------------------------

/**
 * An id for a new rule, unused by the others: a rule keeps it through edits and moves (the
 * editor's list identity), and answers name it (`metadata.ruleId`).
 */
function newRuleId(rules: Rule[]): string {
  const taken = new Set(rules.map((r) => r.id));
  for (let n = rules.length + 1; ; n++) if (!taken.has(`rule-${n}`)) return `rule-${n}`;
}

function move<T>(list: T[], from: number, to: number): T[] {
  if (to < 0 || to >= list.length || from === to) return list;
  const out = [...list];
  const [item] = out.splice(from, 1);
  if (item !== undefined) out.splice(to, 0, item);
  return out;
}

function RuleEditor(props: {
  rule: Rule;
  index: number;
  count: number;
  variants: string[];
  segments: SegmentRow[];
  problems: Problems;
  disabled: boolean;
  /** Whether the draft's answer for the preview context comes from this rule. */
  matched: boolean;
  onChange: (r: Rule) => void;
  onMove: (to: number) => void;
  onRemove: () => void;
}) {
  const { rule, index } = props;
  const path = `rules[${index}]`;
  const label = `Rule ${index + 1}`;
  const conditions = rule.conditions ?? [];
  const set = (change: Partial<Rule>) => props.onChange({ ...rule, ...change });
  const [dragOver, setDragOver] = useState(false);
  return (
    <li
      class={`rule${dragOver ? " drag-over" : ""}`}
      onDragOver={(e) => {
        if (props.disabled) return;
        e.preventDefault();
        setDragOver(true);
      }}
      onDragLeave={() => setDragOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragOver(false);
        const from = Number(e.dataTransfer?.getData("text/x-vane-rule"));
        if (Number.isInteger(from)) props.onMove(from);
      }}
    >
      <div class="rule-head">
        {!props.disabled && (
          <span
            class="handle"
            draggable
            title="Drag to reorder"
            aria-hidden="true"
            onDragStart={(e) => e.dataTransfer?.setData("text/x-vane-rule", String(index))}
          >
            ⠿
          </span>
        )}
        <strong>{label}</strong>
        {rule.id && <code class="muted small">{rule.id}</code>}
        {props.matched && <span class="tag on">matches the preview context</span>}
        <input
          class="grow"
          aria-label={`${label}: description`}
          placeholder="what this rule is for"
          value={rule.description ?? ""}
          disabled={props.disabled}
          onInput={(e) => set({ description: (e.target as HTMLInputElement).value })}
        />
        {!props.disabled && (
          <span class="rule-actions">
            <button
              type="button"
              class="link"
              aria-label={`Move ${label} up`}
              disabled={index === 0}
              onClick={() => props.onMove(index - 1)}
            >
              ↑
            </button>
            <button
              type="button"
              class="link"
              aria-label={`Move ${label} down`}
              disabled={index === props.count - 1}
              onClick={() => props.onMove(index + 1)}
            >
              ↓
            </button>
            <button type="button" class="link danger" aria-label={`Remove ${label}`} onClick={props.onRemove}>
              Remove
            </button>
          </span>
        )}
      </div>
      <p class="muted small">{conditions.length === 0 ? "Always matches." : "When all of these hold:"}</p>
      {conditions.map((c, i) => (
        <ConditionEditor
          key={i}
          condition={c}
          path={`${path}.conditions[${i}]`}
          label={`${label}, condition ${i + 1}`}
          problems={props.problems}
          segments={props.segments}
          disabled={props.disabled}
          onChange={(next) => set({ conditions: conditions.map((old, j) => (j === i ? next : old)) })}
          onRemove={() => set({ conditions: conditions.filter((_, j) => j !== i) })}
        />
      ))}
      {!props.disabled && (
        <button
          type="button"
          class="link"
          onClick={() => set({ conditions: [...conditions, { attribute: "", operator: "eq", values: [] }] })}
        >
          + Add a condition
        </button>
      )}
      {rule.gate && (
        <p class="small">
          Only for {rule.gate.percentage} % of <code>{rule.gate.group_id}</code> (an imported Unleash rollout).
        </p>
      )}
      <div class="schedule">
        <label>
          Active from <span class="muted small">({ZONE})</span>
          <input
            type="datetime-local"
            aria-label={`${label}: active from`}
            value={toLocal(rule.active_from ?? "")}
            disabled={props.disabled}
            onInput={(e) => set({ active_from: fromLocal((e.target as HTMLInputElement).value) || null })}
          />
        </label>
        <label>
          until
          <input
            type="datetime-local"
            aria-label={`${label}: active until`}
            value={toLocal(rule.active_until ?? "")}
            disabled={props.disabled}
            onInput={(e) => set({ active_until: fromLocal((e.target as HTMLInputElement).value) || null })}
          />
        </label>
        <FieldProblem
          messages={[...at(props.problems, `${path}.active_from`), ...at(props.problems, `${path}.active_until`)]}
        />
      </div>
      <ServeEditor
        serve={rule.serve}
        variants={props.variants}
        disabled={props.disabled}
        label={`${label} serves`}
        problems={at(props.problems, `${path}.serve`, true)}
        onChange={(serve) => set({ serve })}
      />
      <FieldProblem messages={[...at(props.problems, path), ...at(props.problems, `${path}.id`)]} />
    </li>
  );
}

// --- prerequisites --------------------------------------------------------------------------

function Prerequisites(props: {
  list: Prerequisite[];
  flags: FlagView[];
  self: string;
  problems: Problems;
  disabled: boolean;
  onChange: (list: Prerequisite[]) => void;
}) {
  const others = props.flags.filter((f) => f.key !== props.self);
  const set = (i: number, p: Prerequisite) => props.onChange(props.list.map((old, j) => (j === i ? p : old)));
  return (
    <fieldset>
      <legend>Prerequisites</legend>
      {props.list.length === 0 && <p class="muted small">None: the flag does not depend on another.</p>}
      {props.list.map((p, i) => {
        const flag = props.flags.find((f) => f.key === p.flag);
        return (
          <div class="condition" key={i}>
            <select
              aria-label={`Prerequisite ${i + 1}: flag`}
              value={p.flag}
              disabled={props.disabled}
              onChange={(e) => set(i, { flag: (e.target as HTMLSelectElement).value, variants: [] })}
            >
              {!flag && <option value={p.flag}>{p.flag || "choose a flag"}</option>}
              {others.map((f) => (
                <option key={f.key} value={f.key}>
                  {f.key}
                </option>
              ))}
            </select>
            <span class="muted">serves one of</span>
            <span class="segment-pick" role="group" aria-label={`Prerequisite ${i + 1}: variants`}>
              {(flag?.variants ?? []).map((v) => (
                <label class="check" key={v.key}>
                  <input
                    type="checkbox"
                    checked={p.variants.includes(v.key)}
                    disabled={props.disabled}
                    onChange={(e) =>
                      set(i, {
                        ...p,
                        variants: (e.target as HTMLInputElement).checked
                          ? [...p.variants, v.key]
                          : p.variants.filter((x) => x !== v.key),
                      })
                    }
                  />{" "}
                  {v.key}
                </label>
              ))}
            </span>
            {!props.disabled && (
              <button
                type="button"
                class="link danger"
                aria-label={`Remove prerequisite ${i + 1}`}
                onClick={() => props.onChange(props.list.filter((_, j) => j !== i))}
              >
                ✕
              </button>
            )}
            <FieldProblem messages={at(props.problems, `prerequisites[${i}]`, true)} />
          </div>
        );
      })}
      {!props.disabled && others.length > 0 && (
        <button
          type="button"
          class="link"
          onClick={() => props.onChange([...props.list, { flag: others[0]?.key ?? "", variants: [] }])}
        >
          + Add a prerequisite
        </button>
      )}
    </fieldset>
  );
}

// --- an environment's targeting -------------------------------------------------------------

/** The part of an environment's state this screen edits. */
interface Draft {
  enabled: boolean;
  off_variant: string;
  default: Serve;
  rules: Rule[];
  prerequisites: Prerequisite[];
  salt: string;
}

const draftOf = (s: StateRow): Draft => ({
  enabled: s.enabled,
  off_variant: s.off_variant ?? "",
  default: s.default,
  rules: s.rules,
  prerequisites: s.prerequisites,
  salt: s.salt,
});

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The change a draft makes to the state it was started from, `base` (only what the user changed),
 * expecting `on`'s version: `base` itself, or — to reapply the user's change on top of someone
 * else's — the state that is current now, whose other fields are kept.
 */
function changeOf(draft: Draft, base: StateRow, on: StateRow): StateChange {
  const was = draftOf(base);
  const change: StateChange = { version: on.version };
  if (draft.enabled !== was.enabled) change.enabled = draft.enabled;
  if (draft.off_variant !== was.off_variant) change.off_variant = draft.off_variant === "" ? null : draft.off_variant;
  if (!same(draft.default, was.default)) change.default = draft.default;
  if (!same(draft.rules, was.rules)) change.rules = draft.rules;
  if (!same(draft.prerequisites, was.prerequisites)) change.prerequisites = draft.prerequisites;
  if (draft.salt !== was.salt) change.salt = draft.salt;
  return change;
}

/** A state as the engine's snapshot has it, for the preview. */
const asFlagDraft = (d: Draft, variants: Variant[]): FlagDraft => ({
  enabled: d.enabled,
  off_variant: d.off_variant === "" ? null : d.off_variant,
  default: d.default,
  rules: d.rules,
  prerequisites: d.prerequisites,
  salt: d.salt,
  variants,
});

/** The targeting as compared for a copy or a save: pretty JSON of what a change sets. */
const shown = (d: Draft) => JSON.stringify(d, null, 2);

const SAMPLE = 100_000;

/** The draft against the live definition, for one context, and its impact on many keys. */
function PreviewPanel(props: {
  preview: Preview | null;
  unavailable: string | null;
  context: string;
  setContext: (c: string) => void;
  answers: { live: Answer; draft: Answer } | null;
  contextProblem: string | null;
  impact: Impact | null;
  estimating: boolean;
  estimate: () => void;
}) {
  const a = props.answers;
  const differs = a && (a.live.variant !== a.draft.variant || a.live.reason !== a.draft.reason);
  return (
    <aside class="card preview" aria-labelledby="preview-title">
      <h2 id="preview-title">Preview</h2>
      <p class="muted small">The draft and the live definition, evaluated here by the engine the edge runs.</p>
      <label>
        Context <span class="muted small">(JSON)</span>
        <textarea
          class="code"
          rows={4}
          spellcheck={false}
          aria-invalid={props.contextProblem !== null}
          value={props.context}
          onInput={(e) => props.setContext((e.target as HTMLTextAreaElement).value)}
        />
      </label>
      <FieldProblem messages={props.contextProblem ? [props.contextProblem] : []} />
      {props.unavailable && <p class="problem">{props.unavailable}</p>}
      {!props.preview && !props.unavailable && <p class="muted">Loading the engine…</p>}
      {a && (
        <table class="answers" data-testid="preview-answers" data-for={props.context}>
          <thead>
            <tr>
              <th scope="col" />
              <th scope="col">Live</th>
              <th scope="col">Draft</th>
            </tr>
          </thead>
          <tbody>
            {(["variant", "value", "reason", "rule"] as const).map((row) => {
              const cell = (x: Answer) =>
                row === "value"
                  ? JSON.stringify(x.value)
                  : row === "rule"
                    ? (x.metadata.ruleId ?? "—")
                    : row === "reason"
                      ? `${x.reason}${x.errorCode ? ` (${x.errorCode})` : ""}`
                      : (x.variant ?? "—");
              return (
                <tr key={row}>
                  <th scope="row">{row}</th>
                  <td data-testid={`live-${row}`}>{cell(a.live)}</td>
                  <td data-testid={`draft-${row}`} class={differs && cell(a.live) !== cell(a.draft) ? "changed" : ""}>
                    {cell(a.draft)}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {props.preview && (
        <div class="impact">
          <button type="button" onClick={props.estimate} disabled={props.estimating}>
            {props.estimating ? "Estimating…" : `Impact on ${SAMPLE.toLocaleString()} keys`}
          </button>
          {props.impact && <ImpactSummary impact={props.impact} />}
        </div>
      )}
    </aside>
  );
}

function ImpactSummary(props: { impact: Impact }) {
  const { impact } = props;
  return (
    <div data-testid="impact">
      <p>
        <strong>{impact.changed.toLocaleString()}</strong> of {impact.total.toLocaleString()} sample keys (
        {((impact.changed / Math.max(1, impact.total)) * 100).toFixed(1)} %) would change variant.
      </p>
      {impact.moves.length > 0 && (
        <ul class="small">
          {impact.moves.slice(0, 6).map(([m, n]) => (
            <li key={m}>
              {m}: {n.toLocaleString()}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function EnvironmentTargeting(props: {
  app: string;
  flag: FlagView;
  env: Environment;
  envs: Environment[];
  state: StateRow;
  flags: FlagView[];
  segments: SegmentRow[];
  snapshot: SnapshotDocument | null;
  writable: boolean;
  saved: (env: string, state: StateRow) => void;
}) {
  const { flag } = props;
  const [base, setBase] = useState(props.state);
  const [draft, setDraft] = useState<Draft>(() => draftOf(props.state));
  const { busy, error, setError, conflict, setConflict, save: versioned } = useVersionedSave<StateRow>();
  const [copying, setCopying] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [copyTo, setCopyTo] = useState("");
  const variants = flag.variants.map((v) => v.key);
  const dirty = !same(draft, draftOf(base));

  // A change saved elsewhere (the list, the API, another console) arrives as a newer state: an
  // untouched draft follows it; an edited one says so and keeps the user's work.
  const [underneath, setUnderneath] = useState<StateRow | null>(null);
  useEffect(() => {
    if (props.state.version === base.version) return;
    if (!dirty) {
      setBase(props.state);
      setDraft(draftOf(props.state));
    } else {
      setUnderneath(props.state);
    }
  }, [props.state.version]);

  // The preview: the live flag from the published snapshot, the draft compiled beside it.
  const [preview, setPreview] = useState<Preview | null>(null);
  const [unavailable, setUnavailable] = useState<string | null>(null);
  const [context, setContext] = usePreviewContext();
  const [impact, setImpact] = useState<Impact | null>(null);
  const [estimating, setEstimating] = useState(false);
  useEffect(() => {
    const live = props.snapshot?.flags.find((f) => f.key === flag.key) as SnapshotFlag | undefined;
    if (!props.snapshot || !live) return;
    let current: Preview | null = null;
    let dropped = false;
    Preview.of(props.snapshot, live).then(
      (p) => {
        if (dropped) return p.free();
        current = p;
        setPreview(p);
      },
      (e: unknown) => setUnavailable(`The preview is unavailable: ${e instanceof Error ? e.message : String(e)}`),
    );
    return () => {
      dropped = true;
      current?.free();
      setPreview(null);
    };
  }, [props.snapshot, flag.key]);
  // Each edit compiles the draft again (a few flags, not the environment: see `engine.ts`).
  const problemsFromEngine = useMemo<DraftProblem[]>(() => {
    if (!preview) return [];
    preview.setDraft(asFlagDraft(draft, flag.variants));
    return preview.problems;
  }, [preview, draft, flag.variants]);
  // An edit makes the last estimate and the last refusal's paths stale (a removed rule shifts
  // the others); the engine goes on checking the draft as it changes.
  useEffect(() => {
    setImpact(null);
    setError(null);
  }, [draft]);
  let contextProblem: string | null = null;
  try {
    const parsed = JSON.parse(context) as unknown;
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) contextProblem = "an object";
  } catch (e) {
    contextProblem = `not JSON: ${e instanceof Error ? e.message : String(e)}`;
  }
  const answers = preview && contextProblem === null ? preview.answers(context) : null;
  const estimate = () => {
    if (!preview || contextProblem !== null) return;
    setEstimating(true);
    // Let the button say "Estimating…" before the sweep takes the thread.
    setTimeout(() => {
      setImpact(preview.impact(sampleKeys(SAMPLE), context));
      setEstimating(false);
    }, 0);
  };

  const serverProblems = error instanceof ApiError ? error.details : [];
  const problems = problemsOf([...serverProblems, ...problemsFromEngine]);

  const save = async (on: StateRow) => {
    setConfirming(false);
    await versioned(
      () => api.changeState(props.app, flag.key, props.env.key, changeOf(draft, base, on)),
      async () => (await api.flag(props.app, flag.key)).environments[props.env.key],
      (after) => {
        setBase(after);
        setDraft(draftOf(after));
        setUnderneath(null);
        props.saved(props.env.key, after);
      },
    );
  };

  const copy = async () => {
    const target = flag.environments[copyTo];
    if (!target) return;
    setCopying(true);
    setError(null);
    try {
      const after = await api.changeState(props.app, flag.key, copyTo, {
        version: target.version,
        default: draft.default,
        off_variant: draft.off_variant === "" ? null : draft.off_variant,
        rules: draft.rules,
        prerequisites: draft.prerequisites,
      });
      props.saved(copyTo, after);
      setCopyTo("");
    } catch (err) {
      setError(err);
    } finally {
      setCopying(false);
    }
  };
  const targeting = (d: Draft) =>
    shown({ ...d, enabled: false, salt: "", rules: d.rules.map(({ id: _id, ...rest }) => rest) as Rule[] });

  const disabled = !props.writable;
  const setRules = (rules: Rule[]) => setDraft({ ...draft, rules });
  const ruleMatched = answers?.draft.metadata.ruleId;
  return (
    <div class="targeting">
      <section class="card grow" aria-labelledby="targeting-title">
        <h2 id="targeting-title">
          Targeting in {props.env.name} <span class="muted small">version {base.version}</span>
        </h2>
        {underneath && (
          <div class="conflict" role="status">
            <p>
              <strong>This flag changed in {props.env.name}</strong> while you were editing (now version{" "}
              {underneath.version}). Your draft is kept; saving will ask before overwriting anything.
            </p>
            <button
              class="link"
              onClick={() => {
                setBase(underneath);
                setDraft(draftOf(underneath));
                setUnderneath(null);
              }}
            >
              Discard my draft and show theirs
            </button>
          </div>
        )}
        <label class="check">
          <input
            type="checkbox"
            checked={draft.enabled}
            disabled={disabled}
            onChange={(e) => setDraft({ ...draft, enabled: (e.target as HTMLInputElement).checked })}
          />{" "}
          Enabled
        </label>
        <label>
          Serves while disabled
          <select
            value={draft.off_variant}
            disabled={disabled}
            onChange={(e) => setDraft({ ...draft, off_variant: (e.target as HTMLSelectElement).value })}
          >
            <option value="">the caller's default</option>
            {variants.map((v) => (
              <option key={v}>{v}</option>
            ))}
          </select>
        </label>
        <h3>Rules</h3>
        <p class="muted small">
          {draft.rules.length === 0
            ? "No rules: the default below decides."
            : "In order: the first rule that matches decides."}
        </p>
        <ol class="rules">
          {draft.rules.map((r, i) => (
            <RuleEditor
              key={r.id || `at-${i}`}
              rule={r}
              index={i}
              count={draft.rules.length}
              variants={variants}
              segments={props.segments}
              problems={problems}
              disabled={disabled}
              matched={ruleMatched !== undefined && ruleMatched === r.id}
              onChange={(next) => setRules(draft.rules.map((old, j) => (j === i ? next : old)))}
              onMove={(to) => setRules(move(draft.rules, i, to))}
              onRemove={() => setRules(draft.rules.filter((_, j) => j !== i))}
            />
          ))}
        </ol>
        {!disabled && (
          <button
            type="button"
            class="link"
            onClick={() =>
              setRules([
                ...draft.rules,
                { id: newRuleId(draft.rules), conditions: [], serve: { variant: variants[0] ?? "" }, description: "" },
              ])
            }
          >
            + Add a rule
          </button>
        )}
        <ServeEditor
          serve={draft.default}
          variants={variants}
          disabled={disabled}
          label="When no rule matches, serve"
          problems={at(problems, "default", true)}
          onChange={(serve) => setDraft({ ...draft, default: serve })}
        />
        <Prerequisites
          list={draft.prerequisites}
          flags={props.flags}
          self={flag.key}
          problems={problems}
          disabled={disabled}
          onChange={(prerequisites) => setDraft({ ...draft, prerequisites })}
        />
        <label>
          Salt <span class="muted small">(changing it reshuffles who gets which side of every rollout)</span>
          <input
            value={draft.salt}
            disabled={disabled}
            onInput={(e) => setDraft({ ...draft, salt: (e.target as HTMLInputElement).value })}
          />
        </label>
        <FieldProblem messages={at(problems, "salt")} />
        {conflict && (
          <Conflict
            version={conflict.version}
            theirs={`${conflict.enabled ? "enabled" : "disabled"}, ${conflict.rules.length} rule(s), serving ${served(conflict.default)} by default`}
            busy={busy}
            mine={() => save(conflict)}
            take={() => {
              setBase(conflict);
              setDraft(draftOf(conflict));
              setConflict(null);
            }}
          />
        )}
        {confirming && (
          <div class="confirm" role="dialog" aria-label="Review the change">
            <h3>Review before saving</h3>
            <LineDiff before={shown(draftOf(base))} after={shown(draft)} />
            {impact ? (
              <ImpactSummary impact={impact} />
            ) : (
              preview && (
                <button type="button" class="link" onClick={estimate}>
                  Estimate the impact first
                </button>
              )
            )}
            <button onClick={() => save(base)} disabled={busy}>
              {busy ? "Saving…" : "Save to " + props.env.name}
            </button>
            <button class="link" onClick={() => setConfirming(false)}>
              Back to editing
            </button>
          </div>
        )}
        {props.writable && !confirming && (
          <div class="actions-row">
            <button onClick={() => setConfirming(true)} disabled={!dirty || busy || conflict !== null}>
              Review and save…
            </button>
            {dirty && (
              <button class="link" onClick={() => setDraft(draftOf(base))}>
                Discard changes
              </button>
            )}
          </div>
        )}
        <Problem error={error} />
        {props.writable && (
          <details class="copy">
            <summary>Copy this targeting to another environment</summary>
            <select
              aria-label="Copy to environment"
              value={copyTo}
              onChange={(e) => setCopyTo((e.target as HTMLSelectElement).value)}
            >
              <option value="">choose an environment</option>
              {props.envs
                .filter((e) => e.key !== props.env.key && flag.environments[e.key])
                .map((e) => (
                  <option key={e.key} value={e.key}>
                    {e.name}
                  </option>
                ))}
            </select>
            {copyTo && flag.environments[copyTo] && (
              <>
                <p class="small">
                  What {copyTo} would get (rules, default, prerequisites, off variant; its on/off switch and salt stay):
                </p>
                <LineDiff before={targeting(draftOf(flag.environments[copyTo] as StateRow))} after={targeting(draft)} />
                <button onClick={copy} disabled={copying}>
                  Copy to {copyTo}
                </button>
              </>
            )}
          </details>
        )}
      </section>
      {props.writable && (
        <PreviewPanel
          preview={preview}
          unavailable={unavailable}
          context={context}
          setContext={setContext}
          answers={answers}
          contextProblem={contextProblem}
          impact={impact}
          estimating={estimating}
          estimate={estimate}
        />
      )}
    </div>
  );
}

// --- the screen -----------------------------------------------------------------------------

export function FlagDetail(props: { session: Session; app: string; env: string; flag: string; envs: Environment[] }) {
  const [flag, setFlag] = useState<FlagView | null>(null);
  const [flags, setFlags] = useState<FlagView[]>([]);
  const [segments, setSegments] = useState<SegmentRow[]>([]);
  const [snapshot, setSnapshot] = useState<SnapshotDocument | null>(null);
  const [error, setError] = useState<unknown>(null);
  const writable = props.session.scope === "admin";
  const load = () => api.flag(props.app, props.flag).then(setFlag, setError);
  useEffect(() => {
    void load();
    api.flags(props.app, { limit: 1000 }).then((p) => setFlags(p.items), setError);
    api.segments(props.app).then((p) => setSegments(p.items), setError);
  }, [props.app, props.flag]);
  useEffect(() => {
    if (!writable) return;
    liveSnapshot(props.app, props.env).then(setSnapshot, setError);
  }, [props.app, props.env, writable]);
  // Live: a change made elsewhere republishes the snapshot; the flag (and, for the preview of
  // an admin session, the live side) is read again.
  useSnapshotEvents(props.app, props.env, true, () => {
    void load();
    if (writable) liveSnapshot(props.app, props.env).then(setSnapshot, setError);
  });
  if (!flag) return <Problem error={error} />;
  const env = props.envs.find((e) => e.key === props.env);
  const state = flag.environments[props.env];
  return (
    <section aria-labelledby="flag-title">
      <p class="small">
        <Link href={flagsPath(props.app, props.env)}>← Flags in {props.app}</Link>
      </p>
      <h1 id="flag-title">
        <code>{flag.key}</code> <span class="muted small">{flag.type}</span>
        {flag.archived && <span class="tag">archived</span>}
      </h1>
      <nav class="tabs" aria-label="Environments">
        {props.envs.map((e) => {
          const s = flag.environments[e.key];
          return (
            <Link key={e.key} href={flagPath(props.app, e.key, flag.key)} class={e.key === props.env ? "current" : ""}>
              {e.name} <span class={`dot ${s?.enabled ? "on" : ""}`} aria-label={s?.enabled ? "on" : "off"} />
            </Link>
          );
        })}
      </nav>
      {env && state ? (
        <EnvironmentTargeting
          key={`${props.app}/${flag.key}/${env.key}`}
          app={props.app}
          flag={flag}
          env={env}
          envs={props.envs}
          state={state}
          flags={flags}
          segments={segments}
          snapshot={snapshot}
          writable={writable}
          saved={(key, after) => setFlag({ ...flag, environments: { ...flag.environments, [key]: after } })}
        />
      ) : (
        <p class="muted">This flag has no state in {props.env}.</p>
      )}
      {env && state && (
        <History
          title={`History in ${env.name}`}
          current={state.version}
          load={async () =>
            (await api.stateHistory(props.app, flag.key, env.key)).items.map((h) => ({
              version: h.version,
              at: h.at,
              actor: h.actor ?? null,
              content: h.definition,
            }))
          }
          rollback={
            writable
              ? async (version) => {
                  const after = await api.rollbackState(props.app, flag.key, env.key, version);
                  setFlag({ ...flag, environments: { ...flag.environments, [env.key]: after } });
                }
              : undefined
          }
        />
      )}
      <Definition key={flag.version} app={props.app} flag={flag} writable={writable} saved={setFlag} />
      <Problem error={error} />
    </section>
  );
}
