// The Vane console: a single-page app served at /ui/ by `vane serve`. Every screen is linkable:
// the application and environment are in the URL.

import { render } from "preact";
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

import { ApiError, api, rememberSession, whenSignedOut } from "./client";
import type {
  Application,
  AuditEntry,
  Environment,
  FlagView,
  KeyInfo,
  NewKey,
  Serve,
  Service,
  Session,
  StateChange,
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
  if (parts[0] === "a" && parts[1] && parts[2]) return { screen: "flags", app: parts[1], env: parts[2] };
  if (parts[0] === "keys") return { screen: "keys" };
  if (parts[0] === "audit") return { screen: "audit" };
  if (parts[0] === "environments") return { screen: "environments" };
  if (parts[0] === "registry") return { screen: "registry" };
  return { screen: "applications" };
}

export function go(path: string): void {
  history.pushState(null, "", path);
  dispatchEvent(new PopStateEvent("popstate"));
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

const flagsPath = (app: string, env: string) => `/ui/a/${encodeURIComponent(app)}/${encodeURIComponent(env)}`;
const flagPath = (app: string, env: string, flag: string) => `${flagsPath(app, env)}/flags/${encodeURIComponent(flag)}`;

/** Internal links navigate without a reload; new tabs and modified clicks work as links do. */
function Link(props: { href: string; children: ComponentChildren; class?: string }) {
  const click = (e: MouseEvent) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    go(props.href);
  };
  return (
    <a href={props.href} onClick={click} class={props.class}>
      {props.children}
    </a>
  );
}

function Problem(props: { error: unknown }) {
  if (!props.error) return null;
  const e = props.error;
  const message = e instanceof ApiError ? e.message : String(e);
  const details = e instanceof ApiError ? e.details : [];
  return (
    <div class="problem" role="alert">
      <p>{message}</p>
      {details.length > 0 && (
        <ul>
          {details.map((d) => (
            <li key={d.path}>
              <code>{d.path || "(body)"}</code>: {d.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/**
 * A one-field form that creates something. A refusal that names the field (a 422 whose detail's
 * path is `field`) is shown on the field; any other goes below the form. The text is kept when
 * the create fails.
 */
function QuickCreate(props: {
  label: string;
  placeholder: string;
  field: string;
  create: (text: string) => Promise<void>;
}) {
  const [text, setText] = useState("");
  const [error, setError] = useState<unknown>(null);
  const id = props.label.toLowerCase().replace(/\W+/g, "-");
  const onField = error instanceof ApiError ? error.details.filter((d) => d.path === props.field) : [];
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await props.create(text.trim());
      setText("");
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="inline" onSubmit={submit}>
      <label for={id}>{props.label}</label>
      <div class="field">
        <input
          id={id}
          value={text}
          placeholder={props.placeholder}
          onInput={(e) => setText((e.target as HTMLInputElement).value)}
          aria-invalid={onField.length > 0}
          aria-describedby={onField.length > 0 ? `${id}-problem` : undefined}
          required
        />
        {onField.length > 0 && (
          <span class="field-problem" id={`${id}-problem`} role="alert">
            {onField.map((d) => d.message).join("; ")}
          </span>
        )}
      </div>
      <button type="submit">Create</button>
      {onField.length === 0 && <Problem error={error} />}
    </form>
  );
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
                <Link href={flagsPath(a.key, env)}>{a.name}</Link>
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

/** A table's column headings (and an unlabelled one for row actions). */
function Columns(props: { names: string[]; actions?: boolean }) {
  return (
    <thead>
      <tr>
        {props.names.map((n) => (
          <th scope="col" key={n}>
            {n}
          </th>
        ))}
        {props.actions && (
          <th scope="col" class="actions">
            <span class="sr-only">Actions</span>
          </th>
        )}
      </tr>
    </thead>
  );
}

/** Previous and next pages of a list of `total` items, `size` at a time (nothing when one page holds them). */
function Pager(props: {
  offset: number;
  size: number;
  total: number;
  go: (offset: number) => void;
  labels: [string, string];
}) {
  const { offset, size, total } = props;
  if (total <= size) return null;
  return (
    <div class="pager">
      <button disabled={offset === 0} onClick={() => props.go(Math.max(0, offset - size))}>
        {props.labels[0]}
      </button>
      <span class="muted">
        {offset + 1}–{Math.min(offset + size, total)} of {total}
      </span>
      <button disabled={offset + size >= total} onClick={() => props.go(offset + size)}>
        {props.labels[1]}
      </button>
    </div>
  );
}

/** A time shown relative, with the absolute one on hover. */
function When(props: { at: string }) {
  const date = new Date(props.at);
  const seconds = Math.round((Date.now() - date.getTime()) / 1000);
  const relative =
    seconds < 60
      ? "just now"
      : seconds < 3600
        ? `${Math.floor(seconds / 60)} min ago`
        : seconds < 86400
          ? `${Math.floor(seconds / 3600)} h ago`
          : `${Math.floor(seconds / 86400)} d ago`;
  return (
    <time dateTime={props.at} title={date.toLocaleString()}>
      {relative}
    </time>
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
  // snapshot, and the control plane's event stream says so; the list is read again. (Server
  // snapshots' events are for admin keys; a read-only console reloads by hand for now.)
  useEffect(() => {
    if (!writable) return;
    const events = new EventSource(
      `/api/v1/snapshots/${encodeURIComponent(props.app)}/${encodeURIComponent(props.env)}/events`,
    );
    let seen = "";
    let timer: ReturnType<typeof setTimeout> | undefined;
    events.addEventListener("snapshot", (e) => {
      const version = (e as MessageEvent<string>).lastEventId;
      if (seen !== "" && version !== seen) {
        clearTimeout(timer);
        timer = setTimeout(() => void loadRef.current(), 100);
      }
      seen = version;
    });
    return () => {
      clearTimeout(timer);
      events.close();
    };
  }, [props.app, props.env, writable]);

  const shown = page?.items ?? [];

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
      <table class="list flags">
        <thead>
          <tr>
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

// --- one flag ------------------------------------------------------------------------------

/** What a serve says, in words. */
function served(serve: Serve): string {
  if ("variant" in serve) return serve.variant;
  const weights = Object.entries(serve.rollout.weights).map(([v, w]) => `${v} ${(w / 1000).toFixed(1)} %`);
  return `rollout: ${weights.join(", ")}`;
}

/** The part of an environment's state this screen edits. */
interface Draft {
  enabled: boolean;
  default: string;
  off_variant: string;
}

const draftOf = (s: StateRow): Draft => ({
  enabled: s.enabled,
  default: "variant" in s.default ? s.default.variant : "",
  off_variant: s.off_variant ?? "",
});

/**
 * The change a draft makes to the state it was started from, `base` (only what the user changed),
 * expecting `on`'s version: `base` itself, or — to reapply the user's change on top of someone
 * else's — the state that is current now, whose other fields are kept.
 */
function changeOf(draft: Draft, base: StateRow, on: StateRow): StateChange {
  const was = draftOf(base);
  const change: StateChange = { version: on.version };
  if (draft.enabled !== was.enabled) change.enabled = draft.enabled;
  if (draft.default !== was.default && draft.default !== "") change.default = { variant: draft.default };
  if (draft.off_variant !== was.off_variant) change.off_variant = draft.off_variant === "" ? null : draft.off_variant;
  return change;
}

/** One of a flag's variants, or (`none`, valued "") something that is not one of them. */
function VariantChoice(props: {
  value: string;
  onChange: (e: Event) => void;
  disabled: boolean;
  variants: string[];
  none?: string | undefined;
}) {
  return (
    <select value={props.value} onChange={props.onChange} disabled={props.disabled}>
      {props.none !== undefined && <option value="">{props.none}</option>}
      {props.variants.map((v) => (
        <option key={v} value={v}>
          {v}
        </option>
      ))}
    </select>
  );
}

function EnvironmentState(props: {
  app: string;
  flag: FlagView;
  env: Environment;
  state: StateRow;
  writable: boolean;
  saved: (state: StateRow) => void;
}) {
  const { state } = props;
  const [draft, setDraft] = useState<Draft>(() => draftOf(state));
  const [base, setBase] = useState(state);
  const [conflict, setConflict] = useState<StateRow | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const variants = props.flag.variants.map((v) => v.key);
  const dirty = JSON.stringify(draft) !== JSON.stringify(draftOf(base));
  const save = async (on: StateRow) => {
    setBusy(true);
    setError(null);
    try {
      const after = await api.changeState(props.app, props.flag.key, props.env.key, changeOf(draft, base, on));
      setBase(after);
      setDraft(draftOf(after));
      setConflict(null);
      props.saved(after);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 409 || err.status === 412)) {
        // Someone else changed it: show theirs, keep ours, overwrite nothing.
        const current = await api.flag(props.app, props.flag.key);
        const theirs = current.environments[props.env.key];
        if (theirs) setConflict(theirs);
      } else {
        setError(err);
      }
    } finally {
      setBusy(false);
    }
  };
  const set = (field: keyof Draft) => (e: Event) => {
    const target = e.target as HTMLInputElement | HTMLSelectElement;
    setDraft({ ...draft, [field]: field === "enabled" ? (target as HTMLInputElement).checked : target.value });
  };
  const id = `state-${props.env.key}`;
  return (
    <section class="card" aria-labelledby={id}>
      <h2 id={id}>
        {props.env.name} <span class="muted small">version {base.version}</span>
      </h2>
      <label class="check">
        <input type="checkbox" checked={draft.enabled} onChange={set("enabled")} disabled={!props.writable} /> Enabled
      </label>
      <label>
        Serves by default
        <VariantChoice
          value={draft.default}
          onChange={set("default")}
          disabled={!props.writable}
          variants={variants}
          none={draft.default === "" ? served(base.default) : undefined}
        />
      </label>
      <label>
        Serves while disabled
        <VariantChoice
          value={draft.off_variant}
          onChange={set("off_variant")}
          disabled={!props.writable}
          variants={variants}
          none="the caller's default"
        />
      </label>
      <p class="muted small">
        {base.rules.length === 0 ? "No rules." : `${base.rules.length} rule${base.rules.length === 1 ? "" : "s"}.`}{" "}
        {base.prerequisites.length > 0 && `${base.prerequisites.length} prerequisite(s).`}
      </p>
      {conflict && (
        <div class="conflict" role="alert">
          <p>
            <strong>Changed by someone else</strong> since you opened it (now version {conflict.version}). Nothing was
            overwritten. Theirs: {conflict.enabled ? "enabled" : "disabled"}, serving {served(conflict.default)}
            {conflict.off_variant ? `, ${conflict.off_variant} while disabled` : ""}.
          </p>
          <button onClick={() => save(conflict)} disabled={busy}>
            Apply mine on top
          </button>
          <button
            class="link"
            onClick={() => {
              setBase(conflict);
              setDraft(draftOf(conflict));
              setConflict(null);
            }}
          >
            Take theirs
          </button>
        </div>
      )}
      {props.writable && (
        <button onClick={() => save(base)} disabled={!dirty || busy || conflict !== null}>
          {busy ? "Saving…" : "Save"}
        </button>
      )}
      <Problem error={error} />
    </section>
  );
}

function FlagDetail(props: { session: Session; app: string; env: string; flag: string; envs: Environment[] }) {
  const [flag, setFlag] = useState<FlagView | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api.flag(props.app, props.flag).then(setFlag, setError);
  }, [props.app, props.flag]);
  if (!flag) return <Problem error={error} />;
  const writable = props.session.scope === "admin";
  return (
    <section aria-labelledby="flag-title">
      <p class="small">
        <Link href={flagsPath(props.app, props.env)}>← Flags in {props.app}</Link>
      </p>
      <h1 id="flag-title">
        <code>{flag.key}</code> <span class="muted small">{flag.type}</span>
      </h1>
      {flag.description && <p>{flag.description}</p>}
      <p class="muted small">
        Variants:{" "}
        {flag.variants.map((v) => (
          <span class="tag" key={v.key}>
            {v.key} = {JSON.stringify(v.value)}
          </span>
        ))}
      </p>
      <div class="cards">
        {props.envs.map((e) => {
          const state = flag.environments[e.key];
          return (
            state && (
              <EnvironmentState
                key={`${e.id}-${state.version}`}
                app={props.app}
                flag={flag}
                env={e}
                state={state}
                writable={writable}
                saved={(after) => setFlag({ ...flag, environments: { ...flag.environments, [e.key]: after } })}
              />
            )
          );
        })}
      </div>
    </section>
  );
}

/** A choice of one application or environment by key, shown by name (or `every` of them). */
function Named(props: {
  value: string;
  onChange: (e: Event) => void;
  of: { id: string; key: string; name: string }[];
  every?: string;
}) {
  return (
    <select value={props.value} onChange={props.onChange}>
      {props.every !== undefined && <option value="">{props.every}</option>}
      {props.of.map((n) => (
        <option key={n.id} value={n.key}>
          {n.name}
        </option>
      ))}
    </select>
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
  const [filter, setFilter] = useState({ entity_type: "", entity: "", action: "", actor: "" });
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<{ items: AuditEntry[]; total: number } | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api
      .audit({ ...filter, limit: AUDIT_PAGE, offset })
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
                  <div class="sides">
                    <div>
                      <h3>Before</h3>
                      <pre>{e.before === undefined || e.before === null ? "—" : JSON.stringify(e.before, null, 2)}</pre>
                    </div>
                    <div>
                      <h3>After</h3>
                      <pre>{e.after === undefined || e.after === null ? "—" : JSON.stringify(e.after, null, 2)}</pre>
                    </div>
                  </div>
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
