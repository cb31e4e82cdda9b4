// The detail panel: one item in full (GET item) and its nearest neighbours (GET similar).
// Clicking a neighbour opens it here; Back returns along the way taken.

import { api, path } from "./api.js";
import { chips } from "./results.js";
import { fmtScore, fmtValue, h, showError } from "./dom.js";

const SIMILAR_K = 10;

export function createDetail(panel, { onShow } = {}) {
  let collection = null;
  let trail = [];
  let ticket = 0;

  function close() {
    ticket++;
    trail = [];
    panel.hidden = true;
    panel.replaceChildren();
    onShow?.(null);
  }

  function header(id, title) {
    return h(
      "div",
      { class: "detail-head" },
      trail.length > 1 &&
        h(
          "button",
          {
            type: "button",
            class: "icon-button",
            testid: "detail-back",
            "aria-label": "Back",
            title: `Back to ${trail[trail.length - 2]}`,
            onclick: () => {
              trail.pop();
              show(trail.pop());
            },
          },
          "←",
        ),
      h(
        "div",
        { class: "detail-heading" },
        h("div", { class: "detail-id mono", testid: "detail-id" }, id),
        title && h("h2", { class: "detail-title", testid: "detail-title" }, title),
      ),
      h(
        "button",
        {
          type: "button",
          class: "icon-button",
          testid: "detail-close",
          "aria-label": "Close",
          onclick: close,
        },
        "×",
      ),
    );
  }

  function itemBody(item) {
    const textFields = collection.config?.text_fields || ["title", "text"];
    const attributes = Object.fromEntries(
      Object.entries(item).filter(([k]) => k !== "id" && !textFields.includes(k)),
    );
    const texts = textFields.filter((f) => f !== "title" && typeof item[f] === "string");
    return [
      texts.map((f) =>
        h(
          "section",
          { class: "detail-field" },
          texts.length > 1 && h("h3", null, f),
          h("div", { class: "detail-text", testid: "detail-text" }, item[f]),
        ),
      ),
      Object.keys(attributes).length > 0 &&
        h(
          "section",
          { class: "detail-field" },
          h("h3", null, "Attributes"),
          h(
            "table",
            { class: "attr-table", testid: "detail-attributes" },
            Object.entries(attributes)
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([k, v]) =>
                h("tr", { dataset: { attr: k } }, h("th", null, k), h("td", null, fmtValue(v))),
              ),
          ),
        ),
    ];
  }

  function similarList(hits) {
    if (!hits.length) return h("p", { class: "muted" }, "No similar items.");
    return h(
      "ol",
      { class: "similar", testid: "similar" },
      hits.map((hit) =>
        h(
          "li",
          null,
          h(
            "button",
            {
              type: "button",
              class: "similar-hit",
              testid: "similar-hit",
              dataset: { id: hit.id },
              onclick: () => show(hit.id),
            },
            h("span", { class: "similar-title" }, hit.fields.title || hit.id),
            h("span", { class: "similar-score", title: "similarity" }, fmtScore(hit.score)),
            h("span", { class: "chips" }, chips(hit.attributes).slice(0, 3)),
          ),
        ),
      ),
    );
  }

  async function show(id) {
    const mine = ++ticket;
    trail.push(id);
    panel.hidden = false;
    panel.dataset.id = id;
    panel.dataset.state = "loading";
    panel.replaceChildren(header(id, null), h("p", { class: "muted loading" }, "Loading…"));
    onShow?.(id);
    const { top } = panel.getBoundingClientRect(); // below the results in narrow layouts
    if (top < 0 || top > window.innerHeight - 80) panel.scrollIntoView({ block: "start" });
    const base = path("collections", collection.name, "items", id);
    // The item alone is still worth showing when its neighbours cannot be had.
    const similar = api(`${base}/similar?k=${SIMILAR_K}`).then(
      (answer) => similarList(answer.hits),
      (error) => h("p", { class: "muted", testid: "similar-error" }, `Unavailable: ${error.message}`),
    );
    try {
      const item = await api(base);
      const neighbours = await similar;
      if (mine !== ticket) return;
      panel.replaceChildren(
        header(id, item.title && item.title !== id ? item.title : null),
        h(
          "div",
          { class: "detail-scroll" },
          itemBody(item),
          h("section", { class: "detail-field" }, h("h3", null, "Similar items"), neighbours),
        ),
      );
      panel.dataset.state = "done";
      panel.scrollTop = 0;
    } catch (error) {
      if (mine !== ticket) return;
      panel.dataset.state = "error";
      panel.replaceChildren(header(id, null), h("p", { class: "muted" }, "Could not load this item."));
      showError(error);
    }
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden && !document.querySelector("dialog[open]")) close();
  });

  return {
    setCollection(info) {
      collection = info;
      close();
    },
    open(id) {
      trail = [];
      show(id);
    },
    close,
  };
}
