// A grouped bar chart drawn as SVG by hand: one group per category (a search mode), one bar
// per series in it, a y axis with round ticks, value labels and a legend when there are
// several series.

import { svg } from "./dom.js";

const WIDTH = 560;
const HEIGHT = 280;
const MARGIN = { top: 30, right: 16, bottom: 36, left: 52 };

/** Ticks from 0 to at least ``max`` in at most 5 steps of 1, 2, 2.5 or 5 times a power of 10. */
function ticksFor(max) {
  if (!(max > 0)) return [0, 1];
  const power = 10 ** Math.floor(Math.log10(max / 5));
  const steps = [1, 2, 2.5, 5, 10].map((f) => f * power);
  const step = steps.find((s) => Math.ceil(max / s - 1e-9) <= 5);
  const n = Math.max(1, Math.ceil(max / step - 1e-9));
  return Array.from({ length: n + 1 }, (_, i) => i * step);
}

/**
 * barChart({categories: ["lexical", ...], series: [{name, values, className?}],
 *           format: (v) => "0.37", colorBy: "category" | "series", label: "nDCG@10"})
 * Bars missing a value (undefined, NaN) are left out.
 */
export function barChart({ categories, series, format, colorBy = "series", label, testid }) {
  const values = series.flatMap((s) => s.values).filter(Number.isFinite);
  const ticks = ticksFor(Math.max(0, ...values) * 1.08); // headroom for the value labels
  const top = ticks[ticks.length - 1];
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const y = (v) => MARGIN.top + plotH - (Math.max(0, v) / top) * plotH;
  const band = plotW / Math.max(1, categories.length);
  const inner = Math.min(band * 0.7, 56 * series.length + 6 * (series.length - 1));
  const barGap = series.length > 1 ? 6 : 0;
  const barW = (inner - barGap * (series.length - 1)) / series.length;
  const digits = ticks.some((t) => !Number.isInteger(Math.round(t * 1e6) / 1e6)) ? 2 : 0;

  const grid = ticks.map((t) =>
    svg(
      "g",
      { class: "tick" },
      svg("line", {
        class: t ? "grid" : "axis",
        x1: MARGIN.left,
        x2: WIDTH - MARGIN.right,
        y1: y(t),
        y2: y(t),
      }),
      svg(
        "text",
        {
          class: "tick-label",
          x: MARGIN.left - 8,
          y: y(t),
          "text-anchor": "end",
          "dominant-baseline": "middle",
        },
        t.toFixed(digits),
      ),
    ),
  );
  const groups = categories.map((category, ci) => {
    const x0 = MARGIN.left + ci * band + (band - inner) / 2;
    const bars = series.map((s, si) => {
      const v = s.values[ci];
      if (!Number.isFinite(v)) return null;
      const x = x0 + si * (barW + barGap);
      const color = colorBy === "category" ? `mode-${category}` : s.className || `series-${si}`;
      return svg(
        "g",
        { class: "bar-wrap" },
        svg(
          "rect",
          {
            class: `bar ${color}`,
            testid: "bar",
            dataset: { category, series: s.name, value: String(v) },
            x,
            y: y(v),
            width: barW,
            height: Math.max(0, y(0) - y(v)),
            rx: 3,
          },
          svg("title", null, `${category} · ${s.name}: ${format(v)}`),
        ),
        svg(
          "text",
          { class: "bar-label", x: x + barW / 2, y: y(v) - 6, "text-anchor": "middle" },
          format(v),
        ),
      );
    });
    return svg(
      "g",
      { class: "bar-group", testid: "bar-group", dataset: { category } },
      bars,
      svg(
        "text",
        {
          class: "category-label",
          x: MARGIN.left + ci * band + band / 2,
          y: HEIGHT - MARGIN.bottom + 20,
          "text-anchor": "middle",
        },
        category,
      ),
    );
  });
  const legend =
    series.length > 1 &&
    svg(
      "g",
      { class: "legend" },
      series.map((s, si) =>
        svg(
          "g",
          { transform: `translate(${WIDTH - MARGIN.right - (series.length - si) * 72}, 8)` },
          svg("rect", { class: `bar ${s.className || `series-${si}`}`, width: 12, height: 12, rx: 2 }),
          svg("text", { x: 18, y: 10, class: "legend-label" }, s.name),
        ),
      ),
    );
  return svg(
    "svg",
    {
      class: "chart",
      testid,
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-label": label,
      preserveAspectRatio: "xMidYMid meet",
    },
    label && svg("text", { class: "axis-title", x: MARGIN.left - 44, y: 14 }, label),
    grid,
    groups,
    legend,
  );
}
