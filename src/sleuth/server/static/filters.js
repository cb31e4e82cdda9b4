// The "where" filter: a row builder (attribute, operator, value, parsed by the attribute's
// type) or a raw JSON textarea. where() returns the filter object, null for none, or throws an
// InputError saying what to fix.

import { $, $$, InputError, h } from "./dom.js";

// The operators the server accepts per attribute type (sleuth.retrieve.filters.OPERATORS).
const OPERATORS = {
  str: ["eq", "ne", "in", "nin", "exists"],
  bool: ["eq", "ne", "exists"],
  number: ["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "exists"],
  datetime: ["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "exists"],
  list: ["eq", "ne", "in", "nin", "exists"],
};
const LABELS = {
  eq: "=",
  ne: "≠",
  in: "in",
  nin: "not in",
  gt: ">",
  gte: "≥",
  lt: "<",
  lte: "≤",
  exists: "exists",
};
const PLACEHOLDERS = {
  str: "value",
  number: "number",
  datetime: "2024-05-01T12:00:00Z",
  list: "one element",
};

function parseOne(name, type, text) {
  if (type === "number") {
    const n = Number(text);
    if (text === "" || !Number.isFinite(n)) {
      throw new InputError(`${name} is a number attribute: "${text}" is not a number`);
    }
    return n;
  }
  if (type === "datetime" && Number.isNaN(Date.parse(text))) {
    throw new InputError(
      `${name} is a datetime attribute: "${text}" is not an ISO 8601 date, e.g. 2024-05-01T12:00:00Z`,
    );
  }
  return text;
}

function parseValue(name, type, op, raw) {
  if (op === "exists" || type === "bool") return raw === "true";
  const many = op === "in" || op === "nin";
  const parts = many ? raw.split(",").map((p) => p.trim()).filter(Boolean) : [raw.trim()];
  if (!parts.length || parts[0] === "") {
    throw new InputError(
      many
        ? `enter one or more comma-separated values for ${name} ${LABELS[op]}`
        : `enter a value for the filter on ${name}`,
    );
  }
  const values = parts.map((p) => parseOne(name, type, p));
  return many ? values : values[0];
}

function parseJson(text) {
  if (!text.trim()) return null;
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InputError(`the where filter is not valid JSON: ${err.message}`);
  }
  if (value === null) return null;
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new InputError('the where filter must be a JSON object, e.g. {"kind": "function"}');
  }
  return Object.keys(value).length ? value : null;
}

export function createFilters(root) {
  const rows = $("[data-role=rows]", root);
  const textarea = $("[data-testid=where-input]", root);
  const builderPane = $("[data-role=builder]", root);
  const jsonPane = $("[data-role=json]", root);
  let attributes = {};
  let mode = "builder";

  function valueControl(type, op) {
    if (op === "exists" || type === "bool") {
      return h(
        "select",
        { class: "filter-value", testid: "filter-value" },
        h("option", { value: "true" }, "true"),
        h("option", { value: "false" }, "false"),
      );
    }
    const many = op === "in" || op === "nin";
    return h("input", {
      class: "filter-value",
      testid: "filter-value",
      type: "text",
      placeholder: many ? "a, b, c" : PLACEHOLDERS[type] || "value",
      inputmode: type === "number" ? "decimal" : null,
    });
  }

  function addRow() {
    const names = Object.keys(attributes).sort();
    if (!names.length) return;
    const attr = h(
      "select",
      { class: "filter-attr", testid: "filter-attr", "aria-label": "Attribute" },
      names.map((n) => h("option", { value: n }, n)),
    );
    const op = h("select", { class: "filter-op", testid: "filter-op", "aria-label": "Operator" });
    const type = h("span", { class: "filter-type" });
    let value = valueControl("str", "eq");
    const row = h("div", { class: "filter-row", testid: "filter-row" }, attr, type, op, value);

    const syncOps = () => {
      const kind = attributes[attr.value];
      const keep = op.value;
      op.replaceChildren(...OPERATORS[kind].map((o) => h("option", { value: o }, LABELS[o])));
      if (OPERATORS[kind].includes(keep)) op.value = keep;
      type.textContent = kind;
      syncValue();
    };
    const syncValue = () => {
      const next = valueControl(attributes[attr.value], op.value);
      if (next.tagName === value.tagName && value.tagName === "INPUT") {
        value.placeholder = next.placeholder; // keep what was typed
      } else {
        value.replaceWith(next);
        value = next;
      }
    };
    attr.addEventListener("change", syncOps);
    op.addEventListener("change", syncValue);
    row.append(
      h(
        "button",
        {
          type: "button",
          class: "icon-button",
          testid: "filter-remove",
          "aria-label": "Remove filter",
          onclick: () => row.remove(),
        },
        "×",
      ),
    );
    rows.append(row);
    syncOps();
    attr.focus();
  }

  function fromBuilder() {
    const clauses = $$("[data-testid=filter-row]", rows).map((row) => {
      const name = $("[data-testid=filter-attr]", row).value;
      const op = $("[data-testid=filter-op]", row).value;
      const raw = $("[data-testid=filter-value]", row).value;
      return { [name]: { [op]: parseValue(name, attributes[name], op, raw) } };
    });
    if (!clauses.length) return null;
    return clauses.length === 1 ? clauses[0] : { and: clauses };
  }

  function setMode(next) {
    if (next === "json" && mode === "builder" && !textarea.value.trim()) {
      try {
        const where = fromBuilder();
        if (where) textarea.value = JSON.stringify(where, null, 2);
      } catch {
        // an unfinished row: start the JSON empty
      }
    }
    mode = next;
    builderPane.hidden = mode !== "builder";
    jsonPane.hidden = mode !== "json";
    for (const button of $$("[data-filter-mode]", root)) {
      button.setAttribute("aria-pressed", String(button.dataset.filterMode === mode));
    }
  }

  $("[data-testid=add-filter]", root).addEventListener("click", addRow);
  for (const button of $$("[data-filter-mode]", root)) {
    button.addEventListener("click", () => setMode(button.dataset.filterMode));
  }
  setMode("builder");

  return {
    /** The collection's attributes {name: type}; clears the rows (they named the old ones). */
    setAttributes(next) {
      attributes = next || {};
      rows.replaceChildren();
      const none = !Object.keys(attributes).length;
      $("[data-testid=add-filter]", root).disabled = none;
      $("[data-role=no-attributes]", root).hidden = !none;
    },
    where() {
      return mode === "json" ? parseJson(textarea.value) : fromBuilder();
    },
  };
}
