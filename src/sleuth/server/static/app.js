// The page's entry point: tabs, the collection picker, the API key dialog, and the two views.

import { api, forgetKey, path, saveKey, setKeyPrompt, storedKey } from "./api.js";
import { $, $$, clearError, fmtCount, h, showError } from "./dom.js";
import { createEvaluation } from "./evaluation.js";
import { createMigration } from "./migration.js";
import { createSearch } from "./search.js";

const COLLECTION = "sleuth.collection";

/** Open the key dialog; resolves to the key entered, or null when cancelled. */
function promptForKey(message) {
  const dialog = $("#auth");
  const input = $("#auth-input");
  $("#auth-message").textContent = message;
  $("#auth-forget").hidden = !storedKey();
  input.value = "";
  if (!dialog.open) dialog.showModal();
  input.focus();
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        const key = input.value.trim();
        resolve(dialog.returnValue === "ok" && key ? key : null);
        input.value = "";
        updateKeyButton();
      },
      { once: true },
    );
  });
}

function updateKeyButton() {
  $("#key-button").hidden = !storedKey();
}

const search = createSearch();
const evaluation = createEvaluation();
const migration = createMigration();
const VIEWS = ["search", "eval", "migration"];

function showView(name) {
  const view = VIEWS.includes(name) ? name : "search";
  for (const tab of $$("[role=tab]")) tab.setAttribute("aria-selected", String(tab.dataset.view === view));
  for (const v of VIEWS) $(`#view-${v}`).hidden = view !== v;
  $(".collection-picker").classList.toggle("faded", view === "eval");
  if (view === "eval") evaluation.open();
  if (view === "migration") migration.open(current);
  const hash = view === "search" ? "" : `#${view}`;
  if (location.hash !== hash) history.replaceState(null, "", hash || location.pathname);
}

let current = null; // the collection shown or loading

async function selectCollection(name, { force = false } = {}) {
  if (name === current && !force) return;
  current = name;
  clearError();
  search.setCollection(null); // no searching the old one while the new one loads
  $("#collection-info").textContent = "loading…";
  try {
    const info = await api(path("collections", name));
    if (name !== current) return;
    localStorage.setItem(COLLECTION, name);
    $("#collection-info").textContent = `${fmtCount(info.items)} items · ${info.encoder}`;
    search.setCollection(info);
    if (!$("#view-migration").hidden) migration.open(name);
  } catch (error) {
    if (name !== current) return;
    current = null;
    $("#collection-info").textContent = "";
    showError(error);
  }
}

async function loadCollections() {
  const select = $("#collection-select");
  let collections;
  try {
    ({ collections } = await api("collections"));
  } catch (error) {
    showError(error);
    return;
  }
  updateKeyButton();
  select.replaceChildren(...collections.map((c) => h("option", { value: c.name }, c.name)));
  select.disabled = !collections.length;
  if (!collections.length) {
    select.append(h("option", { value: "" }, "no collections"));
    current = null;
    $("#collection-info").textContent = "";
    search.setCollection(null);
    return;
  }
  const wanted = current ?? localStorage.getItem(COLLECTION);
  select.value = collections.some((c) => c.name === wanted) ? wanted : collections[0].name;
  await selectCollection(select.value, { force: true });
}

setKeyPrompt(promptForKey);
$("#auth-cancel").addEventListener("click", () => $("#auth").close("cancel"));
$("#auth-forget").addEventListener("click", () => {
  forgetKey();
  $("#auth").close("cancel");
});
$("#key-button").addEventListener("click", async () => {
  const key = await promptForKey("Change the API key sent with every call, or forget it.");
  if (key) {
    saveKey(key);
    loadCollections();
  }
  updateKeyButton();
});
$("#collection-select").addEventListener("change", (event) => selectCollection(event.target.value));
for (const tab of $$("[role=tab]")) tab.addEventListener("click", () => showView(tab.dataset.view));
window.addEventListener("hashchange", () => showView(location.hash.slice(1)));

updateKeyButton();
showView(location.hash.slice(1));
loadCollections();
