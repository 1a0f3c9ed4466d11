// The template editor: CodeMirror 6 over the form's textarea, which stays the form field (the
// page works without JavaScript, and the editor writes its text back before the form is sent).
// YAML highlighting with the Go template actions marked, line numbers, search (Ctrl+F), and the
// server's lint (POST /api/v1/templates/lint/) at the lines it names, asked for on load and a
// moment after each change. The render preview (template-preview.js) renders the body being
// written; once a machine is chosen there, the lint renders on that machine too.

import { EditorState, StateEffect } from "@codemirror/state";
import {
  Decoration,
  EditorView,
  MatchDecorator,
  ViewPlugin,
  crosshairCursor,
  drawSelection,
  dropCursor,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
  rectangularSelection,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import {
  HighlightStyle,
  bracketMatching,
  defaultHighlightStyle,
  foldGutter,
  foldKeymap,
  indentOnInput,
  indentUnit,
  syntaxHighlighting,
} from "@codemirror/language";
import { highlightSelectionMatches, searchKeymap } from "@codemirror/search";
import { lintGutter, lintKeymap, linter } from "@codemirror/lint";
import { yaml } from "@codemirror/lang-yaml";
import { tags } from "@lezer/highlight";
import { postJSON, setUpPreview } from "./template-preview.js";

const LINT_DELAY = 500;
// Choosing a machine in the preview: the lint asks again, on that machine.
const machineChosen = StateEffect.define();

// Colours from CSS variables (rackpilot.css sets them for the light and the dark theme), so
// the theme button repaints the editor without rebuilding it.
const rackpilotHighlight = HighlightStyle.define([
  { tag: tags.definition(tags.propertyName), color: "var(--rp-cm-key)" },
  { tag: [tags.string, tags.special(tags.string)], color: "var(--rp-cm-string)" },
  { tag: tags.content, color: "var(--rp-cm-text)" },
  { tag: tags.lineComment, color: "var(--rp-cm-comment)", fontStyle: "italic" },
  { tag: [tags.keyword, tags.typeName, tags.labelName], color: "var(--rp-cm-keyword)" },
  { tag: [tags.meta, tags.attributeValue], color: "var(--rp-cm-meta)" },
  { tag: [tags.separator, tags.punctuation, tags.squareBracket, tags.brace], color: "var(--rp-cm-punctuation)" },
]);

const editorTheme = EditorView.theme({
  "&": {
    color: "var(--bs-body-color)",
    backgroundColor: "var(--bs-body-bg)",
    fontSize: ".8125rem",
  },
  ".cm-scroller": { fontFamily: "var(--bs-font-monospace)", lineHeight: "1.5" },
  "&.cm-focused": {
    outline: "none",
    borderColor: "#86b7fe",
    boxShadow: "0 0 0 .25rem rgba(13, 110, 253, .25)",
  },
  ".cm-content": { caretColor: "var(--bs-body-color)" },
  ".cm-cursor, .cm-dropCursor": { borderLeftColor: "var(--bs-body-color)" },
  "&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection": {
    backgroundColor: "var(--rp-cm-selection)",
  },
  ".cm-gutters": {
    color: "var(--bs-secondary-color)",
    backgroundColor: "var(--bs-tertiary-bg)",
    borderRight: "var(--bs-border-width) solid var(--bs-border-color)",
  },
  ".cm-activeLine": { backgroundColor: "var(--rp-cm-active-line)" },
  ".cm-activeLineGutter": { backgroundColor: "var(--rp-cm-active-line)", color: "var(--bs-body-color)" },
  ".cm-panels": { backgroundColor: "var(--bs-tertiary-bg)", color: "var(--bs-body-color)" },
  ".cm-panels-bottom": { borderTop: "var(--bs-border-width) solid var(--bs-border-color)" },
  ".cm-tooltip": {
    backgroundColor: "var(--bs-body-bg)",
    color: "var(--bs-body-color)",
    border: "var(--bs-border-width) solid var(--bs-border-color)",
  },
  ".cm-searchMatch": { backgroundColor: "var(--rp-cm-match)" },
  ".cm-matchingBracket": { backgroundColor: "var(--rp-cm-match)", outline: "none" },
});

// {{ ... }}: the Go template actions, which YAML highlighting knows nothing about.
const templateActions = new MatchDecorator({
  regexp: /\{\{.*?\}\}/g,
  decoration: Decoration.mark({ class: "rp-cm-action" }),
});
const templateActionHighlight = ViewPlugin.define(
  (view) => ({
    decorations: templateActions.createDeco(view),
    update(update) {
      this.decorations = templateActions.updateDeco(update, this.decorations);
    },
  }),
  { decorations: (plugin) => plugin.decorations },
);

// A diagnostic's range: from its column to the end of the word there (the whole line when it
// points at the line's start), never past the line.
function diagnosticRange(doc, line, column) {
  const number = Math.min(Math.max(line, 1), doc.lines);
  const text = doc.line(number);
  const offset = Math.min(Math.max((column || 1) - 1, 0), text.length);
  const from = text.from + offset;
  let to = text.to;
  if (offset > 0) {
    const rest = text.text.slice(offset);
    const word = /^[\w.\/-]+/.exec(rest) || /^\S+/.exec(rest);
    to = word ? from + word[0].length : text.to;
  }
  return { from, to: Math.max(to, from) };
}

function lintStatus(element, result) {
  if (!element) {
    return;
  }
  const errors = result.diagnostics.filter((d) => d.severity === "error").length;
  const warnings = result.diagnostics.length - errors;
  const where = result.rendered_for === "sample" ? "on a sample machine" : `on ${result.rendered_for}`;
  let text;
  let tone;
  if (!result.saveable) {
    text = `Saving would refuse this body: ${errors} error${errors === 1 ? "" : "s"} in its template syntax.`;
    tone = "text-danger";
  } else if (errors) {
    text = `${errors} error${errors === 1 ? "" : "s"} when rendered ${where}; saving accepts it, a workflow would not start.`;
    tone = "text-danger";
  } else if (warnings) {
    text = `Renders ${where}, with ${warnings} warning${warnings === 1 ? "" : "s"}.`;
    tone = "text-warning-emphasis";
  } else {
    text = `No problems: renders ${where}.`;
    tone = "text-success";
  }
  element.className = `small mt-1 ${tone}`;
  element.textContent = text;
  element.dataset.errors = String(errors);
  element.dataset.warnings = String(warnings);
}

function setUpEditor(container) {
  const field = container.querySelector("[data-rp-editor]");
  const textarea = field && field.querySelector("textarea");
  if (!textarea) {
    return;
  }
  const form = textarea.form;
  const label = document.querySelector(`label[for="${textarea.id}"]`);
  const status = document.getElementById("lint-status");
  const nameInput = form && form.elements.namedItem("name");
  let machine = null;

  async function lintBody(view) {
    const payload = { body: view.state.doc.toString(), name: nameInput ? nameInput.value : "" };
    if (machine !== null) {
      payload.machine = machine;
    }
    let response;
    try {
      response = await postJSON(container.dataset.lintUrl, payload);
    } catch (error) {
      return [];
    }
    if (!response.ok || !response.answer) {
      if (status) {
        status.className = "small mt-1 text-body-secondary";
        status.textContent = `The body could not be checked (HTTP ${response.status}).`;
      }
      return [];
    }
    lintStatus(status, response.answer);
    const doc = view.state.doc;
    return response.answer.diagnostics.map((diagnostic) => ({
      ...diagnosticRange(doc, diagnostic.line, diagnostic.column),
      severity: diagnostic.severity,
      source: `line ${diagnostic.line}, column ${diagnostic.column}`,
      message: diagnostic.message,
    }));
  }

  // The label names the editor now; the textarea leaves the accessibility tree with its box.
  const contentAttributes = { "aria-multiline": "true", spellcheck: "false", autocapitalize: "off" };
  if (label) {
    label.id = label.id || `${textarea.id}-label`;
    label.removeAttribute("for");
    contentAttributes["aria-labelledby"] = label.id;
  }

  const view = new EditorView({
    parent: container,
    state: EditorState.create({
      doc: textarea.value,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightSpecialChars(),
        history(),
        foldGutter(),
        drawSelection(),
        dropCursor(),
        EditorState.allowMultipleSelections.of(true),
        indentOnInput(),
        indentUnit.of("  "),
        syntaxHighlighting(rackpilotHighlight),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        bracketMatching(),
        rectangularSelection(),
        crosshairCursor(),
        highlightActiveLine(),
        highlightSelectionMatches(),
        keymap.of([...defaultKeymap, ...searchKeymap, ...historyKeymap, ...foldKeymap, ...lintKeymap, indentWithTab]),
        yaml(),
        templateActionHighlight,
        lintGutter(),
        linter(lintBody, {
          delay: LINT_DELAY,
          needsRefresh: (update) => update.transactions.some((tr) => tr.effects.some((e) => e.is(machineChosen))),
        }),
        editorTheme,
        EditorView.contentAttributes.of(contentAttributes),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) {
            textarea.value = update.state.doc.toString();
          }
        }),
      ],
    }),
  });
  view.dom.classList.add("rp-cm");
  if (field.classList.contains("is-invalid")) {
    view.dom.classList.add("is-invalid");
  }
  field.hidden = true;
  container.dataset.ready = "true";
  if (label) {
    label.addEventListener("click", () => view.focus());
  }
  if (form) {
    form.addEventListener("submit", () => {
      textarea.value = view.state.doc.toString();
    });
  }

  function gotoLine(line, column) {
    const { from } = diagnosticRange(view.state.doc, line, column);
    view.dispatch({ selection: { anchor: from }, scrollIntoView: true });
    view.focus();
  }

  // The server's "Line 3, column 12" links (after a refused save) put the cursor there.
  document.querySelectorAll("[data-rp-goto-line]").forEach((link) => {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      gotoLine(Number(link.dataset.rpGotoLine), Number(link.dataset.rpGotoColumn || 1));
    });
  });

  const panel = document.querySelector("[data-rp-template-preview]");
  if (panel) {
    setUpPreview(panel, {
      body: () => view.state.doc.toString(),
      gotoLine,
      onMachine(id) {
        if (id !== machine) {
          machine = id;
          view.dispatch({ effects: machineChosen.of(id) });
        }
      },
    });
  }
  // The editor, for the browser tests and the console.
  container.editorView = view;
}

document.querySelectorAll("[data-rp-template-editor]").forEach(setUpEditor);
