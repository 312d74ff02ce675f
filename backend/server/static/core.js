// Shared pieces of the dashboard: page state, element builder, API calls, errors, formatting,
// and thumbnails. Text from the server is always set with textContent, never as HTML.

export const STATES = [
  "pending", "imported", "images_processed", "tags_synced", "promoted",
  "staged", "conflicted", "failed", "ignored", "deleted",
];
export const STRATEGIES = ["override", "merge", "ignore", "delete"];
const TOKEN_KEY = "model-migrate-token";

export const view = {
  runId: null, // the selected run
  runKind: null,
  runFinished: null, // the selected run's last known `finished`
  filter: "",
  type: "",
  query: "",
  pageStarts: [null], // `after` of each page shown so far (keyset paging)
  nextAfter: null,
  actions: 0, // handled user actions; body[data-actions] lets a test wait for one to finish
  token: window.sessionStorage.getItem(TOKEN_KEY),
};

export const $ = (id) => document.getElementById(id);

/** Build an element: h("td", {testid: "x", className: "y"}, "text", child, ...). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "testid") el.dataset.testid = value;
    else if (key === "className") el.className = value;
    else if (key === "onclick") el.addEventListener("click", value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function authHeaders() {
  return view.token ? { Authorization: `Bearer ${view.token}` } : {};
}

/** The page's one network call: same origin, never cached, with the token when there is one. */
async function request(path, init) {
  try {
    return await fetch(path, { ...init, headers: { ...init.headers, ...authHeaders() }, cache: "no-store" });
  } catch (err) {
    throw new ApiError(0, "network_error", `Cannot reach the server: ${err.message}`);
  }
}

/** Call the API; a non-2xx answer becomes an ApiError carrying the API's error.message.
 * Every POST is JSON, even without a payload: the server refuses any other content type. */
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const payload = method === "GET" ? undefined : JSON.stringify(body === undefined ? {} : body);
  if (payload !== undefined) headers["Content-Type"] = "application/json";
  const response = await request(path, { method, headers, body: payload });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401) $("token-form").hidden = false;
    const detail = data && data.error;
    throw new ApiError(
      response.status,
      detail && detail.code ? detail.code : `http_${response.status}`,
      detail && detail.message ? detail.message : `${response.status} ${response.statusText}`,
    );
  }
  if (data === null) {
    throw new ApiError(response.status, "bad_response", "The server did not answer with JSON.");
  }
  return data;
}

export function setToken(token) {
  view.token = token || null;
  if (view.token) window.sessionStorage.setItem(TOKEN_KEY, view.token);
  thumbnails.clear();
}

export function showError(err) {
  const box = $("error");
  if (err instanceof ApiError) {
    box.textContent = `Error: ${err.message}` + (err.status ? ` (${err.code}, HTTP ${err.status})` : "");
  } else {
    box.textContent = `Unexpected error in the page: ${err && err.message ? err.message : err}`;
  }
  box.hidden = false;
}

export function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

/** Wrap an event handler: prevent the default, show errors, disable the control meanwhile. */
export function handler(fn) {
  return async (event) => {
    if (event) event.preventDefault();
    const control = event ? event.currentTarget : null;
    const button = control instanceof HTMLFormElement
      ? control.querySelector("button[type=submit]") : control;
    clearError();
    if (button instanceof HTMLButtonElement) button.disabled = true;
    document.body.dataset.busy = "1";
    try {
      await fn(event);
    } catch (err) {
      showError(err);
    } finally {
      if (button instanceof HTMLButtonElement) button.disabled = false;
      document.body.dataset.busy = "0";
      if (control === $("items-next")) control.disabled = view.nextAfter === null;
      view.actions += 1;
      document.body.dataset.actions = String(view.actions);
    }
  };
}

/** Run `load` so that only the latest call of a kind renders (polls and clicks overlap). */
const latest = new Map();
export async function newest(kind, load, render) {
  const ticket = (latest.get(kind) || 0) + 1;
  latest.set(kind, ticket);
  const data = await load();
  if (latest.get(kind) === ticket) render(data);
  return data;
}

// --- formatting ------------------------------------------------------------------------------

export function formatEta(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 1) return "< 1 s";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export function formatRate(rate) {
  return `${rate.toFixed(rate >= 10 ? 0 : 1)} items/s`;
}

export function formatTime(epoch) {
  return new Date(epoch * 1000).toLocaleString();
}

export function formatSize(bytes) {
  if (bytes === null || bytes === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

export function label(text, attrs) {
  return h("span", { className: "label", ...attrs }, text);
}

// --- thumbnails ------------------------------------------------------------------------------

// Images are fetched with the token (an <img src> could not send it) and shown as blob: URLs.
const thumbnails = new Map();

function imageUrl(ref) {
  return `/dashboard/images/${ref.split("/").map(encodeURIComponent).join("/")}`;
}

function blobFor(ref) {
  if (!thumbnails.has(ref)) {
    thumbnails.set(ref, request(imageUrl(ref), { method: "GET", headers: {} })
      .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then((blob) => URL.createObjectURL(blob)));
  }
  return thumbnails.get(ref);
}

/** A thumbnail of an image reference (or a placeholder); loads in the background. */
export function thumb(ref, alt, attrs) {
  if (!ref) return h("span", { className: "thumb none", "aria-hidden": "true", ...attrs }, "—");
  const img = h("img", { className: "thumb", alt, "data-ref": ref, ...attrs });
  blobFor(ref).then((url) => {
    img.src = url;
    img.dataset.loaded = "1";
  }).catch(() => {
    thumbnails.delete(ref);
    img.dataset.loaded = "0";
    img.alt = `${alt} (image unavailable)`;
  });
  return img;
}
