// Differences between two texts, line by line (jsdiff's `diffLines`), as a reader sees them:
// removed lines red, added lines green, long unchanged stretches folded.

import { diffLines } from "diff";

/** Unchanged lines kept around each change; longer stretches are folded. */
const CONTEXT = 3;

export function LineDiff(props: { before: string; after: string }) {
  const parts = diffLines(props.before, props.after);
  if (parts.every((p) => !p.added && !p.removed)) return <p class="muted small">No difference.</p>;
  const rows: { sign: string; text: string; kind: string }[] = [];
  parts.forEach((part, i) => {
    const lines = part.value.replace(/\n$/, "").split("\n");
    if (part.added || part.removed) {
      for (const text of lines) rows.push({ sign: part.added ? "+" : "−", text, kind: part.added ? "add" : "del" });
      return;
    }
    const head = i === 0 ? 0 : CONTEXT;
    const tail = i === parts.length - 1 ? 0 : CONTEXT;
    if (lines.length <= head + tail + 1) {
      for (const text of lines) rows.push({ sign: " ", text, kind: "same" });
      return;
    }
    for (const text of lines.slice(0, head)) rows.push({ sign: " ", text, kind: "same" });
    rows.push({ sign: "⋯", text: `${lines.length - head - tail} unchanged lines`, kind: "fold" });
    for (const text of lines.slice(lines.length - tail)) rows.push({ sign: " ", text, kind: "same" });
  });
  return (
    <pre class="diff" aria-label="Differences">
      {rows.map((r, i) => (
        <div key={i} class={r.kind}>
          <span class="sign" aria-hidden="true">
            {r.sign}
          </span>
          {r.kind === "add" && <span class="sr-only">added: </span>}
          {r.kind === "del" && <span class="sr-only">removed: </span>}
          {r.text}
        </div>
      ))}
    </pre>
  );
}
