// The evaluation view: `sleuth eval beir --json` reports from GET /reports, or a local JSON
// file, shown as an nDCG@10 chart, a latency chart and a table of every metric.

import { api, path } from "./api.js";
import { barChart } from "./charts.js";
import { $, InputError, clearError, fmtCount, h, showError } from "./dom.js";

const MODE_ORDER = ["lexical", "dense", "hybrid"];
const QUALITY = ["ndcg@10", "recall@100", "mrr@10"];
const LATENCY = ["p50_ms", "p95_ms"];
const HEADINGS = {
  "ndcg@10": "nDCG@10",
  "recall@100": "Recall@100",
  "mrr@10": "MRR@10",
  p50_ms: "p50 ms",
  p95_ms: "p95 ms",
};

function checkReport(report, source) {
  const runs = report && typeof report === "object" ? report.runs : null;
  if (!runs || typeof runs !== "object" || !Object.keys(runs).length) {
    throw new InputError(
      `${source} is not a sleuth eval report: it needs "runs": {mode: {"ndcg@10", "p50_ms", …}} ` +
        "(make one with: sleuth eval beir PATH --json)",
    );
  }
  return report;
}

function modesOf(report) {
  const modes = Object.keys(report.runs);
  const rank = (m) => (MODE_ORDER.includes(m) ? MODE_ORDER.indexOf(m) : MODE_ORDER.length);
  return modes.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function metricsTable(report, modes) {
  const seen = new Set(modes.flatMap((m) => Object.keys(report.runs[m] || {})));
  const metrics = [...QUALITY, ...LATENCY].filter((m) => seen.has(m));
  metrics.push(...[...seen].filter((m) => !metrics.includes(m)).sort());
  const isLatency = (m) => m.endsWith("_ms");
  const best = Object.fromEntries(
    metrics.map((m) => {
      const values = modes.map((mode) => report.runs[mode][m]).filter(Number.isFinite);
      return [m, isLatency(m) ? Math.min(...values) : Math.max(...values)];
    }),
  );
  return h(
    "table",
    { class: "metrics", testid: "metrics-table" },
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        h("th", null, "mode"),
        metrics.map((m) => h("th", { class: "num" }, HEADINGS[m] || m)),
      ),
    ),
    h(
      "tbody",
      null,
      modes.map((mode) =>
        h(
          "tr",
          { dataset: { mode } },
          h("th", null, h("i", { class: `swatch mode-${mode}` }), mode),
          metrics.map((m) => {
            const v = report.runs[mode][m];
            const shown = Number.isFinite(v) ? (isLatency(m) ? v.toFixed(2) : v.toFixed(4)) : "—";
            const winner = modes.length > 1 && v === best[m];
            return h("td", { class: `num${winner ? " best" : ""}`, dataset: { metric: m } }, shown);
          }),
        ),
      ),
    ),
  );
}

function render(report, source) {
  const modes = modesOf(report);
  const values = (metric) => modes.map((mode) => report.runs[mode][metric]);
  const speed = report.index?.items_per_s;
  const meta = [
    ["dataset", report.dataset],
    ["documents", fmtCount(report.docs)],
    ["queries", fmtCount(report.queries)],
    ["encoder", report.encoder],
    ["indexing", speed != null ? `${fmtCount(Math.round(speed))} items/s` : null],
    ["source", source],
  ].filter(([, v]) => v != null && v !== "—");
  $("#report").replaceChildren(
    h(
      "dl",
      { class: "report-meta", testid: "report-meta" },
      meta.map(([k, v]) => h("div", null, h("dt", null, k), h("dd", null, v))),
    ),
    h(
      "div",
      { class: "charts" },
      h(
        "figure",
        { class: "card chart-card" },
        h("figcaption", null, "Quality", h("span", { class: "muted" }, "nDCG@10, higher is better")),
        barChart({
          testid: "chart-ndcg",
          label: "nDCG@10",
          categories: modes,
          series: [{ name: "nDCG@10", values: values("ndcg@10") }],
          colorBy: "category",
          format: (v) => v.toFixed(3),
        }),
      ),
      h(
        "figure",
        { class: "card chart-card" },
        h("figcaption", null, "Latency", h("span", { class: "muted" }, "ms per query, lower is better")),
        barChart({
          testid: "chart-latency",
          label: "ms",
          categories: modes,
          series: [
            { name: "p50", values: values("p50_ms"), className: "series-p50" },
            { name: "p95", values: values("p95_ms"), className: "series-p95" },
          ],
          format: (v) => (v < 10 ? v.toFixed(2) : v.toFixed(1)),
        }),
      ),
    ),
    h("div", { class: "card table-card" }, metricsTable(report, modes)),
  );
  $("#report").hidden = false;
}

export function createEvaluation() {
  const select = $("#report-select");
  const file = $("#report-file");
  const empty = $("#eval-empty");
  const local = new Map(); // "file:NAME" -> a report loaded from this computer
  let shown = null;

  async function show(value) {
    clearError();
    try {
      if (value.startsWith("file:")) {
        render(local.get(value), value.slice(5));
      } else {
        const report = checkReport(await api(path("reports", value)), `report ${value}`);
        if (select.value !== value) return; // another was picked meanwhile
        render(report, `${value}.json on the server`);
      }
      shown = value;
    } catch (error) {
      shown = null;
      $("#report").hidden = true;
      showError(error);
    }
  }

  async function list() {
    let names = [];
    try {
      ({ reports: names } = await api("reports"));
    } catch (error) {
      showError(error);
      return;
    }
    const before = select.value;
    select.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
    for (const [value] of local) select.append(h("option", { value }, `${value.slice(5)} (local file)`));
    select.disabled = !select.options.length;
    if (select.disabled) select.append(h("option", { value: "" }, "no reports yet"));
    empty.hidden = names.length > 0 || local.size > 0;
    if ([...select.options].some((o) => o.value === before)) select.value = before;
    if (!select.disabled && select.value !== shown) show(select.value);
  }

  select.addEventListener("change", () => show(select.value));
  file.addEventListener("change", () => {
    const chosen = file.files[0];
    if (!chosen) return;
    const reader = new FileReader();
    reader.onload = () => {
      try {
        let report;
        try {
          report = JSON.parse(reader.result);
        } catch (err) {
          throw new InputError(`${chosen.name} is not valid JSON: ${err.message}`);
        }
        checkReport(report, chosen.name);
        const value = `file:${chosen.name}`;
        local.set(value, report);
        select.querySelector('option[value=""]')?.remove();
        if (![...select.options].some((o) => o.value === value)) {
          select.append(h("option", { value }, `${chosen.name} (local file)`));
        }
        select.disabled = false;
        select.value = value;
        empty.hidden = true;
        show(value);
      } catch (error) {
        showError(error);
      } finally {
        file.value = "";
      }
    };
    reader.onerror = () => showError(new InputError(`could not read ${chosen.name}`));
    reader.readAsText(chosen);
  });

  return {
    /** Called when the view opens: list the reports (new ones may have been saved). */
    open: list,
  };
}
