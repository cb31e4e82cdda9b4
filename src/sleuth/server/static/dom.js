// Small DOM helpers shared by the page's modules: element builders, number formats and the
// one error banner. Text always goes in as text nodes, never as HTML.

const SVG_NS = "http://www.w3.org/2000/svg";

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

function build(el, props, children) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "testid") el.dataset.testid = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** h("li", {class: "hit", testid: "hit", onclick}, "text", childNode) */
export const h = (tag, props, ...children) => build(document.createElement(tag), props, children);

/** The same for SVG elements. */
export const svg = (tag, props, ...children) =>
  build(document.createElementNS(SVG_NS, tag), props, children);

export function fmtScore(value) {
  if (value == null || !Number.isFinite(value)) return "—";
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 0.001 || abs >= 1e5) ? value.toExponential(2) : value.toFixed(3);
}

export function fmtMs(value) {
  if (value == null || !Number.isFinite(value)) return "—";
  return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0);
}

export function fmtCount(value) {
  return Number.isFinite(value) ? value.toLocaleString("en-US") : "—";
}

/** A short text for an attribute value (lists joined, booleans as yes/no). */
export function fmtValue(value) {
  if (Array.isArray(value)) return value.length ? value.map(fmtValue).join(", ") : "—";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (value === null || value === undefined) return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** A problem found in the page before anything was sent (shown like a server error). */
export class InputError extends Error {
  constructor(message) {
    super(message);
    this.type = "invalid_input";
  }
}

export function showError(error) {
  const banner = $("#error");
  const details = error.details && Object.keys(error.details).length ? error.details : null;
  const problems = details && Array.isArray(details.errors) ? details.errors : null;
  banner.replaceChildren(
    h("span", { class: "error-type", testid: "error-type" }, error.type || "error"),
    h(
      "div",
      { class: "error-body" },
      h("div", { class: "error-message", testid: "error-message" }, error.message || String(error)),
      problems
        ? h(
            "ul",
            { class: "error-details" },
            problems.map((p) => h("li", null, h("code", null, p.at), " ", p.problem)),
          )
        : details && h("code", { class: "error-details" }, JSON.stringify(details)),
    ),
    h("button", { class: "icon-button", "aria-label": "Dismiss", onclick: clearError }, "×"),
  );
  banner.hidden = false;
}

export function clearError() {
  const banner = $("#error");
  banner.hidden = true;
  banner.replaceChildren();
}
