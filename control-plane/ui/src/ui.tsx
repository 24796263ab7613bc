// Pieces every screen uses: navigation, links, problems, lists and times.

import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

import { ApiError } from "./client";

export function go(path: string): void {
  history.pushState(null, "", path);
  dispatchEvent(new PopStateEvent("popstate"));
}

export const flagsPath = (app: string, env: string) => `/ui/a/${encodeURIComponent(app)}/${encodeURIComponent(env)}`;
export const flagPath = (app: string, env: string, flag: string) =>
  `${flagsPath(app, env)}/flags/${encodeURIComponent(flag)}`;

/** Internal links navigate without a reload; new tabs and modified clicks work as links do. */
export function Link(props: { href: string; children: ComponentChildren; class?: string }) {
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

export function Problem(props: { error: unknown }) {
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
export function QuickCreate(props: {
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

export function Columns(props: { names: string[]; actions?: boolean }) {
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
export function Pager(props: {
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
export function When(props: { at: string }) {
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

/** A choice of one application or environment by key, shown by name (or `every` of them). */
export function Named(props: {
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

/**
 * Follows an environment's server-snapshot events (versions only; admin and read sessions): `changed` is called, a moment
 * later and once for a burst, after each new version — a change made anywhere.
 */
export function useSnapshotEvents(app: string, env: string, enabled: boolean, changed: () => void) {
  const callback = useRef(changed);
  callback.current = changed;
  useEffect(() => {
    if (!enabled) return;
    const events = new EventSource(`/api/v1/snapshots/${encodeURIComponent(app)}/${encodeURIComponent(env)}/events`);
    let seen = "";
    let timer: ReturnType<typeof setTimeout> | undefined;
    events.addEventListener("snapshot", (e) => {
      const version = (e as MessageEvent<string>).lastEventId;
      if (seen !== "" && version !== seen) {
        clearTimeout(timer);
        timer = setTimeout(() => callback.current(), 100);
      }
      seen = version;
    });
    return () => {
      clearTimeout(timer);
      events.close();
    };
  }, [app, env, enabled]);
}

/** Someone else saved first: what they saved, and the two ways on. Nothing was overwritten. */
export function Conflict(props: {
  version: number;
  theirs: string;
  busy: boolean;
  mine: () => void;
  take: () => void;
}) {
  return (
    <div class="conflict" role="alert">
      <p>
        <strong>Changed by someone else</strong> since you opened it (now version {props.version}). Nothing was
        overwritten. Theirs: {props.theirs}.
      </p>
      <button onClick={props.mine} disabled={props.busy}>
        Apply mine on top
      </button>
      <button class="link" onClick={props.take}>
        Take theirs
      </button>
    </div>
  );
}

/** A typed value (a flag variant's, a config's) as the user types it, read by its type. */
export function readValue(type: string, text: string): { value?: unknown; problem?: string } {
  switch (type) {
    case "boolean":
      return text === "true" || text === "false" ? { value: text === "true" } : { problem: "true or false" };
    case "number": {
      const n = Number(text);
      return text.trim() !== "" && Number.isFinite(n) ? { value: n } : { problem: "a number" };
    }
    case "json":
      try {
        return { value: JSON.parse(text) as unknown };
      } catch (e) {
        return { problem: `not JSON: ${e instanceof Error ? e.message : String(e)}` };
      }
    default:
      return { value: text };
  }
}

/** A typed value as text to edit: strings as they are, JSON pretty-printed. */
export const valueText = (type: string, value: unknown) =>
  type === "json" ? JSON.stringify(value, null, 2) : type === "string" ? String(value ?? "") : JSON.stringify(value);

/**
 * Saving a draft that expects a version. `save(send, theirs, saved)`: `send` writes; a 409/412
 * means someone else saved first, and `theirs` reads what they saved — shown as the conflict,
 * nothing overwritten; any other failure (a refusal, the network) is the error, and the draft
 * stays as it is, to fix or to send again; `saved` gets the server's answer.
 */
export function useVersionedSave<T>() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [conflict, setConflict] = useState<T | null>(null);
  const save = async (send: () => Promise<T>, theirs: () => Promise<T | undefined>, saved: (after: T) => void) => {
    setBusy(true);
    setError(null);
    try {
      const after = await send();
      setConflict(null);
      saved(after);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 409 || err.status === 412)) {
        try {
          const current = await theirs();
          if (current !== undefined) setConflict(current);
        } catch (again) {
          setError(again);
        }
      } else {
        setError(err);
      }
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, conflict, setConflict, save };
}

/**
 * A JSON field: CodeMirror (loaded on first use) over a textarea that stands in until it is
 * loaded, or if it cannot be. `onInput` gets the text as it is typed.
 */
export function JsonField(props: {
  value: string;
  label: string;
  disabled: boolean;
  invalid?: boolean;
  onInput: (text: string) => void;
}) {
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<import("./json-editor").JsonEditor | null>(null);
  const latest = useRef(props.onInput);
  latest.current = props.onInput;
  // What was typed in the stand-in while the editor loaded is what the editor starts with.
  const text = useRef(props.value);
  text.current = props.value;
  const [ready, setReady] = useState(false);
  useEffect(() => {
    let gone = false;
    import("./json-editor").then(
      (m) => {
        if (gone || !host.current) return;
        editor.current = m.mount(host.current, text.current, {
          label: props.label,
          readOnly: props.disabled,
          changed: (text) => latest.current(text),
        });
        setReady(true);
      },
      () => {},
    );
    return () => {
      gone = true;
      editor.current?.destroy();
      editor.current = null;
    };
  }, [props.disabled]);
  useEffect(() => editor.current?.set(props.value), [props.value]);
  return (
    <div class={`json-field${props.invalid ? " invalid" : ""}`}>
      <div ref={host} />
      {!ready && (
        <textarea
          class="code"
          rows={Math.min(12, props.value.split("\n").length + 1)}
          aria-label={props.label}
          aria-invalid={props.invalid}
          spellcheck={false}
          value={props.value}
          disabled={props.disabled}
          onInput={(e) => props.onInput((e.target as HTMLTextAreaElement).value)}
        />
      )}
    </div>
  );
}

const PREVIEW_CONTEXT = "vane.preview.context";

/**
 * The context the previews evaluate (a flag's, a segment's, the playground's): JSON text, shared
 * by every screen for the tab's session.
 */
export function usePreviewContext(): [string, (text: string) => void] {
  const [context, setContext] = useState(() => sessionStorage.getItem(PREVIEW_CONTEXT) ?? '{"targetingKey": "user-1"}');
  const set = (text: string) => {
    sessionStorage.setItem(PREVIEW_CONTEXT, text);
    setContext(text);
  };
  return [context, set];
}
