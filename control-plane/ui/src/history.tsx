// Versions of a flag's state or a config: any two compared line by line, and an earlier one
// restored (as a new version: history is never rewritten).

import { useEffect, useState } from "preact/hooks";

import { LineDiff } from "./diff";
import { Problem, When } from "./ui";

/** One version as the history shows it: its content is what is compared. */
export interface Version {
  version: number;
  at: string;
  actor?: string | null;
  content: unknown;
}

export function History(props: {
  title: string;
  load: () => Promise<Version[]>;
  /** Restores a version; absent for read-only sessions. */
  rollback?: ((version: number) => Promise<void>) | undefined;
  /** Changes when the thing itself changed (a save, a rollback): the list is read again. */
  current: number;
}) {
  const [versions, setVersions] = useState<Version[] | null>(null);
  const [from, setFrom] = useState<number | null>(null);
  const [to, setTo] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    props.load().then((list) => {
      const sorted = [...list].sort((a, b) => b.version - a.version);
      setVersions(sorted);
      // By default: the latest change (the newest version against the one before it).
      setTo(sorted[0]?.version ?? null);
      setFrom(sorted[1]?.version ?? sorted[0]?.version ?? null);
    }, setError);
  }, [props.current]);
  if (!versions) return <Problem error={error} />;
  const text = (v: number | null) => JSON.stringify(versions.find((x) => x.version === v)?.content ?? null, null, 2);
  const latest = versions[0]?.version;
  return (
    <section class="card" aria-labelledby="history-title">
      <h2 id="history-title">{props.title}</h2>
      <table class="list history">
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">When</th>
            <th scope="col">By</th>
            <th scope="col">From</th>
            <th scope="col">To</th>
            {props.rollback && (
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {versions.map((v) => (
            <tr key={v.version}>
              <td>{v.version}</td>
              <td>
                <When at={v.at} />
              </td>
              <td class="muted actor" title={v.actor ?? ""}>
                {v.actor ?? "—"}
              </td>
              {(["from", "to"] as const).map((side) => (
                <td key={side}>
                  <input
                    type="radio"
                    name={`history-${side}`}
                    aria-label={`Compare ${side} version ${v.version}`}
                    checked={(side === "from" ? from : to) === v.version}
                    onChange={() => (side === "from" ? setFrom : setTo)(v.version)}
                  />
                </td>
              ))}
              {props.rollback && (
                <td>
                  {v.version !== latest && (
                    <button
                      class="link"
                      disabled={busy}
                      onClick={async () => {
                        setBusy(true);
                        setError(null);
                        try {
                          await props.rollback?.(v.version);
                        } catch (e) {
                          setError(e);
                        } finally {
                          setBusy(false);
                        }
                      }}
                    >
                      Roll back to {v.version}
                    </button>
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {from !== null && to !== null && (
        <>
          <p class="small muted">
            Version {from} → version {to}
          </p>
          <LineDiff before={text(from)} after={text(to)} />
        </>
      )}
      <Problem error={error} />
    </section>
  );
}
