// The results list: one card per hit (title, snippet with the query's words marked, attribute
// chips, score), an expandable explain table per hit, and the search's stage timings once (the
// response's trace).

import { fmtMs, fmtScore, fmtValue, h } from "./dom.js";

const SNIPPET_CHARS = 200;
const RETRIEVERS = ["lexical", "dense"];

/** A regex matching words that start like the query's words ("paths" marks "path"). */
function wordsPattern(query) {
  const stems = (query.toLowerCase().match(/[\p{L}\p{N}_]{2,}/gu) || [])
    .map((w) => (w.length > 3 && w.endsWith("s") ? w.slice(0, -1) : w))
    .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  if (!stems.length) return null;
  return new RegExp(`(?<![\\p{L}\\p{N}_])(?:${[...new Set(stems)].join("|")})[\\p{L}\\p{N}_]*`, "giu");
}

/** The text's first ~200 characters, or a window around the first match when it comes later. */
function snippetOf(text, pattern) {
  const flat = text.replace(/\s+/g, " ").trim();
  let start = 0;
  if (pattern) {
    pattern.lastIndex = 0;
    const match = pattern.exec(flat);
    if (match && match.index > SNIPPET_CHARS - 40) {
      start = flat.lastIndexOf(" ", match.index - 60) + 1;
    }
  }
  let end = Math.min(flat.length, start + SNIPPET_CHARS);
  if (end < flat.length) end = flat.lastIndexOf(" ", end) > start ? flat.lastIndexOf(" ", end) : end;
  return (start > 0 ? "… " : "") + flat.slice(start, end) + (end < flat.length ? " …" : "");
}

/** Text nodes with the pattern's matches wrapped in <mark>. */
export function highlighted(text, pattern) {
  if (!pattern) return [text];
  const parts = [];
  let last = 0;
  pattern.lastIndex = 0;
  for (const match of text.matchAll(pattern)) {
    parts.push(text.slice(last, match.index), h("mark", null, match[0]));
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

export function chips(attributes) {
  return Object.entries(attributes || {})
    // A flag shows as its name when true and not at all when false; empty lists not at all.
    .filter(([, v]) => v !== false && v != null && !(Array.isArray(v) && !v.length))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) =>
      h(
        "span",
        {
          class: `chip${value === true ? " chip-flag" : ""}`,
          testid: "chip",
          dataset: { attr: name, value: fmtValue(value) },
          title: `${name}: ${fmtValue(value)}`,
        },
        h("span", { class: "chip-name" }, name),
        value !== true && h("span", { class: "chip-value" }, fmtValue(value)),
      ),
    );
}

/** The stages of a trace's timings, in the order they ran, and the total. */
function stageBar(timings) {
  const stages = Object.keys(timings).filter((s) => s !== "total_ms");
  const sum = stages.reduce((acc, s) => acc + timings[s], 0) || 1;
  return h(
    "div",
    { class: "stages" },
    h(
      "div",
      { class: "stage-bar", "aria-hidden": "true" },
      stages.map((s) =>
        h("span", {
          class: `stage stage-${s.replace("_ms", "")}`,
          style: `flex-grow: ${Math.max(timings[s] / sum, 0.02)}`,
        }),
      ),
    ),
    h(
      "dl",
      { class: "stage-list" },
      stages.map((s) =>
        h(
          "div",
          { class: "stage-item", testid: "stage", dataset: { stage: s } },
          h("dt", null, h("i", { class: `swatch stage-${s.replace("_ms", "")}` }), s.replace("_ms", "")),
          h("dd", null, `${fmtMs(timings[s])} ms`),
        ),
      ),
      timings.total_ms != null &&
        h(
          "div",
          { class: "stage-item stage-total", testid: "stage", dataset: { stage: "total_ms" } },
          h("dt", null, "total"),
          h("dd", null, `${fmtMs(timings.total_ms)} ms`),
        ),
    ),
  );
}

function explainView(explain) {
  // the rankers that ran: the learned ranker (mode ranked), the cross-encoder (rerank)
  const found = explain.retrievers || {};
  const stages = [...RETRIEVERS, ...["learned", "cross"].filter((name) => name in found)];
  const rows = stages.map((name) => {
    const r = (explain.retrievers || {})[name];
    return h(
      "tr",
      { testid: `explain-${name}`, class: r ? "" : "absent" },
      h("th", null, h("i", { class: `swatch mode-${name}` }), name),
      h("td", { testid: "rank" }, r ? `#${r.rank}` : "—"),
      h("td", { testid: "score" }, r ? fmtScore(r.score) : "—"),
    );
  });
  // the rankers' features of this hit as they read them (the cross-encoder: its score and
  // its share of the blend)
  const features = Object.entries(explain.features || {});
  const featureTable = features.length
    ? h(
        "table",
        { class: "explain-table", testid: "explain-features" },
        h("thead", null, h("tr", null, ["feature", "value"].map((c) => h("th", null, c)))),
        h(
          "tbody",
          null,
          features.map(([name, value]) =>
            h("tr", { testid: "feature", dataset: { feature: name } }, h("th", null, name),
              h("td", null, value === null ? "missing" : fmtScore(value))),
          ),
        ),
      )
    : null;
  return h(
    "div",
    { class: "explain", testid: "explain" },
    featureTable,
    h(
      "table",
      { class: "explain-table" },
      h("thead", null, h("tr", null, ["retriever", "rank", "score"].map((c) => h("th", null, c)))),
      h(
        "tbody",
        null,
        rows,
        h(
          "tr",
          { class: "fused", testid: "explain-fused" },
          h("th", null, "fused"),
          h("td", null, ""),
          h("td", { testid: "score" }, fmtScore(explain.score)),
        ),
        explain.probability != null &&
          h(
            "tr",
            { class: "fused", testid: "explain-probability" },
            h("th", null, "probability of relevance"),
            h("td", null, ""),
            h("td", { testid: "probability" }, fmtScore(explain.probability)),
          ),
      ),
    ),
  );
}

function hitCard(hit, rank, pattern, onOpen) {
  const title = hit.fields.title || hit.id;
  const text = hit.fields.text ?? Object.values(hit.fields).find((v) => v !== hit.fields.title) ?? "";
  const card = h(
    "li",
    { class: "hit", testid: "hit", dataset: { id: hit.id }, tabindex: "0" },
    h(
      "div",
      { class: "hit-head" },
      h("span", { class: "hit-rank" }, rank),
      h("span", { class: "hit-title", testid: "hit-title" }, highlighted(title, pattern)),
      h("span", { class: "hit-score", testid: "hit-score", title: "score" }, fmtScore(hit.score)),
      hit.probability != null &&
        h(
          "span",
          { class: "hit-score", testid: "hit-probability", title: "calibrated probability of relevance" },
          `p ${fmtScore(hit.probability)}`,
        ),
    ),
    !title.includes(hit.id) && h("div", { class: "hit-id mono" }, hit.id),
    text && h("p", { class: "snippet", testid: "snippet" }, highlighted(snippetOf(text, pattern), pattern)),
    h("div", { class: "chips" }, chips(hit.attributes)),
  );
  if (hit.explain) {
    const panel = explainView(hit.explain);
    panel.hidden = true;
    const button = h(
      "button",
      { type: "button", class: "link-button", testid: "explain-button", "aria-expanded": "false" },
      "Explain score",
    );
    button.addEventListener("click", (event) => {
      event.stopPropagation();
      panel.hidden = !panel.hidden;
      button.setAttribute("aria-expanded", String(!panel.hidden));
    });
    panel.addEventListener("click", (event) => event.stopPropagation());
    card.append(button, panel);
  }
  const open = () => onOpen(hit.id);
  card.addEventListener("click", open);
  card.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target === card) open();
  });
  return card;
}

export function createResults({ list, summary, timings, onOpen }) {
  let seq = 0;
  const done = (state) => {
    list.dataset.state = state;
    list.dataset.seq = String(++seq);
  };
  return {
    loading() {
      list.dataset.state = "loading";
      list.setAttribute("aria-busy", "true");
    },
    /** The form was not sent (bad input): what is shown stays, but the search is over. */
    refused() {
      done("error");
    },
    fail() {
      // Stale hits under an error would read as the answer to the failed request.
      list.removeAttribute("aria-busy");
      list.replaceChildren();
      summary.replaceChildren();
      timings.hidden = true;
      done("error");
    },
    clear() {
      list.replaceChildren();
      summary.replaceChildren();
      timings.hidden = true;
    },
    render(response, request) {
      const pattern = wordsPattern(request.query);
      const hits = response.hits;
      list.removeAttribute("aria-busy");
      list.replaceChildren(...hits.map((hit, i) => hitCard(hit, i + 1, pattern, onOpen)));
      if (!hits.length) {
        list.append(
          h(
            "li",
            { class: "empty", testid: "no-results" },
            request.where ? "No hits. The filter may exclude every match." : "No hits.",
          ),
        );
      }
      summary.replaceChildren(
        h("strong", null, `${hits.length} ${hits.length === 1 ? "hit" : "hits"}`),
        ` in ${fmtMs(response.took_ms)} ms · ${request.mode}`,
        ...(request.where
          ? [h("span", { class: "summary-filter mono" }, ` · where ${JSON.stringify(request.where)}`)]
          : []),
      );
      // The stages are the request's (its trace, sent with explain): shown once.
      const trace = response.trace;
      timings.hidden = !trace;
      timings.replaceChildren();
      if (trace) {
        timings.append(h("span", { class: "timings-label" }, "Stage timings"), stageBar(trace.timings_ms));
      }
      done("done");
    },
    select(id) {
      for (const card of list.children) card.classList.toggle("selected", card.dataset.id === id);
    },
  };
}
