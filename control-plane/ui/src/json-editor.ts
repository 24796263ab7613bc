// A JSON editor (CodeMirror 6: syntax highlighting, bracket matching, undo, problems marked as
// typed), loaded the first time a JSON field is shown: it is not in the console's first load.

import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { json, jsonParseLinter } from "@codemirror/lang-json";
import { bracketMatching, defaultHighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { linter, lintGutter } from "@codemirror/lint";
import { EditorState } from "@codemirror/state";
import { EditorView, keymap, lineNumbers } from "@codemirror/view";

export interface JsonEditor {
  /** Replaces the text (when it changed elsewhere: a reset, a rollback). */
  set(text: string): void;
  destroy(): void;
}

/**
 * The console's look, from its own CSS variables (they reach into the shadow root), so the
 * editor follows light and dark mode.
 */
const look = EditorView.theme({
  "&": {
    color: "var(--text)",
    backgroundColor: "var(--panel)",
    border: "1px solid var(--line)",
    borderRadius: "6px",
    fontSize: "13px",
  },
  "&.cm-focused": { outline: "2px solid var(--focus)", outlineOffset: "2px" },
  ".cm-content": { fontFamily: 'ui-monospace, "SF Mono", Menlo, Consolas, monospace', caretColor: "var(--text)" },
  ".cm-gutters": { backgroundColor: "var(--bg)", color: "var(--muted)", border: "none", borderRadius: "6px 0 0 6px" },
  ".cm-scroller": { maxHeight: "320px", overflow: "auto" },
});

/**
 * Mounts an editor in `parent` showing `text`; `changed` gets every edit's text. It lives in a
 * shadow root: there CodeMirror's styles are constructed stylesheets, which the console's
 * Content-Security-Policy (no inline `<style>`) allows, rather than a `<style>` element.
 */
export function mount(
  parent: HTMLElement,
  text: string,
  options: { label: string; readOnly: boolean; changed: (text: string) => void },
): JsonEditor {
  const root = parent.shadowRoot ?? parent.attachShadow({ mode: "open" });
  const view = new EditorView({
    parent: root,
    root,
    state: EditorState.create({
      doc: text,
      extensions: [
        lineNumbers(),
        history(),
        bracketMatching(),
        json(),
        syntaxHighlighting(defaultHighlightStyle),
        linter(jsonParseLinter(), { delay: 150 }),
        lintGutter(),
        // Tab indents inside the editor; Escape then Tab leaves it (CodeMirror's rule), so the
        // keyboard is never trapped.
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        look,
        EditorState.readOnly.of(options.readOnly),
        EditorView.editable.of(!options.readOnly),
        EditorView.contentAttributes.of({ "aria-label": options.label }),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) options.changed(update.state.doc.toString());
        }),
      ],
    }),
  });
  return {
    set(next: string) {
      if (next !== view.state.doc.toString())
        view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: next } });
    },
    destroy: () => view.destroy(),
  };
}
