// The grant officers' console: exports, what will count, imports. It uses
// only the public API (with the signed-in bearer token) and builds every
// element with the DOM, never from HTML strings, so no stored text can
// become markup.

import { TEXT } from "/console/text.js";

const API = "/api/v1";
const store = { token: "token", lang: "lang" };
let lang = localStorage.getItem(store.lang) === "en" ? "en" : "nb";
let config = { sign_in: "token" };
let session = null; // { token, subject, orgs }
let pollTimer = null;

const t = (key, ...args) => {
  const value = TEXT[lang][key] ?? TEXT.nb[key] ?? key;
  return typeof value === "function" ? value(...args) : value;
};

/** h("p", {class: "x"}, "text", child) */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function announce(message) {
  const status = document.getElementById("status");
  status.textContent = "";
  setTimeout(() => { status.textContent = message; }, 50);
}

// ------------------------------------------------------------------ API

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (session) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path.startsWith("/") ? path : `${API}/${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = { detail: text }; }
  if (resp.status === 401 && session) {
    signOut(t("session_expired"));
    throw new Error(t("session_expired"));
  }
  return { status: resp.status, ok: resp.ok, json: json ?? {} };
}

/** The claims of a JWT, unverified: only to show who is signed in. */
function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(decodeURIComponent(escape(atob(part))));
  } catch { return {}; }
}

function orgsOf(c) {
  const v = c.org_ids ?? c.org_id ?? c["custom:org_id"] ?? [];
  return Array.isArray(v) ? v : String(v).split(/[\s,]+/).filter(Boolean);
}

// -------------------------------------------------------------- session

function signIn(token) {
  const c = claims(token);
  session = { token, subject: c.sub ?? "", orgs: orgsOf(c) };
  sessionStorage.setItem(store.token, token);
  route();
}

function signOut(message) {
  session = null;
  sessionStorage.removeItem(store.token);
  clearTimeout(pollTimer);
  if (location.hash) history.replaceState(null, "", location.pathname);
  render(message);
}

// ---------------------------------------------- OpenID Connect with PKCE

const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const randomText = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));
const redirectUri = () => `${location.origin}${location.pathname}`;

async function discovery() {
  const r = await fetch(`${config.issuer}/.well-known/openid-configuration`);
  if (!r.ok) throw new Error(`discovery ${r.status}`);
  return r.json();
}

/** Off to the identity provider, with a fresh verifier and state kept for the way back. */
async function oidcSignIn() {
  const provider = await discovery();
  const verifier = randomText(32);
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const state = randomText(16);
  sessionStorage.setItem("oidc", JSON.stringify({ verifier, state, token_endpoint: provider.token_endpoint }));
  const query = new URLSearchParams({
    response_type: "code", client_id: config.client_id, redirect_uri: redirectUri(), scope: config.scope,
    state, code_challenge: challenge, code_challenge_method: "S256",
  });
  location.assign(`${provider.authorization_endpoint}?${query}`);
}

/** Back from the provider: the code for tokens, if the state is ours. True when this was a return. */
async function oidcReturn() {
  const q = new URLSearchParams(location.search);
  if (!q.has("code") && !q.has("error")) return false;
  const saved = JSON.parse(sessionStorage.getItem("oidc") ?? "null");
  sessionStorage.removeItem("oidc");
  history.replaceState(null, "", location.pathname);
  if (q.has("error") || !saved || q.get("state") !== saved.state) {
    render(t("sign_in_failed"));
    return true;
  }
  const r = await fetch(saved.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", code: q.get("code"), redirect_uri: redirectUri(),
      client_id: config.client_id, code_verifier: saved.verifier,
    }),
  });
  const tokens = r.ok ? await r.json() : {};
  const token = config.token === "access_token" ? tokens.access_token : tokens.id_token;
  if (!token) { render(t("sign_in_failed")); return true; }
  signIn(token);
  return true;
}

function signInView(message) {
  const main = h("section", { class: "signin", "aria-labelledby": "signin-title" },
    h("h2", { id: "signin-title" }, t("sign_in_title")),
    message ? h("p", { class: "notice" }, message) : null,
    h("p", {}, t("sign_in_intro")));
  if (config.sign_in === "oidc") {
    main.append(h("button", {
      type: "button", id: "oidc-sign-in",
      onclick: () => oidcSignIn().catch(() => announce(t("sign_in_failed"))),
    }, t("sign_in_oidc")));
  }
  if (config.sign_in === "demo") {
    main.append(h("button", {
      type: "button", id: "demo-sign-in",
      onclick: async () => {
        const r = await api("POST", "/console/demo-session");
        if (r.ok) signIn(r.json.token); else announce(r.json.detail ?? t("failed"));
      },
    }, t("sign_in_demo")));
  }
  const form = h("form", { id: "token-form", onsubmit: (e) => {
    e.preventDefault();
    const value = form.querySelector("#token").value.trim();
    if (value) signIn(value);
  } },
  h("label", { for: "token" }, t("token_label")),
  h("textarea", { id: "token", rows: 3, autocomplete: "off", spellcheck: "false" }),
  h("p", {}, h("button", { type: "submit", class: "secondary", id: "token-sign-in" }, t("sign_in_token"))));
  main.append(h("details", { open: config.sign_in === "token" }, h("summary", {}, t("token_summary")), form));
  return main;
}

// --------------------------------------------------------------- layout

const VIEWS = ["exports", "count", "imports"];
let shown = null; // the view on screen

function currentView() {
  const v = location.hash.replace(/^#/, "");
  return VIEWS.includes(v) ? v : (shown ?? "exports");
}

function render(message) {
  document.documentElement.lang = lang;
  document.title = t("app_title");
  document.getElementById("app-title").textContent = t("app_title");
  const langButton = document.getElementById("lang");
  langButton.textContent = lang === "nb" ? "English" : "Norsk (bokmål)";
  langButton.lang = lang === "nb" ? "en" : "nb";
  document.querySelector(".skip").textContent = t("skip");
  const nav = document.getElementById("nav");
  const signOutButton = document.getElementById("sign-out");
  const main = document.getElementById("main");
  main.replaceChildren();
  clearTimeout(pollTimer);
  if (!session) {
    nav.hidden = true;
    signOutButton.hidden = true;
    main.append(signInView(message));
    return;
  }
  nav.setAttribute("aria-label", t("nav"));
  nav.replaceChildren(...VIEWS.map((v) => h("a", {
    href: `#${v}`, "aria-current": currentView() === v ? "page" : false,
  }, t(`nav_${v}`))));
  nav.hidden = false;
  signOutButton.textContent = t("sign_out");
  signOutButton.hidden = false;
  main.append(h("p", { class: "muted", id: "who" }, t("signed_in_as", session.subject, session.orgs.join(", ") || t("all_orgs"))));
  shown = currentView();
  ({ exports: exportsView, count: countView, imports: importsView })[shown](main);
}

function route() { render(); }

// ---------------------------------------------------------------- forms

function field(id, label, input, hint) {
  input.id = id;
  input.name = id;
  const error = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  input.setAttribute("aria-describedby", [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(" "));
  return h("div", { class: "field" }, h("label", { for: id }, label), hint ? h("p", { class: "muted", id: `${id}-hint` }, hint) : null, input, error);
}

function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((p) => { p.hidden = true; p.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  form.querySelector(".form-error")?.remove();
}

/** Puts each of the API's field errors next to its field; the rest on top. */
function showProblem(form, problem, fallbackFocus) {
  let first = null;
  const loose = [];
  for (const e of problem.errors ?? []) {
    const input = form.querySelector(`[name="${CSS.escape(e.field)}"]`);
    const slot = form.querySelector(`#${CSS.escape(e.field)}-error`);
    if (input && slot) {
      slot.hidden = false;
      slot.textContent = slot.textContent ? `${slot.textContent} ${e.message}` : e.message;
      input.setAttribute("aria-invalid", "true");
      first ??= input;
    } else {
      loose.push(`${e.field}: ${e.message}`);
    }
  }
  if (loose.length || !first) {
    const box = h("div", { class: "form-error", role: "alert", tabindex: "-1" },
      h("p", {}, problem.detail ?? problem.title ?? t("failed")), loose.length ? h("ul", {}, loose.map((l) => h("li", {}, l))) : null);
    form.prepend(box);
    (first ?? box).focus();
  } else {
    first.focus();
  }
  (fallbackFocus && !first) && fallbackFocus.focus();
}

// ------------------------------------------------------------- periods

const iso = (d) => d.toISOString().slice(0, 10);
const ymd = (y, m, d) => new Date(Date.UTC(y, m, d));

function presets() {
  const y = new Date().getUTCFullYear();
  const list = [
    ["last_year", t("last_year", y - 1), ymd(y - 1, 0, 1), ymd(y - 1, 11, 31)],
    ["this_year", t("this_year", y), ymd(y, 0, 1), ymd(y, 11, 31)],
  ];
  for (const year of [y - 1, y]) {
    for (let q = 0; q < 4; q++) {
      list.push([`q${q + 1}_${year}`, t("quarter", q + 1, year), ymd(year, q * 3, 1), ymd(year, q * 3 + 3, 0)]);
    }
  }
  return list.map(([value, label, from, to]) => ({ value, label, from: iso(from), to: iso(to) }));
}

function periodFields(prefix = "") {
  const choices = presets();
  const select = h("select", {}, ...choices.map((p) => h("option", { value: p.value }, p.label)), h("option", { value: "custom" }, t("custom")));
  const from = h("input", { type: "date", value: choices[0].from });
  const to = h("input", { type: "date", value: choices[0].to });
  select.addEventListener("change", () => {
    const p = choices.find((c) => c.value === select.value);
    if (p) { from.value = p.from; to.value = p.to; }
  });
  const sync = () => { select.value = "custom"; };
  from.addEventListener("input", sync);
  to.addEventListener("input", sync);
  return [
    field(`${prefix}preset`, t("period"), select),
    field(`${prefix}period_from`, t("from"), from),
    field(`${prefix}period_to`, t("to"), to),
  ];
}

// -------------------------------------------------------------- exports

const TYPES = ["group_session", "individual_counseling", "peer_support_course", "outreach_visit", "open_meeting", "volunteer_training"];
const PROFILES = ["standard", "likeperson"];
const details = new Map(); // export_id -> detail, refreshed while active

function statusText(job) {
  return t(`status_${job.status}`);
}

function progressCell(job) {
  const p = job.progress;
  if (!p) return h("span", { class: "muted" }, "…");
  const total = p.rows_total ?? 0;
  const done = p.rows_done ?? 0;
  const label = t("progress", done, total, t(`stage_${p.stage}`));
  const bar = h("progress", { max: Math.max(total, 1), value: job.status === "completed" ? Math.max(total, 1) : done, "aria-label": label });
  return h("div", {}, bar, h("div", { class: "muted" }, label));
}

function failureText(job) {
  if (job.status !== "failed") return null;
  // A failure recorded before codes existed has none: say it in general terms.
  const known = job.error_code && TEXT.nb[`failure_${job.error_code}`];
  const words = t(known ? `failure_${job.error_code}` : "failure_internal");
  return h("div", { class: "failure" }, h("p", {}, words), job.error_message ? h("details", {}, h("summary", {}, t("details")), h("p", {}, job.error_message)) : null);
}

async function loadDetail(id) {
  const r = await api("GET", `bufdir-exports/${encodeURIComponent(id)}`);
  if (r.ok) details.set(id, r.json);
  return r.ok ? r.json : null;
}

function exportRow(summary, refresh) {
  const job = details.get(summary.export_id) ?? summary;
  const active = job.status === "queued" || job.status === "running";
  const starter = (job.history ?? []).find((e) => e.action === "created")?.actor ?? "";
  const actions = h("div", { class: "actions" });
  if (job.status === "completed" && job.file_url) {
    actions.append(h("a", { class: "button", href: job.file_url, download: job.file?.filename ?? "", "data-action": "download" }, t("download")));
  }
  if (active) actions.append(h("button", { type: "button", class: "secondary", "data-action": "cancel", onclick: () => cancelDialog(job, refresh) }, t("cancel")));
  if (job.status === "failed" || job.status === "cancelled") {
    actions.append(h("button", { type: "button", class: "secondary", "data-action": "retry", onclick: async () => {
      const r = await api("POST", `bufdir-exports/${job.export_id}/retry`);
      announce(r.ok ? t("retried") : (r.json.detail ?? t("failed")));
      refresh();
    } }, t("retry")));
  }
  actions.append(h("button", { type: "button", class: "secondary", "data-action": "delete", onclick: () => deleteDialog(job, refresh) }, t("delete")));
  return h("tr", { dataset: { exportId: job.export_id, status: job.status } },
    h("td", {}, `${job.period_from} – ${job.period_to}`),
    h("td", {}, job.format, job.report_profile ? h("div", { class: "muted" }, job.report_profile) : null),
    h("td", {}, h("span", { class: `status status-${job.status}` }, statusText(job)), failureText(job)),
    h("td", {}, progressCell(job)),
    h("td", {}, starter, h("div", { class: "muted" }, new Date(job.created_at).toLocaleString(lang === "nb" ? "nb-NO" : "en-GB"))),
    h("td", {}, actions));
}

function modal(id, title, body, confirmLabel, onConfirm, danger) {
  const dialog = h("dialog", { id, "aria-labelledby": `${id}-title` });
  const close = () => { dialog.close(); dialog.remove(); };
  const form = h("form", { method: "dialog", onsubmit: async (e) => { e.preventDefault(); await onConfirm(dialog); close(); } },
    h("h2", { id: `${id}-title` }, title), body,
    h("p", { class: "actions" },
      h("button", { type: "submit", class: danger ? "danger" : "", id: `${id}-confirm` }, confirmLabel), " ",
      h("button", { type: "button", class: "secondary", onclick: close }, t("close"))));
  dialog.append(form);
  dialog.addEventListener("cancel", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

function cancelDialog(job, refresh) {
  const reason = h("input", { id: "cancel-reason", maxlength: 500 });
  modal("cancel-dialog", t("cancel_title"), field("cancel-reason", t("cancel_reason"), reason), t("cancel"), async () => {
    const r = await api("PUT", `bufdir-exports/${job.export_id}/cancel`, reason.value.trim() ? { reason: reason.value.trim() } : undefined);
    announce(r.ok ? t("cancelled") : (r.json.detail ?? t("failed")));
    refresh();
  });
}

function deleteDialog(job, refresh) {
  modal("delete-dialog", t("delete_title"), h("p", {}, t("delete_confirm", `${job.period_from} – ${job.period_to}`)), t("delete"), async () => {
    const r = await api("DELETE", `bufdir-exports/${job.export_id}`);
    details.delete(job.export_id);
    announce(r.ok ? t("deleted") : (r.json.detail ?? t("failed")));
    refresh();
  }, true);
}

function createForm(refresh) {
  const org = session.orgs.length === 1 ? null : field("org_id", t("organisation"), h("input", { autocomplete: "off" }), t("organisation_hint"));
  const form = h("form", { id: "create-export", novalidate: true },
    h("fieldset", {}, h("legend", {}, t("new_export")),
      h("div", { class: "grid" },
        org,
        ...periodFields(),
        field("format", t("format"), h("select", {}, h("option", { value: "excel" }, "Excel (.xlsx)"), h("option", { value: "csv" }, "CSV"), h("option", { value: "json" }, "JSON"))),
        field("report_profile", t("profile"), h("select", {}, ...PROFILES.map((p) => h("option", { value: p }, t(`profile_${p}`)))))),
      h("fieldset", { id: "activity_types" }, h("legend", {}, t("activity_types")),
        h("p", { class: "muted" }, t("activity_types_hint")),
        h("div", { class: "grid" }, ...TYPES.map((type) => h("label", { class: "check" },
          h("input", { type: "checkbox", name: "activity_types", value: type }), t(`type_${type}`)))),
        h("p", { class: "field-error", id: "activity_types-error", hidden: true })),
      h("label", { class: "check" }, h("input", { type: "checkbox", id: "include_attachments", name: "include_attachments" }), t("include_attachments")),
      h("label", { class: "check" }, h("input", { type: "checkbox", id: "submit_to_bufdir_api", name: "submit_to_bufdir_api" }), t("submit_to_bufdir")),
      h("p", { class: "field-error", id: "submit_to_bufdir_api-error", hidden: true }),
      h("p", {}, h("button", { type: "submit", id: "create-submit" }, t("create")))));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const value = (name) => form.querySelector(`[name="${name}"]`)?.value;
    const body = {
      format: value("format"),
      period_from: value("period_from"),
      period_to: value("period_to"),
      report_profile: value("report_profile"),
      activity_types: [...form.querySelectorAll('[name="activity_types"]:checked')].map((c) => c.value),
      include_attachments: form.querySelector("#include_attachments").checked,
      submit_to_bufdir_api: form.querySelector("#submit_to_bufdir_api").checked,
    };
    const orgValue = value("org_id");
    if (orgValue) body.org_id = orgValue.trim();
    const button = form.querySelector("#create-submit");
    button.disabled = true;
    try {
      const r = await api("POST", "bufdir-exports", body);
      if (r.ok) {
        announce(t("created"));
        await loadDetail(r.json.export_id);
        refresh();
      } else {
        showProblem(form, r.json, button);
      }
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function exportsView(main) {
  const table = h("table", { id: "exports" },
    h("caption", { class: "visually-hidden" }, t("exports")),
    h("thead", {}, h("tr", {}, ...["col_period", "col_format", "col_status", "col_progress", "col_started", "col_actions"].map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}));
  const empty = h("p", { class: "muted", id: "no-exports", hidden: true }, t("no_exports"));
  let generation = 0;
  const refresh = async () => {
    const mine = ++generation;
    clearTimeout(pollTimer);
    const r = await api("GET", "bufdir-exports?limit=20");
    if (mine !== generation || !document.body.contains(table)) return;
    if (!r.ok) { announce(r.json.detail ?? t("failed")); return; }
    const rows = r.json.data ?? [];
    await Promise.all(rows.filter((s) => {
      const known = details.get(s.export_id);
      return !known || known.status !== s.status || s.status === "queued" || s.status === "running";
    }).map((s) => loadDetail(s.export_id)));
    if (mine !== generation) return;
    table.tBodies[0].replaceChildren(...rows.map((s) => exportRow(s, refresh)));
    empty.hidden = rows.length > 0;
    table.dataset.loaded = "true";
    if (rows.some((s) => s.status === "queued" || s.status === "running")) pollTimer = setTimeout(refresh, 1000);
  };
  main.append(h("h2", {}, t("exports")), createForm(refresh), h("h2", {}, t("your_exports")), empty, table);
  refresh();
}

// ------------------------------------------------------- what will count

function countView(main) {
  const out = h("div", { id: "count-result", "aria-live": "polite" });
  const form = h("form", { id: "count-form", novalidate: true },
    h("fieldset", {}, h("legend", {}, t("count_title")),
      h("p", {}, t("count_intro")),
      h("div", { class: "grid" }, ...periodFields("count_"),
        field("count_profile", t("profile"), h("select", {}, ...PROFILES.map((p) => h("option", { value: p }, t(`profile_${p}`)))))),
      h("p", {}, h("button", { type: "submit" }, t("check")))));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    out.replaceChildren(h("p", {}, t("loading")));
    const q = new URLSearchParams({
      from: form.querySelector("#count_period_from").value,
      to: form.querySelector("#count_period_to").value,
      profile: form.querySelector("#count_profile").value,
      limit: "500",
    });
    if (session.orgs.length === 1) q.set("org_id", session.orgs[0]);
    const groups = new Map();
    let counted = 0;
    let cursor = null;
    do {
      if (cursor) q.set("cursor", cursor);
      const r = await api("GET", `activities?${q}`);
      if (!r.ok) {
        out.replaceChildren();
        const problem = { ...r.json, errors: (r.json.errors ?? []).map((x) => ({ ...x, field: `count_period_${x.field === "to" ? "to" : "from"}` })) };
        showProblem(form, problem);
        return;
      }
      for (const item of r.json.data ?? []) {
        if (item.counts) { counted++; continue; }
        const key = item.not_counted_reason ?? "other";
        if (!groups.has(key)) groups.set(key, { explanation: item.not_counted_explanation, rows: [] });
        groups.get(key).rows.push(item.activity);
      }
      cursor = r.json.next_cursor;
    } while (cursor);
    const notCounted = [...groups.values()].reduce((n, g) => n + g.rows.length, 0);
    const section = ([reason, g]) => {
      const head = h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, t("col_date")), h("th", { scope: "col" }, t("col_activity")), h("th", { scope: "col" }, t("col_title"))));
      const body = h("tbody", {}, g.rows.map((a) => h("tr", { id: `activity-${a.activity_id}` },
        h("td", {}, a.date),
        h("td", {}, h("a", { href: `#activity-${a.activity_id}` }, a.activity_id)),
        h("td", {}, a.title ?? ""))));
      return h("section", { dataset: { reason } },
        h("h3", {}, `${t(`reason_${reason}`)} (${g.rows.length})`),
        g.explanation ? h("p", { class: "muted" }, g.explanation) : null,
        h("table", {}, head, body));
    };
    out.replaceChildren(h("p", { class: "notice", id: "count-summary" }, t("count_summary", counted, notCounted)),
      ...[...groups.entries()].map(section));
  });
  main.append(h("h2", {}, t("nav_count")), form, out);
}

// ---------------------------------------------------------------- imports

async function sendFile(upload, file) {
  if (upload.method === "PUT") {
    return fetch(upload.url, { method: "PUT", body: file });
  }
  const data = new FormData();
  for (const f of upload.fields ?? []) data.append(f.name, f.value);
  data.append("file", file);
  return fetch(upload.url, { method: "POST", body: data });
}

function importResult(job) {
  const done = job.status === "completed" || job.status === "failed" || job.status === "expired";
  return h("div", { id: "import-result", dataset: { status: job.status } },
    h("p", { class: job.status === "failed" ? "form-error" : "notice" },
      t(`import_${job.status}`), " ", t("import_rows", job.rows_written ?? 0, job.rows_total ?? 0)),
    !done ? h("progress", { max: Math.max(job.rows_total ?? 0, 1), value: job.rows_written ?? 0, "aria-label": t("import_rows", job.rows_written ?? 0, job.rows_total ?? 0) }) : null,
    (job.errors ?? []).length ? h("table", { id: "import-errors" },
      h("caption", {}, t("import_errors", job.error_count)),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("col_row")), h("th", { scope: "col" }, t("col_field")), h("th", { scope: "col" }, t("col_problem")))),
      h("tbody", {}, job.errors.map((e) => h("tr", {}, h("td", {}, e.line), h("td", {}, e.field ?? ""), h("td", {}, e.message))))) : null);
}

function importsView(main) {
  const out = h("div", { "aria-live": "polite" });
  const file = h("input", { type: "file", accept: ".xlsx,.csv,.jsonl,.json" });
  const form = h("form", { id: "import-form", novalidate: true },
    h("fieldset", {}, h("legend", {}, t("import_title")),
      h("p", {}, t("import_intro")),
      field("import_file", t("import_file"), file),
      h("p", {}, h("button", { type: "submit" }, t("import_start")))));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const chosen = file.files[0];
    if (!chosen) { showProblem(form, { errors: [{ field: "import_file", message: t("import_pick") }] }); return; }
    const ext = chosen.name.toLowerCase().split(".").pop();
    const format = ext === "xlsx" ? "xlsx" : ext === "csv" ? "csv" : "jsonl";
    const body = { format };
    if (session.orgs.length === 1) body.org_id = session.orgs[0];
    const made = await api("POST", "activity-imports", body);
    if (!made.ok) { showProblem(form, made.json); return; }
    out.replaceChildren(importResult(made.json));
    const sent = await sendFile(made.json.upload, chosen);
    if (!sent.ok) { showProblem(form, { detail: `${t("failed")} (${sent.status})` }); return; }
    const id = made.json.import_id;
    for (;;) {
      const r = await api("GET", `activity-imports/${id}`);
      if (!r.ok) break;
      out.replaceChildren(importResult(r.json));
      if (["completed", "failed", "expired"].includes(r.json.status)) { announce(t(`import_${r.json.status}`)); break; }
      await new Promise((res) => setTimeout(res, 500));
    }
  });
  const template = (name) => h("button", { type: "button", class: "secondary", onclick: async () => {
    const resp = await fetch(`${API}/activity-imports/templates/${name}`, { headers: { Authorization: `Bearer ${session.token}` } });
    const link = h("a", { href: URL.createObjectURL(await resp.blob()), download: name });
    document.body.append(link);
    link.click();
    link.remove();
  } }, name);
  main.append(h("h2", {}, t("nav_imports")), h("p", {}, t("templates"), " ", template("activities.xlsx"), " ", template("activities.csv")), form, out);
}

// ------------------------------------------------------------------ start

document.getElementById("lang").addEventListener("click", () => {
  lang = lang === "nb" ? "en" : "nb";
  localStorage.setItem(store.lang, lang);
  render();
});
document.getElementById("sign-out").addEventListener("click", () => signOut());
// A view's hash renders it; any other (an activity's row) only scrolls.
window.addEventListener("hashchange", () => {
  const v = location.hash.replace(/^#/, "");
  if (!VIEWS.includes(v) || v === shown) return;
  render();
  document.getElementById("main").focus();
});

(async () => {
  try {
    const r = await fetch("/console/config.json");
    if (r.ok) config = await r.json();
  } catch { /* token sign-in remains */ }
  if (config.sign_in === "oidc" && await oidcReturn().catch(() => { render(t("sign_in_failed")); return true; })) return;
  const saved = sessionStorage.getItem(store.token);
  if (saved) signIn(saved); else render();
})();
