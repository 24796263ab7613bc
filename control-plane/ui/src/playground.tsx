// The playground: a context (typed, or saved under a name) → every flag's answer in the chosen
// environment, evaluated in the page by the engine the edge runs, and why, rule by rule.

import { useEffect, useState } from "preact/hooks";

import type { Session } from "./client";
import { Playground as Engine, liveSnapshot } from "./engine";
import type { Answer, Explanation } from "./engine";
import { Link, Problem, flagPath, usePreviewContext } from "./ui";

export const playgroundPath = (app: string, env: string) =>
  `/ui/a/${encodeURIComponent(app)}/${encodeURIComponent(env)}/playground`;

const SAVED = "vane.playground.contexts";

/** Contexts saved by name in this browser. */
function savedContexts(): Record<string, string> {
  try {
    return JSON.parse(localStorage.getItem(SAVED) ?? "{}") as Record<string, string>;
  } catch {
    return {};
  }
}

function describe(c: { attribute: string; operator: string; values?: unknown[] }): string {
  const values = (c.values ?? []).map((v) => (typeof v === "string" ? v : JSON.stringify(v)));
  return `${c.attribute} ${c.operator.replace(/_/g, " ")}${values.length > 0 ? ` ${values.join(", ")}` : ""}`;
}

function Why(props: { explanation: Explanation; answer: Answer; context: Record<string, unknown> }) {
  const { explanation: x, answer } = props;
  const mark = (holds: boolean) => (
    <span class={holds ? "holds" : "fails"} aria-label={holds ? "holds" : "does not hold"}>
      {holds ? "✓" : "✗"}
    </span>
  );
  let decided = !x.enabled || x.prerequisites.some((p) => !p.holds);
  return (
    <div class="why">
      {!x.enabled && <p>The flag is disabled here: it serves its off variant (or the caller's default).</p>}
      {x.prerequisites.map((p) => (
        <p key={p.flag}>
          {mark(p.holds)} Prerequisite <code>{p.flag}</code> must serve {p.variants.join(" or ")}; it serves{" "}
          {p.served ?? "nothing"}.
        </p>
      ))}
      <ol>
        {x.rules.map((r, i) => {
          const matched = answer.metadata.ruleId !== undefined && answer.metadata.ruleId === r.id && !decided;
          const reached = !decided;
          if (matched) decided = true;
          return (
            <li key={i} class={matched ? "matched" : reached ? "" : "muted"}>
              <strong>Rule {i + 1}</strong> {r.description && <span class="muted">{r.description}</span>}{" "}
              {matched ? "— matched" : reached ? "— did not match" : "— not reached"}
              <ul>
                {r.conditions.length === 0 && <li>no conditions (always holds)</li>}
                {r.conditions.map((c, j) => (
                  <li key={j}>
                    {mark(c.holds)} {describe(c.condition)}{" "}
                    <span class="muted">
                      ({c.condition.attribute} ={" "}
                      {c.condition.attribute in props.context
                        ? JSON.stringify(props.context[c.condition.attribute])
                        : "absent"}
                      )
                    </span>
                  </li>
                ))}
                {r.schedule !== null && <li>{mark(r.schedule)} active now (its schedule)</li>}
                {r.gate !== null && <li>{mark(r.gate)} inside its percentage gate</li>}
              </ul>
            </li>
          );
        })}
      </ol>
      {!decided && <p>No rule matched: the default serve decides ({answer.reason}).</p>}
    </div>
  );
}

export function PlaygroundScreen(props: { session: Session; app: string; env: string }) {
  const [engine, setEngine] = useState<Engine | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [context, setContext] = usePreviewContext();
  const [saved, setSaved] = useState(savedContexts);
  const [name, setName] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const admin = props.session.scope === "admin";
  useEffect(() => {
    if (!admin) return;
    let current: Engine | null = null;
    liveSnapshot(props.app, props.env)
      .then((s) => Engine.of(s))
      .then((e) => {
        current = e;
        setEngine(e);
      }, setError);
    return () => current?.free();
  }, [props.app, props.env, admin]);
  if (!admin)
    return (
      <section>
        <h1>Playground</h1>
        <p class="muted">
          The playground evaluates the environment's server snapshot in the page, which only an admin session may fetch.
        </p>
      </section>
    );
  let parsed: Record<string, unknown> | null = null;
  let contextProblem = "";
  try {
    const value = JSON.parse(context) as unknown;
    if (typeof value === "object" && value !== null && !Array.isArray(value)) parsed = value as Record<string, unknown>;
    else contextProblem = "The context must be a JSON object.";
  } catch (e) {
    contextProblem = `The context is not JSON: ${e instanceof Error ? e.message : String(e)}`;
  }
  const answers = engine && parsed ? engine.evaluateAll(context) : [];
  const save = () => {
    const next = { ...saved, [name.trim()]: context };
    localStorage.setItem(SAVED, JSON.stringify(next));
    setSaved(next);
    setName("");
  };
  return (
    <section aria-labelledby="playground-title">
      <h1 id="playground-title">
        Playground <span class="muted">in {props.app}</span>
      </h1>
      <div class="targeting">
        <div class="card grow">
          <table class="list playground" data-testid="playground">
            <thead>
              <tr>
                <th scope="col">Flag</th>
                <th scope="col">Variant</th>
                <th scope="col">Value</th>
                <th scope="col">Reason</th>
                <th scope="col">Rule</th>
                <th scope="col">
                  <span class="sr-only">Why</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {answers.map((a) => [
                <tr key={a.key}>
                  <td>
                    <Link href={flagPath(props.app, props.env, a.key)}>
                      <code>{a.key}</code>
                    </Link>
                  </td>
                  <td data-testid={`variant-${a.key}`}>{a.variant ?? "—"}</td>
                  <td>
                    <code class="clip">{a.value === undefined ? "—" : JSON.stringify(a.value)}</code>
                  </td>
                  <td>
                    {a.reason}
                    {a.errorCode ? ` (${a.errorCode})` : ""}
                  </td>
                  <td class="muted">{a.metadata.ruleId ?? "—"}</td>
                  <td>
                    <button
                      class="link"
                      aria-expanded={open === a.key}
                      aria-label={`Why does ${a.key} answer ${a.variant ?? "nothing"}?`}
                      onClick={() => setOpen(open === a.key ? null : a.key)}
                    >
                      Why?
                    </button>
                  </td>
                </tr>,
                open === a.key && engine && parsed && (
                  <tr key={`${a.key}-why`} class="diff">
                    <td colSpan={6}>
                      {(() => {
                        const x = engine.explain(a.key, context);
                        return x ? <Why explanation={x} answer={a} context={parsed} /> : null;
                      })()}
                    </td>
                  </tr>
                ),
              ])}
            </tbody>
          </table>
          {!engine && !error && <p class="muted">Loading the engine…</p>}
          <Problem error={error} />
        </div>
        <aside class="card" aria-labelledby="context-title">
          <h2 id="context-title">Context</h2>
          <label>
            <span class="sr-only">Context (JSON)</span>
            <textarea
              class="code"
              rows={8}
              spellcheck={false}
              aria-label="Context (JSON)"
              aria-invalid={contextProblem !== ""}
              value={context}
              onInput={(e) => setContext((e.target as HTMLTextAreaElement).value)}
            />
          </label>
          {contextProblem && (
            <span class="field-problem" role="alert">
              {contextProblem}
            </span>
          )}
          {Object.keys(saved).length > 0 && (
            <label>
              Saved contexts
              <select
                value=""
                onChange={(e) => {
                  const chosen = saved[(e.target as HTMLSelectElement).value];
                  if (chosen !== undefined) setContext(chosen);
                }}
              >
                <option value="">choose one</option>
                {Object.keys(saved).map((n) => (
                  <option key={n}>{n}</option>
                ))}
              </select>
            </label>
          )}
          <form
            class="inline"
            onSubmit={(e) => {
              e.preventDefault();
              if (name.trim() !== "" && contextProblem === "") save();
            }}
          >
            <input
              aria-label="Name for this context"
              placeholder="a name, e.g. Canadian pro user"
              value={name}
              onInput={(e) => setName((e.target as HTMLInputElement).value)}
            />
            <button type="submit" disabled={name.trim() === "" || contextProblem !== ""}>
              Save context
            </button>
          </form>
        </aside>
      </div>
    </section>
  );
}
