// The search view: the form (query, mode, k, min p, explain, filters) posts to /search; the answer
// goes to the results list, and a clicked hit to the detail panel.

import { api, path } from "./api.js";
import { createDetail } from "./detail.js";
import { $, InputError, clearError, showError } from "./dom.js";
import { createFilters } from "./filters.js";
import { createResults } from "./results.js";

export function createSearch() {
  const form = $("#search-form");
  const query = $("#query");
  const mode = $("#mode");
  const rerank = $("#rerank");
  const k = $("#k");
  const minRelevance = $("#min-relevance");
  const explain = $("#explain");
  const filters = createFilters($("#filters"));
  const detail = createDetail($("#detail"), {
    onShow: (id) => {
      results.select(id);
      $("#workspace").classList.toggle("with-detail", id != null);
    },
  });
  const results = createResults({
    list: $("#results"),
    summary: $("#summary"),
    timings: $("#timings"),
    onOpen: (id) => detail.open(id),
  });
  let collection = null;
  let searched = false;
  let ticket = 0;

  function request() {
    const text = query.value.trim();
    if (!text) throw new InputError("type a query first");
    const size = Number(k.value);
    if (!Number.isInteger(size) || size < 1) {
      throw new InputError(`k must be a whole number of 1 or more, got "${k.value}"`);
    }
    const body = { query: text, k: size, mode: mode.value, where: filters.where(), explain: explain.checked };
    if (rerank.value) body.rerank = rerank.value;
    if (minRelevance.value.trim()) {
      const p = Number(minRelevance.value);
      if (!(p >= 0 && p <= 1)) {
        throw new InputError(`min p must be a probability from 0 to 1, got "${minRelevance.value}"`);
      }
      body.min_relevance = p;
    }
    return body;
  }

  async function run() {
    clearError();
    if (!collection) return; // the button is disabled until one is loaded
    let body;
    try {
      body = request();
    } catch (error) {
      results.refused();
      showError(error);
      if (!query.value.trim()) query.focus();
      return;
    }
    const mine = ++ticket;
    searched = true;
    results.loading();
    $("#search-button").disabled = true;
    try {
      const response = await api(path("collections", collection.name, "search"), {
        method: "POST",
        body,
      });
      if (mine === ticket) results.render(response, body);
    } catch (error) {
      if (mine === ticket) {
        results.fail();
        showError(error);
      }
    } finally {
      if (mine === ticket) $("#search-button").disabled = !collection;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  // Settings that change the answer run the last search again.
  for (const control of [mode, rerank, explain]) {
    control.addEventListener("change", () => searched && query.value.trim() && run());
  }
  document.addEventListener("keydown", (event) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName || "");
    if (event.key === "/" && !typing && !$("#view-search").hidden) {
      event.preventDefault();
      query.focus();
      query.select();
    }
  });

  return {
    /** The collection's info (GET /collections/{name}), or null when there is none. */
    setCollection(info) {
      collection = info;
      searched = false;
      ticket++;
      filters.setAttributes(info ? info.attributes : {});
      detail.setCollection(info);
      results.clear();
      $("#search-button").disabled = !info;
      query.placeholder = info ? `Search ${info.name}…` : "No collection to search";
    },
  };
}
