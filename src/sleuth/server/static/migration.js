// The migration panel: the selected collection's migration to another encoder (phase, progress
// of the backfill, the query map, the evaluation of old vs mapped vs new) and its actions,
// over /collections/{name}/migration. Polls while the backfill runs.

import { api, path } from "./api.js";
import { $, h, showError } from "./dom.js";

const SIDES = ["old", "mapped", "new"];
const ACTIONS = {
  backfill: ["cancel"],
  ready: ["evaluate", "cutover", "cancel"],
  switched: ["rollback", "drop-old"],
};

export function createMigration() {
  let name = null;
  let timer = null;

  const url = (...rest) => path("collections", name, "migration", ...rest);

  function evaluationTable(report) {
    if (!report) return h("p", { class: "muted" }, "No evaluation yet.");
    return h(
      "table",
      { class: "migration-eval", testid: "migration-eval" },
      h("caption", {}, `${report.metric} over ${report.queries} queries`),
      h("tr", {}, h("th", {}, "mode"), ...SIDES.map((s) => h("th", {}, s))),
      ...["dense", "hybrid"].map((mode) =>
        h("tr", {}, h("td", {}, mode), ...SIDES.map((s) => h("td", {}, report[mode][s].toFixed(4)))),
      ),
    );
  }

  function render(status) {
    const panel = $("#migration");
    if (!status) {
      panel.replaceChildren(
        h("p", {}, "No migration. Start one to another encoder; searches and writes go on meanwhile."),
        startForm(),
      );
      return;
    }
    const { done, total, rate } = status.progress;
    const bar = h("progress", { max: total || 1, value: done, testid: "migration-progress" });
    const actions = (ACTIONS[status.phase] || []).map((action) =>
      h("button", { type: "button", class: "ghost-button", testid: `migration-${action}`, onclick: () => act(action) }, action),
    );
    panel.replaceChildren(
      h("p", { testid: "migration-phase" }, `${status.old.id} → ${status.new.id}: ${status.phase} (queries ${status.query})`),
      h("p", {}, bar, ` ${done} / ${total} items`, rate ? ` · ${rate} items/s` : ""),
      status.paused ? h("p", { class: "error" }, status.paused) : null,
      status.map ? h("p", { class: "muted" }, `query map ${status.map.chosen} on ${status.map.sample} items`) : null,
      evaluationTable(status.evaluation),
      h("div", { class: "migration-actions" }, ...actions),
      ["finished", "cancelled"].includes(status.phase) ? startForm() : null,
    );
  }

  function startForm() {
    const input = h("input", { type: "text", placeholder: "hashing:384, a model folder…", testid: "migration-to" });
    return h(
      "form",
      { class: "migration-start", onsubmit: (event) => { event.preventDefault(); start(input.value.trim()); } },
      input,
      h("button", { type: "submit", class: "primary-button", testid: "migration-start" }, "Migrate"),
    );
  }

  async function refresh() {
    clearTimeout(timer);
    if (!name) return;
    let status = null;
    try {
      status = await api(url());
    } catch (error) {
      if (error.status !== 404) showError(error);
    }
    render(status);
    if (status && status.phase === "backfill") timer = setTimeout(refresh, 1000);
  }

  async function start(to) {
    if (!to) return;
    try {
      await api(url(), { method: "POST", body: { to } });
    } catch (error) {
      showError(error);
    }
    refresh();
  }

  async function act(action) {
    try {
      await api(url(action), { method: "POST", body: action === "evaluate" ? {} : undefined });
    } catch (error) {
      showError(error);
    }
    refresh();
  }

  return {
    open(collection) {
      name = collection;
      refresh();
    },
  };
}
