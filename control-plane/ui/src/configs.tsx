// Configs of an application × environment: typed values, an optional JSON Schema the value is
// checked against as it is typed, secrets masked until an explicit (audited) reveal, history with
// diffs and rollback.

import { Validator } from "@cfworker/json-schema";
import { useEffect, useState } from "preact/hooks";

import { ApiError, api } from "./client";
import type { ConfigView, Session } from "./client";
import { History } from "./history";
import { Columns, Conflict, JsonField, Link, Problem, When, readValue, useVersionedSave, valueText } from "./ui";

export const configsPath = (app: string, env: string) =>
  `/ui/a/${encodeURIComponent(app)}/${encodeURIComponent(env)}/configs`;
const configPath = (app: string, env: string, key: string) => `${configsPath(app, env)}/${encodeURIComponent(key)}`;

const TYPES = ["string", "number", "boolean", "json"] as const;

/** What a JSON Schema says about a value: each problem with where it is (`/port`). */
function againstSchema(schemaText: string, value: unknown): { schema?: unknown; problems: string[] } {
  if (schemaText.trim() === "") return { problems: [] };
  let schema: unknown;
  try {
    schema = JSON.parse(schemaText);
  } catch (e) {
    return { problems: [`the schema is not JSON: ${e instanceof Error ? e.message : String(e)}`] };
  }
  if (typeof schema !== "object" || schema === null) return { problems: ["the schema must be an object"] };
  try {
    const result = new Validator(schema as object, "2020-12", false).validate(value);
    return {
      schema,
      problems: result.valid
        ? []
        : result.errors
            .filter((e) => e.keyword !== "properties" && e.keyword !== "items")
            .map((e) => `${e.instanceLocation.replace(/^#/, "") || "the value"}: ${e.error}`),
    };
  } catch (e) {
    return { problems: [`the schema cannot be used: ${e instanceof Error ? e.message : String(e)}`] };
  }
}

function ValueInput(props: {
  type: string;
  text: string;
  label: string;
  invalid: boolean;
  disabled: boolean;
  onInput: (text: string) => void;
}) {
  if (props.type === "boolean")
    return (
      <select
        aria-label={props.label}
        value={props.text}
        disabled={props.disabled}
        onChange={(e) => props.onInput((e.target as HTMLSelectElement).value)}
      >
        <option value="true">true</option>
        <option value="false">false</option>
      </select>
    );
  if (props.type === "json")
    return (
      <JsonField
        label={props.label}
        invalid={props.invalid}
        value={props.text}
        disabled={props.disabled}
        onInput={props.onInput}
      />
    );
  return (
    <input
      aria-label={props.label}
      aria-invalid={props.invalid}
      value={props.text}
      disabled={props.disabled}
      onInput={(e) => props.onInput((e.target as HTMLInputElement).value)}
    />
  );
}

/** A secret's value: masked, until the user asks (the server records who looked). */
function SecretValue(props: { app: string; env: string; config: ConfigView; revealed: (value: unknown) => void }) {
  const [error, setError] = useState<unknown>(null);
  return (
    <div class="secret-value">
      <span class="masked" aria-label="secret value, masked">
        ••••••••
      </span>
      <button
        class="link"
        onClick={async () => {
          try {
            props.revealed((await api.revealConfig(props.app, props.env, props.config.key)).value);
          } catch (e) {
            setError(e);
          }
        }}
      >
        Reveal (recorded in the audit log)
      </button>
      <Problem error={error} />
    </div>
  );
}

export function Configs(props: { session: Session; app: string; env: string }) {
  const [configs, setConfigs] = useState<ConfigView[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [draft, setDraft] = useState({ key: "", type: "string", text: "", secret: false });
  const load = () => api.configs(props.app, props.env).then((p) => setConfigs(p.items), setError);
  useEffect(() => {
    void load();
  }, [props.app, props.env]);
  const parsed = readValue(draft.type, draft.text);
  const problems = error instanceof ApiError ? error.details : [];
  const create = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await api.createConfig(props.app, props.env, {
        key: draft.key.trim(),
        value: parsed.value,
        value_type: draft.type,
        secret: draft.secret,
      });
      setDraft({ key: "", type: "string", text: "", secret: false });
      await load();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section aria-labelledby="configs-title">
      <h1 id="configs-title">
        Configs <span class="muted">in {props.app}</span>
      </h1>
      {configs && configs.length === 0 && <p class="muted">No configs here yet.</p>}
      {configs && configs.length > 0 && (
        <table class="list">
          <Columns names={["Config", "Type", "Value", "Version", "Updated"]} />
          <tbody>
            {configs.map((c) => (
              <tr key={c.id}>
                <td>
                  <Link href={configPath(props.app, props.env, c.key)}>
                    <code>{c.key}</code>
                  </Link>
                  {c.secret && <span class="tag">secret</span>}
                  {c.description && <div class="muted small">{c.description}</div>}
                </td>
                <td class="muted">{c.value_type}</td>
                <td>
                  {c.masked ? (
                    <span class="masked">••••••••</span>
                  ) : (
                    <code class="clip">{JSON.stringify(c.value)}</code>
                  )}
                </td>
                <td>{c.version}</td>
                <td>
                  <When at={c.updated_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {props.session.scope === "admin" && (
        <form class="card stacked-card" onSubmit={create} aria-label="New config">
          <h2>New config</h2>
          <label>
            Key
            <input
              value={draft.key}
              required
              aria-invalid={problems.some((p) => p.path === "key")}
              onInput={(e) => setDraft({ ...draft, key: (e.target as HTMLInputElement).value })}
            />
          </label>
          <label>
            Type
            <select
              value={draft.type}
              onChange={(e) => setDraft({ ...draft, type: (e.target as HTMLSelectElement).value, text: "" })}
            >
              {TYPES.map((t) => (
                <option key={t}>{t}</option>
              ))}
            </select>
          </label>
          <div class="field">
            <span class="label" aria-hidden="true">
              Value
            </span>
            <ValueInput
              type={draft.type}
              text={draft.text}
              label="Value"
              invalid={draft.text !== "" && parsed.problem !== undefined}
              disabled={false}
              onInput={(text) => setDraft({ ...draft, text })}
            />
            {draft.text !== "" && parsed.problem && <span class="field-problem">{parsed.problem}</span>}
          </div>
          <label class="check">
            <input
              type="checkbox"
              checked={draft.secret}
              onChange={(e) => setDraft({ ...draft, secret: (e.target as HTMLInputElement).checked })}
            />{" "}
            Secret (encrypted at rest, never published to the edge)
          </label>
          <button type="submit" disabled={parsed.problem !== undefined}>
            Create
          </button>
        </form>
      )}
      <Problem error={error} />
    </section>
  );
}

export function ConfigDetail(props: { session: Session; app: string; env: string; configKey: string }) {
  const [config, setConfig] = useState<ConfigView | null>(null);
  const [revealed, setRevealed] = useState<{ value: unknown } | null>(null);
  const [text, setText] = useState("");
  const [schema, setSchema] = useState("");
  const [description, setDescription] = useState("");
  const { busy, error, setError, conflict, setConflict, save: versioned } = useVersionedSave<ConfigView>();
  const writable = props.session.scope === "admin";
  const start = (c: ConfigView, value?: { value: unknown }) => {
    setConfig(c);
    setText(c.masked && !value ? "" : valueText(c.value_type, value ? value.value : c.value));
    setSchema(c.schema === undefined || c.schema === null ? "" : JSON.stringify(c.schema, null, 2));
    setDescription(c.description);
  };
  useEffect(() => {
    api.config(props.app, props.env, props.configKey).then((c) => start(c), setError);
  }, [props.app, props.env, props.configKey]);
  if (!config) return <Problem error={error} />;
  const hidden = config.masked && !revealed;
  const parsed = readValue(config.value_type, text);
  const checked = parsed.problem === undefined ? againstSchema(schema, parsed.value) : { problems: [] };
  const server = error instanceof ApiError ? error.details : [];
  const onField = (path: string) => server.filter((d) => d.path === path || d.path.startsWith(`${path}/`));
  const valueProblems = [
    ...(parsed.problem ? [parsed.problem] : []),
    ...checked.problems,
    ...onField("value").map((d) => `${d.path}: ${d.message}`),
  ];
  const save = (version: number) =>
    versioned(
      () => {
        const body: Record<string, unknown> = { version, description };
        if (!hidden) body.value = parsed.value;
        body.schema = schema.trim() === "" ? null : (JSON.parse(schema) as unknown);
        return api.changeConfig(props.app, props.env, config.key, body);
      },
      () => api.config(props.app, props.env, config.key),
      (after) => {
        setRevealed(null);
        start(after);
      },
    );
  return (
    <section aria-labelledby="config-title">
      <p class="small">
        <Link href={configsPath(props.app, props.env)}>← Configs in {props.app}</Link>
      </p>
      <h1 id="config-title">
        <code>{config.key}</code> <span class="muted small">{config.value_type}</span>
        {config.secret && <span class="tag">secret</span>}
      </h1>
      <div class="targeting">
        <section class="card grow" aria-label="Config">
          <label>
            Description
            <input
              value={description}
              disabled={!writable}
              onInput={(e) => setDescription((e.target as HTMLInputElement).value)}
            />
          </label>
          <div class="field">
            <span class="label">Value</span>
            {hidden ? (
              <SecretValue
                app={props.app}
                env={props.env}
                config={config}
                revealed={(value) => {
                  setRevealed({ value });
                  setText(valueText(config.value_type, value));
                }}
              />
            ) : (
              <ValueInput
                type={config.value_type}
                text={text}
                label="Value"
                invalid={valueProblems.length > 0}
                disabled={!writable}
                onInput={setText}
              />
            )}
            {!hidden && valueProblems.length > 0 && (
              <span class="field-problem" role="alert">
                {valueProblems.join("; ")}
              </span>
            )}
          </div>
          <div class="field">
            <span class="label">
              JSON Schema <span class="muted small">(optional; the value is checked against it as you type)</span>
            </span>
            <JsonField label="JSON Schema" value={schema} disabled={!writable} onInput={setSchema} />
          </div>
          {onField("schema").length > 0 && (
            <span class="field-problem" role="alert">
              {onField("schema")
                .map((d) => d.message)
                .join("; ")}
            </span>
          )}
          {conflict && (
            <Conflict
              version={conflict.version}
              theirs={conflict.masked ? "a new secret value" : `the value ${JSON.stringify(conflict.value)}`}
              busy={busy}
              mine={() => save(conflict.version)}
              take={() => {
                setConflict(null);
                setRevealed(null);
                start(conflict);
              }}
            />
          )}
          {writable && (
            <button
              onClick={() => save(config.version)}
              disabled={busy || conflict !== null || (!hidden && valueProblems.length > 0)}
            >
              {busy ? "Saving…" : "Save"}
            </button>
          )}
          <Problem error={error} />
        </section>
        <History
          title="History"
          current={config.version}
          load={async () =>
            (await api.configHistory(props.app, props.env, config.key)).items.map((v) => ({
              version: v.version,
              at: v.at,
              actor: v.actor ?? null,
              content: {
                value: config.secret ? "(secret)" : v.value,
                schema: v.schema ?? null,
                description: v.description,
              },
            }))
          }
          rollback={
            writable
              ? async (version) => {
                  start(await api.rollbackConfig(props.app, props.env, config.key, version));
                  setRevealed(null);
                }
              : undefined
          }
        />
      </div>
    </section>
  );
}
