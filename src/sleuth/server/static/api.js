// The HTTP API client: JSON in and out, the server's error body turned into an ApiError, and
// the API key (kept in localStorage) sent on every call. A 401 asks the user for a key through
// the prompt installed with setKeyPrompt, then retries the call.

const KEY = "sleuth.apiKey";

export class ApiError extends Error {
  constructor(status, type, message, details = {}) {
    super(message);
    this.status = status;
    this.type = type;
    this.details = details;
  }
}

let keyPrompt = null;
let pendingPrompt = null;

/** prompt(message) -> Promise<key | null>; null means the user gave up. */
export function setKeyPrompt(prompt) {
  keyPrompt = prompt;
}

export const storedKey = () => localStorage.getItem(KEY) || "";
export const saveKey = (key) => localStorage.setItem(KEY, key);
export const forgetKey = () => localStorage.removeItem(KEY);

/** A relative API path from raw pieces, each URL-encoded (ids may hold '/' and '.'). */
export const path = (...pieces) => pieces.map((p) => encodeURIComponent(String(p))).join("/");

async function errorOf(response) {
  const text = await response.text();
  try {
    const { error } = JSON.parse(text);
    if (error && error.message) {
      return new ApiError(response.status, error.type, error.message, error.details || {});
    }
  } catch {
    // not the API's JSON error body (a proxy's page, say): fall through
  }
  const reason = text.trim().slice(0, 300) || response.statusText;
  return new ApiError(response.status, `http_${response.status}`, `HTTP ${response.status}: ${reason}`);
}

function askForKey(message) {
  // Calls that fail together share one prompt.
  pendingPrompt ??= keyPrompt(message).finally(() => {
    pendingPrompt = null;
  });
  return pendingPrompt;
}

/** api("collections") or api(path("collections", name, "search"), {method: "POST", body}) */
export async function api(url, { method = "GET", body } = {}) {
  for (;;) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const key = storedKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, "network", `could not reach the server: ${err.message}`);
    }
    if (response.ok) return response.status === 204 ? null : response.json();
    const error = await errorOf(response);
    if (response.status !== 401 || !keyPrompt) throw error;
    const entered = await askForKey(error.message);
    if (!entered) throw error;
    saveKey(entered);
  }
}
