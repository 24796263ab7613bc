// Segments: who they contain (conditions, and lists of keys that are always in or always out —
// pasted, uploaded, counted, searched, downloaded) and which flags use them.

import { useEffect, useMemo, useState } from "preact/hooks";

import { ApiError, api } from "./client";
import type { Condition, FlagView, SegmentRow, Session } from "./client";
import { liveSnapshot, membership, namesSegment, sampleKeys, segmentImpact } from "./engine";
import type { Impact, SnapshotDocument } from "./engine";
import { ConditionEditor, problemsOf } from "./flag";
import { Columns, Conflict, Link, Problem, QuickCreate, flagPath, usePreviewContext, useVersionedSave } from "./ui";

export const segmentsPath = (app: string, env: string) =>
  `/ui/a/${encodeURIComponent(app)}/${encodeURIComponent(env)}/segments`;
const segmentPath = (app: string, env: string, key: string) => `${segmentsPath(app, env)}/${encodeURIComponent(key)}`;

/** Where a segment is used: each flag and environment whose rules name it. */
function usesOf(segment: string, flags: FlagView[]): { flag: string; env: string }[] {
  const uses: { flag: string; env: string }[] = [];
  for (const f of flags) {
    for (const [env, state] of Object.entries(f.environments)) {
      if (namesSegment(state.rules, segment)) uses.push({ flag: f.key, env });
    }
  }
  return uses;
}

export function Segments(props: { session: Session; app: string; env: string }) {
  const [segments, setSegments] = useState<SegmentRow[] | null>(null);
  const [flags, setFlags] = useState<FlagView[]>([]);
  const [error, setError] = useState<unknown>(null);
  const load = () => api.segments(props.app).then((p) => setSegments(p.items), setError);
  useEffect(() => {
    void load();
    api.flags(props.app, { limit: 1000 }).then((p) => setFlags(p.items), setError);
  }, [props.app]);
  return (
    <section aria-labelledby="segments-title">
      <h1 id="segments-title">
        Segments <span class="muted">in {props.app}</span>
      </h1>
      {segments && segments.length === 0 && <p class="muted">No segments here yet.</p>}
      {segments && segments.length > 0 && (
        <table class="list">
          <Columns names={["Segment", "Conditions", "Always in", "Always out", "Used by"]} />
          <tbody>
            {segments.map((s) => (
              <tr key={s.id}>
                <td>
                  <Link href={segmentPath(props.app, props.env, s.key)}>
                    <code>{s.key}</code>
                  </Link>
                  {s.description && <div class="muted small">{s.description}</div>}
                </td>
                <td>{s.conditions.length}</td>
                <td>{s.included.length.toLocaleString()}</td>
                <td>{s.excluded.length.toLocaleString()}</td>
                <td>{usesOf(s.key, flags).length}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {props.session.scope === "admin" && (
        <QuickCreate
          label="New segment"
          placeholder="beta-testers"
          field="key"
          create={async (text) => {
            await api.createSegment(props.app, { key: text });
            await load();
          }}
        />
      )}
      <Problem error={error} />
    </section>
  );
}

/** Keys pasted or read from a file: one per line, or separated by commas or spaces. */
const keysIn = (text: string) => text.split(/[\s,]+/).filter((k) => k !== "");

/** How many matches of a search a list shows (the count says how many there are). */
const SHOWN = 200;

/** A list of keys: counted, searched, added to by pasting or uploading, downloaded. */
function KeyList(props: {
  title: string;
  keys: string[];
  name: string;
  writable: boolean;
  problems: string[];
  onChange: (keys: string[]) => void;
}) {
  const [search, setSearch] = useState("");
  const [pasted, setPasted] = useState("");
  const matches = useMemo(
    () => (search === "" ? props.keys : props.keys.filter((k) => k.includes(search))),
    [props.keys, search],
  );
  const add = (text: string) => {
    const have = new Set(props.keys);
    const added: string[] = [];
    for (const k of keysIn(text)) {
      if (have.has(k)) continue;
      have.add(k);
      added.push(k);
    }
    props.onChange([...props.keys, ...added]);
  };
  const download = () => {
    const url = URL.createObjectURL(new Blob([props.keys.join("\n") + "\n"], { type: "text/plain" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = `${props.name}.txt`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  const id = props.name.replace(/\W+/g, "-");
  return (
    <fieldset class="keys">
      <legend>
        {props.title}: <span data-testid={`${id}-count`}>{props.keys.length.toLocaleString()}</span> keys
      </legend>
      <div class="filters">
        <input
          type="search"
          aria-label={`Search ${props.title.toLowerCase()}`}
          placeholder="Search keys"
          value={search}
          onInput={(e) => setSearch((e.target as HTMLInputElement).value)}
        />
        <button type="button" class="link" onClick={download} disabled={props.keys.length === 0}>
          Download
        </button>
        {props.writable && search !== "" && matches.length > 0 && (
          <button
            type="button"
            class="link danger"
            onClick={() => {
              const gone = new Set(matches);
              props.onChange(props.keys.filter((k) => !gone.has(k)));
              setSearch("");
            }}
          >
            Remove the {matches.length.toLocaleString()} shown
          </button>
        )}
      </div>
      <ul class="key-list">
        {matches.slice(0, SHOWN).map((k) => (
          <li key={k}>
            <code>{k}</code>
          </li>
        ))}
      </ul>
      {matches.length > SHOWN && (
        <p class="muted small">
          {SHOWN} of {matches.length.toLocaleString()} {search ? "matches" : "keys"} shown; search to find others.
        </p>
      )}
      {props.writable && (
        <div class="paste">
          <textarea
            rows={3}
            aria-label={`Keys to add to ${props.title.toLowerCase()}`}
            placeholder="Paste keys: one per line, or separated by commas or spaces"
            value={pasted}
            onInput={(e) => setPasted((e.target as HTMLTextAreaElement).value)}
            onPaste={(e) => {
              // Taken in one piece: the browser's own insertion of a long multi-line paste
              // lays the textarea out again line by line (100k keys would take minutes).
              const text = e.clipboardData?.getData("text");
              if (!text) return;
              e.preventDefault();
              const area = e.target as HTMLTextAreaElement;
              setPasted(area.value.slice(0, area.selectionStart) + text + area.value.slice(area.selectionEnd));
            }}
          />
          <div class="actions-row">
            <button
              type="button"
              disabled={pasted.trim() === ""}
              onClick={() => {
                add(pasted);
                setPasted("");
              }}
            >
              Add {keysIn(pasted).length.toLocaleString()} keys
            </button>
            <label class="upload">
              or upload a file
              <input
                type="file"
                accept=".txt,.csv,text/plain,text/csv"
                onChange={async (e) => {
                  const file = (e.target as HTMLInputElement).files?.[0];
                  if (file) add(await file.text());
                }}
              />
            </label>
          </div>
        </div>
      )}
      {props.problems.length > 0 && (
        <span class="field-problem" role="alert">
          {props.problems.join("; ")}
        </span>
      )}
    </fieldset>
  );
}

interface SegmentDraft {
  description: string;
  conditions: Condition[];
  included: string[];
  excluded: string[];
}

const draftOf = (s: SegmentRow): SegmentDraft => ({
  description: s.description,
  conditions: s.conditions,
  included: s.included,
  excluded: s.excluded,
});

export function SegmentDetail(props: { session: Session; app: string; env: string; segment: string }) {
  const [segment, setSegment] = useState<SegmentRow | null>(null);
  const [draft, setDraft] = useState<SegmentDraft | null>(null);
  const [flags, setFlags] = useState<FlagView[]>([]);
  const [segments, setSegments] = useState<SegmentRow[]>([]);
  const { busy, error, setError, conflict, setConflict, save: versioned } = useVersionedSave<SegmentRow>();
  const [saved, setSaved] = useState(false);
  const [impacts, setImpacts] = useState<{
    keys: number;
    members: boolean;
    by: { flag: string; impact: Impact }[];
  } | null>(null);
  const [estimating, setEstimating] = useState(false);
  useEffect(() => setImpacts(null), [draft]);
  // Is a context a member, live and with the draft? (Admin sessions: the engine needs the
  // server snapshot.) Recomputed when the draft's membership or the context changes.
  const [snapshot, setSnapshot] = useState<SnapshotDocument | null>(null);
  const [context, setContext] = usePreviewContext();
  const [member, setMember] = useState<{ live: boolean; draft: boolean } | string | null>(null);
  useEffect(() => {
    if (props.session.scope !== "admin") return;
    liveSnapshot(props.app, props.env).then(setSnapshot, setError);
  }, [props.app, props.env, segment?.version]);
  useEffect(() => {
    if (!snapshot || !draft || !segment) return;
    try {
      JSON.parse(context);
    } catch {
      setMember("The context is not JSON.");
      return;
    }
    const { conditions, included, excluded } = draft;
    // An answer for an older draft or context may arrive after a newer one: only the newest counts.
    let newest = true;
    membership(snapshot, segment.key, { conditions, included, excluded }, context).then(
      (m) => newest && setMember(m),
      setError,
    );
    return () => {
      newest = false;
    };
  }, [snapshot, draft?.conditions, draft?.included, draft?.excluded, context]);
  const writable = props.session.scope === "admin";
  useEffect(() => {
    api.segment(props.app, props.segment).then((s) => {
      setSegment(s);
      setDraft(draftOf(s));
    }, setError);
    api.flags(props.app, { limit: 1000 }).then((p) => setFlags(p.items), setError);
    api.segments(props.app).then((p) => setSegments(p.items), setError);
  }, [props.app, props.segment]);
  if (!segment || !draft) return <Problem error={error} />;
  const dirty = JSON.stringify(draft) !== JSON.stringify(draftOf(segment));
  const problems = problemsOf(error instanceof ApiError ? error.details : []);
  const on = (path: string) => [...problems.entries()].filter(([p]) => p.startsWith(path)).flatMap(([, m]) => m);
  const save = (version: number) => {
    setSaved(false);
    return versioned(
      () => api.changeSegment(props.app, segment.key, { ...draft, version }),
      () => api.segment(props.app, segment.key),
      (after) => {
        setSegment(after);
        setDraft(draftOf(after));
        setSaved(true);
      },
    );
  };
  const uses = usesOf(segment.key, flags);
  // The draft's impact in this environment, on the real engine: the segment's members (or a
  // sample of 100,000 keys when it lists none) through every flag that names it, live vs draft.
  const estimate = async () => {
    setEstimating(true);
    try {
      const live = snapshot ?? (await liveSnapshot(props.app, props.env));
      const members = [...new Set([...segment.included, ...draft.included, ...draft.excluded])];
      const keys = members.length > 0 ? members : sampleKeys(100_000);
      setImpacts({
        keys: keys.length,
        members: members.length > 0,
        by: await segmentImpact(live, segment.key, draft, keys, context),
      });
    } catch (err) {
      setError(err);
    } finally {
      setEstimating(false);
    }
  };
  const set = (change: Partial<SegmentDraft>) => {
    setSaved(false);
    setDraft({ ...draft, ...change });
  };
  return (
    <section aria-labelledby="segment-title">
      <p class="small">
        <Link href={segmentsPath(props.app, props.env)}>← Segments in {props.app}</Link>
      </p>
      <h1 id="segment-title">
        <code>{segment.key}</code> <span class="muted small">version {segment.version}</span>
      </h1>
      <div class="targeting">
        <section class="card grow" aria-label="Members">
          <label>
            Description
            <input
              value={draft.description}
              disabled={!writable}
              onInput={(e) => set({ description: (e.target as HTMLInputElement).value })}
            />
          </label>
          <fieldset>
            <legend>Members by attributes (all must hold)</legend>
            {draft.conditions.length === 0 && <p class="muted small">None: only the lists below decide.</p>}
            {draft.conditions.map((c, i) => (
              <ConditionEditor
                key={i}
                condition={c}
                path={`conditions[${i}]`}
                label={`Condition ${i + 1}`}
                problems={problems}
                segments={segments.filter((s) => s.key !== segment.key)}
                disabled={!writable}
                onChange={(next) => set({ conditions: draft.conditions.map((old, j) => (j === i ? next : old)) })}
                onRemove={() => set({ conditions: draft.conditions.filter((_, j) => j !== i) })}
              />
            ))}
            {writable && (
              <button
                type="button"
                class="link"
                onClick={() =>
                  set({ conditions: [...draft.conditions, { attribute: "", operator: "eq", values: [] }] })
                }
              >
                + Add a condition
              </button>
            )}
          </fieldset>
          <KeyList
            title="Always in"
            name={`${segment.key}-included`}
            keys={draft.included}
            writable={writable}
            problems={on("included")}
            onChange={(included) => set({ included })}
          />
          <p class="muted small">
            A key in both lists is in: "always in" wins, then "always out", then the conditions.
          </p>
          <KeyList
            title="Always out"
            name={`${segment.key}-excluded`}
            keys={draft.excluded}
            writable={writable}
            problems={on("excluded")}
            onChange={(excluded) => set({ excluded })}
          />
          {conflict && (
            <Conflict
              version={conflict.version}
              theirs={`${conflict.included.length.toLocaleString()} keys always in, ${conflict.conditions.length} condition(s)`}
              busy={busy}
              mine={() => save(conflict.version)}
              take={() => {
                setSegment(conflict);
                setDraft(draftOf(conflict));
                setConflict(null);
              }}
            />
          )}
          {writable && (
            <div class="actions-row">
              <button onClick={() => save(segment.version)} disabled={!dirty || busy || conflict !== null}>
                {busy ? "Saving…" : "Save"}
              </button>
              {saved && (
                <span class="muted" role="status">
                  Saved.
                </span>
              )}
            </div>
          )}
          <Problem error={error} />
        </section>
        <aside class="card" aria-labelledby="used-by">
          <h2 id="used-by">Used by</h2>
          {uses.length === 0 ? (
            <p class="muted small">No flag's rules name this segment.</p>
          ) : (
            <ul>
              {uses.map((u) => (
                <li key={`${u.flag}/${u.env}`}>
                  <Link href={flagPath(props.app, u.env, u.flag)}>
                    <code>{u.flag}</code>
                  </Link>{" "}
                  <span class="muted">in {u.env}</span>
                </li>
              ))}
            </ul>
          )}
          {writable && (
            <div class="impact" data-testid="segment-member">
              <h2>Is this context a member?</h2>
              <textarea
                class="code"
                rows={3}
                spellcheck={false}
                aria-label="Context (JSON)"
                value={context}
                onInput={(e) => setContext((e.target as HTMLTextAreaElement).value)}
              />
              {typeof member === "string" && <span class="field-problem">{member}</span>}
              {member && typeof member !== "string" && (
                <p>
                  Live: <strong data-testid="member-live">{member.live ? "member" : "not a member"}</strong> · Draft:{" "}
                  <strong data-testid="member-draft" class={member.live !== member.draft ? "changed" : ""}>
                    {member.draft ? "member" : "not a member"}
                  </strong>
                </p>
              )}
            </div>
          )}
          {writable && uses.length > 0 && (
            <div class="impact" data-testid="segment-impact">
              <h2>Impact of this draft in {props.env}</h2>
              <button type="button" onClick={estimate} disabled={estimating}>
                {estimating ? "Estimating…" : "Estimate"}
              </button>
              {impacts && (
                <>
                  <p class="small muted">
                    Over {impacts.keys.toLocaleString()} {impacts.members ? "members (kept or listed)" : "sample keys"}:
                  </p>
                  {impacts.by.length === 0 && <p class="small">No flag here names this segment.</p>}
                  <ul class="small">
                    {impacts.by.map(({ flag, impact }) => (
                      <li key={flag}>
                        <code>{flag}</code>: {impact.changed.toLocaleString()} would change
                        {impact.moves.length > 0 &&
                          ` (${impact.moves.map(([m, n]) => `${m}: ${n.toLocaleString()}`).join("; ")})`}
                      </li>
                    ))}
                  </ul>
                </>
              )}
            </div>
          )}
        </aside>
      </div>
    </section>
  );
}
