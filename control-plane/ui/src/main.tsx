// The Vane console: a single-page app served at /ui/ by `vane serve`. Every screen is linkable:
// the application and environment are in the URL.

import { render } from "preact";
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

import { ApiError, api, rememberSession, whenSignedOut } from "./client";
import { ConfigDetail, Configs, configsPath } from "./configs";
import { LineDiff } from "./diff";
import { FlagDetail } from "./flag";
import { PlaygroundScreen, playgroundPath } from "./playground";
import { SegmentDetail, Segments, segmentsPath } from "./segments";
import {
  Columns,
  Link,
  Named,
  Pager,
  Problem,
  QuickCreate,
  When,
  flagPath,
  flagsPath,
  go,
  useSnapshotEvents,
} from "./ui";
import type {
  Application,
  AuditEntry,
  Environment,
  FlagView,
  KeyInfo,
  NewKey,
  Service,
  Session,
  StateRow,
} from "./client";

// --- routing -------------------------------------------------------------------------------

type Route =
  | { screen: "sign-in"; next: string }
  | { screen: "applications" }
  | { screen: "keys" }
  | { screen: "audit" }
  | { screen: "environments" }
  | { screen: "registry" }
  | { screen: "flags"; app: string; env: string }
  | { screen: "segments"; app: string; env: string }
  | { screen: "configs"; app: string; env: string }
  | { screen: "playground"; app: string; env: string }
  | { screen: "config"; app: string; env: string; key: string }
  | { screen: "segment"; app: string; env: string; segment: string }
  | { screen: "flag"; app: string; env: string; flag: string };

function parse(location: Location): Route {
  const parts = location.pathname
    .replace(/^\/ui\/?/, "")
    .split("/")
    .filter(Boolean)
    .map(decodeURIComponent);
  if (parts[0] === "sign-in")
    return { screen: "sign-in", next: new URLSearchParams(location.search).get("next") ?? "/ui/" };
  if (parts[0] === "a" && parts[1] && parts[2] && parts[3] === "flags" && parts[4])
    return { screen: "flag", app: parts[1], env: parts[2], flag: parts[4] };
  if (parts[0] === "a" && parts[1] && parts[2] && parts[3] === "segments" && parts[4])
    return { screen: "segment", app: parts[1], env: parts[2], segment: parts[4] };
  if (parts[0] === "a" && parts[1] && parts[2] && parts[3] === "playground")
    return { screen: "playground", app: parts[1], env: parts[2] };
  if (parts[0] === "a" && parts[1] && parts[2] && parts[3] === "configs" && parts[4])
    return { screen: "config", app: parts[1], env: parts[2], key: parts[4] };
  if (parts[0] === "a" && parts[1] && parts[2] && parts[3] === "configs")
    return { screen: "configs", app: parts[1], env: parts[2] };
  if (parts[0] === "a" && parts[1] && parts[2] && parts[3] === "segments")
    return { screen: "segments", app: parts[1], env: parts[2] };
  if (parts[0] === "a" && parts[1] && parts[2]) return { screen: "flags", app: parts[1], env: parts[2] };
  if (parts[0] === "keys") return { screen: "keys" };
  if (parts[0] === "audit") return { screen: "audit" };
  if (parts[0] === "environments") return { screen: "environments" };
  if (parts[0] === "registry") return { screen: "registry" };
  return { screen: "applications" };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location));
  useEffect(() => {
    const update = () => setRoute(parse(location));
    addEventListener("popstate", update);
    return () => removeEventListener("popstate", update);
  }, []);
  return route;
}

// --- sign-in -------------------------------------------------------------------------------

function SignIn(props: { next: string; onSignedIn: (s: Session) => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const session = await api.signIn(key.trim());
      setKey("");
      props.onSignedIn(session);
      go(props.next.startsWith("/ui/") ? props.next : "/ui/");
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <form onSubmit={submit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">
          <span class="mark">◆</span> Vane
        </h1>
        <p class="muted">Sign in with an admin key (read and write) or a read key (read only).</p>
        <label for="key">API key</label>
        <input
          id="key"
          type="password"
          autocomplete="off"
          spellcheck={false}
          placeholder="vane_admin_…"
          value={key}
          onInput={(e) => setKey((e.target as HTMLInputElement).value)}
          required
        />
        <button type="submit" disabled={busy || key.trim() === ""}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <Problem error={error} />
        <p class="muted small">The key is exchanged for a session cookie; the browser never keeps the key.</p>
      </form>
    </main>
  );
}

// --- shell ---------------------------------------------------------------------------------

function Shell(props: {
  session: Session;
  apps: Application[];
  envs: Environment[];
  app?: string;
  env?: string;
  onSignOut: () => void;
  children: ComponentChildren;
}) {
  const { session, apps, envs } = props;
  const app = props.app ?? apps[0]?.key ?? "default";
  const env = props.env ?? envs.find((e) => e.key === "production")?.key ?? envs[0]?.key ?? "production";
  return (
    <div class="shell">
      <header>
        <Link href="/ui/" class="brand">
          <span class="mark">◆</span> Vane
        </Link>
        <nav aria-label="Application and environment">
          <label>
            <span class="sr-only">Application</span>
            <Named value={app} onChange={(e) => go(flagsPath((e.target as HTMLSelectElement).value, env))} of={apps} />
          </label>
          <label>
            <span class="sr-only">Environment</span>
            <Named value={env} onChange={(e) => go(flagsPath(app, (e.target as HTMLSelectElement).value))} of={envs} />
          </label>
          <Link href={flagsPath(app, env)}>Flags</Link>
          <Link href={segmentsPath(app, env)}>Segments</Link>
          <Link href={configsPath(app, env)}>Configs</Link>
          <Link href={playgroundPath(app, env)}>Playground</Link>
          <Link href="/ui/">Applications</Link>
          {session.scope === "admin" && !session.application_id && !session.environment_id && (
            <Link href="/ui/keys">API keys</Link>
          )}
          <Link href="/ui/environments">Environments</Link>
          <Link href="/ui/registry">Services</Link>
          {!session.application_id && !session.environment_id && <Link href="/ui/audit">Audit log</Link>}
        </nav>
        <div class="who">
          <span title={`key ${session.key_id}`}>
            {session.key_name || "unnamed key"} · {session.scope === "admin" ? "admin" : "read only"}
          </span>
          <button class="link" onClick={props.onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main>{props.children}</main>
    </div>
  );
}

// --- applications --------------------------------------------------------------------------

function Applications(props: { session: Session; apps: Application[]; envs: Environment[]; reload: () => void }) {
  const writable = props.session.scope === "admin";
  const [error, setError] = useState<unknown>(null);
  const env = props.envs.find((e) => e.key === "production")?.key ?? props.envs[0]?.key ?? "production";
  const [renaming, setRenaming] = useState<{ key: string; name: string; version: number } | null>(null);
  const rename = async (e: Event) => {
    e.preventDefault();
    if (!renaming) return;
    try {
      await api.changeApplication(renaming.key, { name: renaming.name.trim(), version: renaming.version });
      setRenaming(null);
      props.reload();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (a: Application) => {
    const sure = confirm(
      `Delete the application "${a.name}"?\n\nIts flags, segments, configs, snapshots and the API keys bound to it go with it. This cannot be undone.`,
    );
    if (!sure) return;
    try {
      await api.deleteApplication(a.key);
      props.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section aria-labelledby="apps-title">
      <h1 id="apps-title">Applications</h1>
      <table class="list">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Key</th>
            <th scope="col">Comments</th>
            <th scope="col">Updated</th>
            {writable && (
              <th scope="col" class="actions">
                <span class="sr-only">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {props.apps.map((a) => (
            <tr key={a.id}>
              <td>
                {renaming?.key === a.key ? (
                  <form class="inline" onSubmit={rename}>
                    <input
                      aria-label={`New name for ${a.name}`}
                      value={renaming.name}
                      required
                      onInput={(e) => setRenaming({ ...renaming, name: (e.target as HTMLInputElement).value })}
                    />
                    <button type="submit">Save</button>
                    <button type="button" class="link" onClick={() => setRenaming(null)}>
                      Cancel
                    </button>
                  </form>
                ) : (
                  <Link href={flagsPath(a.key, env)}>{a.name}</Link>
                )}
              </td>
              <td>
                <code>{a.key}</code>
              </td>
              <td class="muted">{a.comments}</td>
              <td>
                <When at={a.updated_at} />
              </td>
              {writable && (
                <td class="actions">
                  <button
                    class="link small"
                    onClick={() => setRenaming({ key: a.key, name: a.name, version: a.version })}
                    aria-label={`Rename ${a.name}`}
                  >
                    Rename
                  </button>
                  {a.key !== "default" && (
                    <button class="danger small" onClick={() => remove(a)} aria-label={`Delete ${a.name}`}>
                      Delete
                    </button>
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {writable && (
        <QuickCreate
          label="New application"
          placeholder="Checkout"
          field="name"
          create={async (text) => {
            await api.createApplication({ name: text, comments: "" });
            props.reload();
          }}
        />
      )}
      <Problem error={error} />
    </section>
  );
}

// --- flags ---------------------------------------------------------------------------------

const PAGE = 100;

function Flags(props: { session: Session; app: string; env: string; envs: Environment[] }) {
  const writable = props.session.scope === "admin";
  const [page, setPage] = useState<{ items: FlagView[]; total: number } | null>(null);
  const [offset, setOffset] = useState(0);
  const [search, setSearch] = useState("");
  const [tag, setTag] = useState("");
  const [archived, setArchived] = useState(false);
  const [error, setError] = useState<unknown>(null);

  // The search runs on the server (over every flag, not just this page), a moment after typing stops.
  const [q, setQ] = useState("");
  useEffect(() => {
    const typed = search.trim();
    const timer = setTimeout(() => {
      setOffset(0);
      setQ(typed);
    }, 150);
    return () => clearTimeout(timer);
  }, [search]);

  const load = async () => {
    try {
      const p = await api.flags(props.app, { q: q || null, tag: tag || null, archived, limit: PAGE, offset });
      setPage({ items: p.items, total: p.total });
      setError(null);
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => {
    void load();
  }, [props.app, q, tag, archived, offset]);
  const loadRef = useRef(load);
  loadRef.current = load;

  // Live: a change made elsewhere (the API, another console) republishes this environment's
  // snapshot, and the control plane's event stream says so; the list is read again.
  useSnapshotEvents(props.app, props.env, true, () => void loadRef.current());

  const shown = page?.items ?? [];

  const current = props.envs.find((e) => e.key === props.env)?.name ?? props.env;
  // Bulk changes: the selected flags of this page, each changed with the version it was read at;
  // one changed elsewhere meanwhile is left alone and counted.
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [bulkNote, setBulkNote] = useState("");
  useEffect(() => setSelected(new Set()), [props.app, q, tag, archived, offset]);
  const select = (key: string, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(key);
    else next.delete(key);
    setSelected(next);
  };
  const bulk = async (action: "enable" | "disable" | "archive" | "restore") => {
    const chosen = shown.filter((f) => selected.has(f.key));
    setBulkNote("");
    const results = await Promise.allSettled(
      chosen.map((f) => {
        if (action === "archive" || action === "restore")
          return api.changeFlag(props.app, f.key, { archived: action === "archive", version: f.version });
        const state = f.environments[props.env];
        if (!state) return Promise.reject(new Error(`${f.key} has no state in ${props.env}`));
        return api.setEnabled(props.app, f.key, props.env, action === "enable", state.version);
      }),
    );
    // What the server answered replaces what the list showed, so the next action starts from it.
    const answered = new Map<string, FlagView | StateRow>();
    results.forEach((r, i) => {
      const key = chosen[i]?.key;
      if (r.status === "fulfilled" && key !== undefined) answered.set(key, r.value);
    });
    setPage(
      (p) =>
        p && {
          ...p,
          items: p.items.map((f) => {
            const after = answered.get(f.key);
            if (!after) return f;
            return "key" in after ? after : { ...f, environments: { ...f.environments, [props.env]: after } };
          }),
        },
    );
    const failed = results.filter((r) => r.status === "rejected").length;
    setBulkNote(
      failed === 0
        ? `${chosen.length} flag${chosen.length === 1 ? "" : "s"} ${
            {
              enable: `enabled in ${current}`,
              disable: `disabled in ${current}`,
              archive: "archived",
              restore: "restored",
            }[action]
          }.`
        : `${chosen.length - failed} changed; ${failed} not (changed elsewhere meanwhile, or refused): reload and try again.`,
    );
    setSelected(new Set());
    void load();
  };

  const toggle = async (flag: FlagView, env: string) => {
    const state = flag.environments[env];
    if (!state) return;
    try {
      const after = await api.setEnabled(props.app, flag.key, env, !state.enabled, state.version);
      setPage(
        (p) =>
          p && {
            ...p,
            items: p.items.map((f) =>
              f.key === flag.key ? { ...f, environments: { ...f.environments, [env]: after } } : f,
            ),
          },
      );
    } catch (err) {
      setError(err);
      void load();
    }
  };
  return (
    <section aria-labelledby="flags-title">
      <h1 id="flags-title">
        Flags <span class="muted">in {props.app}</span>
      </h1>
      <div class="filters">
        <label>
          <span class="sr-only">Search</span>
          <input
            type="search"
            placeholder="Search flags"
            value={search}
            onInput={(e) => setSearch((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          <span class="sr-only">Tag</span>
          <input
            placeholder="Tag"
            value={tag}
            onChange={(e) => {
              setOffset(0);
              setTag((e.target as HTMLInputElement).value.trim());
            }}
          />
        </label>
        <label class="check">
          <input
            type="checkbox"
            checked={archived}
            onChange={(e) => {
              setOffset(0);
              setArchived((e.target as HTMLInputElement).checked);
            }}
          />{" "}
          Archived
        </label>
      </div>
      {writable && selected.size > 0 && (
        <div class="bulk" role="toolbar" aria-label="Change the selected flags">
          <strong>{selected.size} selected</strong>
          <button onClick={() => bulk("enable")}>Enable in {current}</button>
          <button onClick={() => bulk("disable")}>Disable in {current}</button>
          {archived ? (
            <button onClick={() => bulk("restore")}>Restore</button>
          ) : (
            <button class="danger" onClick={() => bulk("archive")}>
              Archive
            </button>
          )}
          <button class="link" onClick={() => setSelected(new Set())}>
            Clear
          </button>
        </div>
      )}
      {bulkNote && (
        <p class="muted" role="status">
          {bulkNote}
        </p>
      )}
      <table class="list flags">
        <thead>
          <tr>
            {writable && (
              <th scope="col" class="select">
                <input
                  type="checkbox"
                  aria-label="Select every flag on this page"
                  checked={shown.length > 0 && shown.every((f) => selected.has(f.key))}
                  onChange={(e) =>
                    setSelected((e.target as HTMLInputElement).checked ? new Set(shown.map((f) => f.key)) : new Set())
                  }
                />
              </th>
            )}
            <th scope="col">Flag</th>
            <th scope="col">Type</th>
            {props.envs.map((e) => (
              <th scope="col" key={e.id} class={e.key === props.env ? "current" : ""}>
                {e.name}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {shown.map((f) => (
            <tr key={f.id}>
              {writable && (
                <td class="select">
                  <input
                    type="checkbox"
                    aria-label={`Select ${f.key}`}
                    checked={selected.has(f.key)}
                    onChange={(e) => select(f.key, (e.target as HTMLInputElement).checked)}
                  />
                </td>
              )}
              <td>
                <Link href={flagPath(props.app, props.env, f.key)}>
                  <code>{f.key}</code>
                </Link>
                {f.description && <div class="muted small">{f.description}</div>}
                {f.tags.length > 0 && (
                  <div class="tags">
                    {f.tags.map((t) => (
                      <span class="tag" key={t}>
                        {t}
                      </span>
                    ))}
                  </div>
                )}
              </td>
              <td class="muted">{f.type}</td>
              {props.envs.map((e) => {
                const state = f.environments[e.key];
                return (
                  <td key={e.id} class={e.key === props.env ? "current" : ""}>
                    {state ? (
                      <button
                        role="switch"
                        aria-checked={state.enabled}
                        aria-label={`${f.key} in ${e.name}`}
                        class={`switch ${state.enabled ? "on" : "off"}`}
                        disabled={!writable}
                        onClick={() => toggle(f, e.key)}
                      >
                        <span>{state.enabled ? "On" : "Off"}</span>
                      </button>
                    ) : (
                      <span class="muted">—</span>
                    )}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      {page && page.items.length === 0 && (
        <p class="muted">{q || tag || archived ? "No flags match." : "No flags here yet."}</p>
      )}
      {page && <Pager offset={offset} size={PAGE} total={page.total} go={setOffset} labels={["Previous", "Next"]} />}
      {writable && (
        <QuickCreate
          label="New boolean flag"
          placeholder="new-checkout"
          field="key"
          create={async (text) => {
            await api.createFlag(props.app, { key: text, type: "boolean" });
            void load();
          }}
        />
      )}
      <Problem error={error} />
    </section>
  );
}

// --- environments and the registry -------------------------------------------------------

/** An environment's staleness settings, which the edge obeys, edited in place. */
function EnvironmentRow(props: { env: Environment; writable: boolean; saved: () => void }) {
  const { env } = props;
  const [staleness, setStaleness] = useState(String(env.max_staleness_s));
  const [policy, setPolicy] = useState(env.stale_policy);
  const [error, setError] = useState<unknown>(null);
  const dirty = staleness !== String(env.max_staleness_s) || policy !== env.stale_policy;
  const save = async () => {
    setError(null);
    try {
      await api.changeEnvironment(env.key, {
        max_staleness_s: Number(staleness),
        stale_policy: policy,
        version: env.version,
      });
      props.saved();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <tr>
      <td>
        {env.name} <code class="muted">{env.key}</code>
        <Problem error={error} />
      </td>
      <td>
        <input
          type="number"
          min="0"
          class="narrow"
          aria-label={`${env.name}: maximum staleness in seconds`}
          value={staleness}
          disabled={!props.writable}
          onInput={(e) => setStaleness((e.target as HTMLInputElement).value)}
        />{" "}
        <span class="muted small">{env.max_staleness_s === 0 ? "(no limit)" : "s"}</span>
      </td>
      <td>
        <select
          aria-label={`${env.name}: when the snapshot is too old`}
          value={policy}
          disabled={!props.writable}
          onChange={(e) => setPolicy((e.target as HTMLSelectElement).value)}
        >
          <option value="serve_stale">keep serving it</option>
          <option value="fail_closed">fail closed (answer errors)</option>
        </select>
      </td>
      <td class="actions">
        {props.writable && (
          <button class="small" disabled={!dirty} onClick={save}>
            Save
          </button>
        )}
      </td>
    </tr>
  );
}

function Environments(props: { session: Session; envs: Environment[]; reload: () => void }) {
  const writable = props.session.scope === "admin";
  const unbound = !props.session.application_id && !props.session.environment_id;
  return (
    <section aria-labelledby="envs-title">
      <h1 id="envs-title">Environments</h1>
      <p class="muted">
        How old a snapshot the edge may serve when it cannot reach the control plane, and what it does after.
      </p>
      <table class="list">
        <Columns names={["Environment", "Maximum staleness", "Then"]} actions />
        <tbody>
          {props.envs.map((e) => (
            <EnvironmentRow key={`${e.id}-${e.version}`} env={e} writable={writable} saved={props.reload} />
          ))}
        </tbody>
      </table>
      {writable && unbound && (
        <QuickCreate
          label="New environment"
          placeholder="Canary"
          field="name"
          create={async (text) => {
            await api.createEnvironment({ name: text, max_staleness_s: 0, stale_policy: "serve_stale" });
            props.reload();
          }}
        />
      )}
    </section>
  );
}

function Registry() {
  const [services, setServices] = useState<Service[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api.services().then((p) => setServices(p.items), setError);
  }, []);
  return (
    <section aria-labelledby="registry-title">
      <h1 id="registry-title">Services</h1>
      <p class="muted">The service registry: healthy services are published in every server snapshot.</p>
      <table class="list">
        <Columns names={["Service", "URL", "Status", "Response time", "Last check"]} />
        <tbody>
          {(services ?? []).map((s) => (
            <tr key={s.instance_id}>
              <td>{s.service_name}</td>
              <td>
                <code>{s.service_url}</code>
              </td>
              <td>
                <span class={`status ${s.status}`}>{s.status}</span>
              </td>
              <td>{s.response_time_ms == null ? "—" : `${s.response_time_ms.toFixed(1)} ms`}</td>
              <td>{s.last_health_check ? <When at={s.last_health_check} /> : <span class="muted">never</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {services && services.length === 0 && <p class="muted">No services registered.</p>}
      <Problem error={error} />
    </section>
  );
}

// --- API keys ------------------------------------------------------------------------------

const SCOPES: Record<string, string> = {
  admin: "admin — reads and writes everything",
  read: "read — reads everything, for dashboards and read-only consoles",
  edge: "edge — fetches server snapshots (edge workers, server SDKs)",
  client: "client — fetches client snapshots (browsers)",
};

function Keys(props: { apps: Application[]; envs: Environment[] }) {
  const [keys, setKeys] = useState<KeyInfo[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [minted, setMinted] = useState<NewKey | null>(null);
  const [copied, setCopied] = useState(false);
  const [form, setForm] = useState({ name: "", scope: "edge", application: "", environment: "" });
  const load = () => api.keys().then((p) => setKeys(p.items), setError);
  useEffect(() => {
    void load();
  }, []);
  const create = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const key = await api.createKey({
        name: form.name.trim(),
        scope: form.scope,
        application: form.application || null,
        environment: form.environment || null,
      });
      setMinted(key);
      setCopied(false);
      setForm({ ...form, name: "" });
      void load();
    } catch (err) {
      setError(err);
    }
  };
  const revoke = async (k: KeyInfo) => {
    if (
      !confirm(
        `Revoke "${k.name || k.prefix}"? Everything using it is refused at once, consoles signed in with it too.`,
      )
    )
      return;
    try {
      await api.revokeKey(k.id);
      void load();
    } catch (err) {
      setError(err);
    }
  };
  const copy = async () => {
    if (!minted) return;
    await navigator.clipboard.writeText(minted.key).then(() => setCopied(true), setError);
  };
  const set = (field: keyof typeof form) => (e: Event) =>
    setForm({ ...form, [field]: (e.target as HTMLInputElement | HTMLSelectElement).value });
  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title">API keys</h1>
      {minted && (
        <div class="minted" role="status">
          <p>
            <strong>{minted.name || "The new key"}</strong> — copy it now; it is shown only once.
          </p>
          <code class="secret">{minted.key}</code>
          <button onClick={copy}>{copied ? "Copied" : "Copy"}</button>
          <button class="link" onClick={() => setMinted(null)}>
            Done
          </button>
        </div>
      )}
      <table class="list">
        <Columns names={["Name", "Key", "Scope", "Bound to", "Created"]} actions />
        <tbody>
          {keys.map((k) => (
            <tr key={k.id} class={k.revoked_at ? "revoked" : ""}>
              <td>{k.name || <span class="muted">unnamed</span>}</td>
              <td>
                <code>{k.prefix}…</code>
              </td>
              <td>{k.scope}</td>
              <td class="muted">{[k.application, k.environment].filter(Boolean).join(" × ") || "everything"}</td>
              <td>
                <When at={k.created_at} />
              </td>
              <td class="actions">
                {k.revoked_at ? (
                  <span class="muted">
                    revoked <When at={k.revoked_at} />
                  </span>
                ) : (
                  <button class="danger small" onClick={() => revoke(k)} aria-label={`Revoke ${k.name || k.prefix}`}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form class="stacked" onSubmit={create} aria-labelledby="new-key-title">
        <h2 id="new-key-title">New key</h2>
        <label>
          Name
          <input value={form.name} onInput={set("name")} placeholder="edge in eu-west" />
        </label>
        <label>
          Scope
          <select value={form.scope} onChange={set("scope")}>
            {Object.entries(SCOPES).map(([scope, what]) => (
              <option key={scope} value={scope}>
                {what}
              </option>
            ))}
          </select>
        </label>
        <label>
          Application
          <Named value={form.application} onChange={set("application")} every="every application" of={props.apps} />
        </label>
        <label>
          Environment
          <Named value={form.environment} onChange={set("environment")} every="every environment" of={props.envs} />
        </label>
        <button type="submit">Create key</button>
      </form>
      <Problem error={error} />
    </section>
  );
}

/** An entry's before or after as the diff compares it ("" when there is none: a create, a delete). */
const auditText = (v: unknown) => (v === undefined || v === null ? "" : JSON.stringify(v, null, 2));

// --- audit log -----------------------------------------------------------------------------

const AUDIT_PAGE = 50;
const ENTITY_TYPES = [
  "application",
  "environment",
  "flag",
  "flag_state",
  "segment",
  "config",
  "api_key",
  "service",
  "session",
];

function Audit() {
  const [filter, setFilter] = useState({ entity_type: "", entity: "", action: "", actor: "", since: "", until: "" });
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<{ items: AuditEntry[]; total: number } | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    // The time bounds are typed in the user's time zone and sent as instants.
    const instant = (local: string) => (local === "" ? null : new Date(local).toISOString());
    api
      .audit({ ...filter, since: instant(filter.since), until: instant(filter.until), limit: AUDIT_PAGE, offset })
      .then((p) => setPage({ items: p.items, total: p.total }), setError);
  }, [filter, offset]);
  const set = (field: keyof typeof filter) => (e: Event) => {
    setOffset(0);
    setFilter({ ...filter, [field]: (e.target as HTMLInputElement | HTMLSelectElement).value.trim() });
  };
  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <div class="filters">
        <label>
          <span class="sr-only">Entity type</span>
          <select value={filter.entity_type} onChange={set("entity_type")}>
            <option value="">every kind</option>
            {ENTITY_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span class="sr-only">Entity</span>
          <input placeholder="Key or id" value={filter.entity} onChange={set("entity")} />
        </label>
        <label>
          <span class="sr-only">Action</span>
          <input placeholder="Action (create, update…)" value={filter.action} onChange={set("action")} />
        </label>
        <label>
          <span class="sr-only">Actor</span>
          <input placeholder="Actor (key id)" value={filter.actor} onChange={set("actor")} />
        </label>
        <label>
          from{" "}
          <input type="datetime-local" aria-label="From (your time)" value={filter.since} onChange={set("since")} />
        </label>
        <label>
          until{" "}
          <input type="datetime-local" aria-label="Until (your time)" value={filter.until} onChange={set("until")} />
        </label>
      </div>
      <table class="list">
        <Columns names={["When", "Who", "What", "Entity", "Version"]} />
        <tbody>
          {(page?.items ?? []).map((e) => [
            <tr key={e.id} class="expandable">
              <td>
                <When at={e.at} />
              </td>
              <td>{e.actor_name || e.actor || <span class="muted">the operator (CLI)</span>}</td>
              <td>
                <button
                  class="link"
                  aria-expanded={open === e.id}
                  onClick={() => setOpen(open === e.id ? null : e.id)}
                  aria-label={`${e.action} ${e.entity_type} ${e.entity_key}: before and after`}
                >
                  {e.action}
                </button>
              </td>
              <td>
                <span class="muted">{e.entity_type}</span> <code>{e.entity_key}</code>
              </td>
              <td>{e.version ?? ""}</td>
            </tr>,
            open === e.id && (
              <tr key={`${e.id}-diff`} class="diff">
                <td colSpan={5}>
                  <LineDiff before={auditText(e.before)} after={auditText(e.after)} />
                </td>
              </tr>
            ),
          ])}
        </tbody>
      </table>
      {page && page.items.length === 0 && <p class="muted">Nothing matches.</p>}
      {page && (
        <Pager offset={offset} size={AUDIT_PAGE} total={page.total} go={setOffset} labels={["Newer", "Older"]} />
      )}
      <Problem error={error} />
    </section>
  );
}

// --- the app -------------------------------------------------------------------------------

function App() {
  const route = useRoute();
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [apps, setApps] = useState<Application[]>([]);
  const [envs, setEnvs] = useState<Environment[]>([]);

  const signedIn = (s: Session) => {
    rememberSession(s);
    setSession(s);
  };
  const reload = async () => {
    const [a, e] = await Promise.all([api.applications(), api.environments()]);
    setApps(a.items);
    setEnvs(e.items);
  };
  useEffect(() => {
    whenSignedOut(() => {
      setSession(null);
      if (parse(location).screen !== "sign-in") go(`/ui/sign-in?next=${encodeURIComponent(location.pathname)}`);
    });
    api.session().then(signedIn, () => setSession(null));
  }, []);
  useEffect(() => {
    if (session) void reload();
  }, [session]);

  if (session === undefined) return <p class="loading">Loading…</p>;
  if (session === null || route.screen === "sign-in") {
    const next = route.screen === "sign-in" ? route.next : location.pathname;
    return <SignIn next={next} onSignedIn={signedIn} />;
  }
  const signOut = async () => {
    await api.signOut().catch(() => undefined);
    setSession(null);
    go("/ui/sign-in");
  };
  const shell = { session, apps, envs, onSignOut: signOut };
  if (route.screen === "keys") {
    return (
      <Shell {...shell}>
        <Keys apps={apps} envs={envs} />
      </Shell>
    );
  }
  if (route.screen === "environments") {
    return (
      <Shell {...shell}>
        <Environments session={session} envs={envs} reload={() => void reload()} />
      </Shell>
    );
  }
  if (route.screen === "registry") {
    return (
      <Shell {...shell}>
        <Registry />
      </Shell>
    );
  }
  if (route.screen === "audit") {
    return (
      <Shell {...shell}>
        <Audit />
      </Shell>
    );
  }
  if (route.screen === "flag") {
    return (
      <Shell {...shell} app={route.app} env={route.env}>
        <FlagDetail session={session} app={route.app} env={route.env} flag={route.flag} envs={envs} />
      </Shell>
    );
  }
  if (route.screen === "playground") {
    return (
      <Shell {...shell} app={route.app} env={route.env}>
        <PlaygroundScreen key={`${route.app}/${route.env}`} session={session} app={route.app} env={route.env} />
      </Shell>
    );
  }
  if (route.screen === "configs") {
    return (
      <Shell {...shell} app={route.app} env={route.env}>
        <Configs key={`${route.app}/${route.env}`} session={session} app={route.app} env={route.env} />
      </Shell>
    );
  }
  if (route.screen === "config") {
    return (
      <Shell {...shell} app={route.app} env={route.env}>
        <ConfigDetail
          key={`${route.app}/${route.env}/${route.key}`}
          session={session}
          app={route.app}
          env={route.env}
          configKey={route.key}
        />
      </Shell>
    );
  }
  if (route.screen === "segments") {
    return (
      <Shell {...shell} app={route.app} env={route.env}>
        <Segments key={route.app} session={session} app={route.app} env={route.env} />
      </Shell>
    );
  }
  if (route.screen === "segment") {
    return (
      <Shell {...shell} app={route.app} env={route.env}>
        <SegmentDetail
          key={`${route.app}/${route.segment}`}
          session={session}
          app={route.app}
          env={route.env}
          segment={route.segment}
        />
      </Shell>
    );
  }
  if (route.screen === "flags") {
    return (
      <Shell {...shell} app={route.app} env={route.env}>
        <Flags session={session} app={route.app} env={route.env} envs={envs} />
      </Shell>
    );
  }
  return (
    <Shell {...shell}>
      <Applications session={session} apps={apps} envs={envs} reload={() => void reload()} />
    </Shell>
  );
}

const root = document.getElementById("app");
if (root) render(<App />, root);
