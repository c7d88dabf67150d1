// The compliance console: request queue, a request's page, legal holds, audit verification.
// Navigation lives in memory only: the address bar always shows /console/ (no ids, no filters,
// no identifiers in URLs or the browser history). Everything the API returns is set as text.

import { Api, ApiError } from "./api.js";
import { accessToken, forget, logoutUrl, person, signIn } from "./auth.js";
import { formatDate, formatDateTime, language, setLanguage, t } from "./i18n.js";

const STATUSES = ["received", "awaiting_verification", "awaiting_approval", "in_progress", "completed", "rejected", "failed"];
const TYPES = ["access", "portability", "erasure", "rectification", "restriction", "objection"];
const KINDS = ["customer_id", "phone", "email"];
// the fixed list POST /v1/privacy/requests/{id}/verify accepts (VerifyIn.method)
const METHODS = ["id_document", "callback", "account_login", "in_person", "signed_letter"];
const OPEN = new Set(["received", "awaiting_verification", "awaiting_approval", "in_progress"]);
const DAY = 24 * 60 * 60 * 1000;

let config = null;
let api = null;
const state = { view: "queue", requestId: null, filters: { status: "", type: "", due_before: "" }, notice: null };

// ---- small DOM helpers (no innerHTML anywhere) ----
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

let ids = 0;
function field(label, control) {
  const id = control.id || `f${++ids}`;
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control);
}

function select(name, options, labelOf, value = "", { any = false, required = false } = {}) {
  return h(
    "select", { name, required },
    any ? h("option", { value: "" }, t("any")) : null,
    options.map((option) => h("option", { value: option, selected: option === value }, labelOf(option))),
  );
}

const main = () => document.getElementById("main");
const live = () => document.getElementById("live");

function announce(text) {
  live().textContent = "";
  setTimeout(() => { live().textContent = text; }, 50);
}

function showError(error) {
  const text = error instanceof ApiError ? `${t("error")} ${error.status} (${error.code}): ${error.message}` : `${t("error")}: ${error.message}`;
  const box = document.getElementById("error");
  box.textContent = text;
  box.hidden = false;
  box.focus();
}

function clearError() {
  const box = document.getElementById("error");
  box.textContent = "";
  box.hidden = true;
}

/** Days until the deadline, counted in whole days (negative: overdue). */
export function daysLeft(dueAt, now = Date.now()) {
  return Math.ceil((new Date(dueAt).getTime() - now) / DAY);
}

function countdown(dueAt, status, serverDays) {
  if (!OPEN.has(status)) return h("span", { class: "countdown closed" }, t("closed"));
  const days = Number.isInteger(serverDays) ? serverDays : daysLeft(dueAt);
  if (days < 0) return h("span", { class: "countdown overdue" }, t("overdue", -days));
  if (days === 0) return h("span", { class: "countdown urgent" }, t("due_today"));
  return h("span", { class: days <= 7 ? "countdown urgent" : "countdown" }, t("days_left", days));
}

// ---- navigation (in memory) ----
function go(view, requestId = null) {
  state.view = view;
  state.requestId = requestId;
  clearError();
  render();
}

async function render() {
  renderChrome();
  const root = main();
  root.replaceChildren();
  if (!accessToken()) {
    root.append(
      h("h1", { tabindex: "-1" }, t("title")),
      h("p", {}, state.notice || t("signed_out_text")),
      h("button", { type: "button", class: "primary", id: "sign-in", onclick: onSignIn }, t("sign_in")),
    );
    return;
  }
  try {
    if (state.view === "request") await renderRequest(root);
    else if (state.view === "holds") await renderHolds(root);
    else if (state.view === "audit") renderAudit(root);
    else await renderQueue(root);
  } catch (error) {
    showError(error);
  }
  root.querySelector("h1")?.focus();
}

function renderChrome() {
  const signedIn = Boolean(accessToken());
  const nav = document.getElementById("nav");
  nav.hidden = !signedIn;
  nav.setAttribute("aria-label", t("nav_label"));
  const items = [["queue", t("nav_queue")], ["holds", t("nav_holds")], ["audit", t("nav_audit")]];
  nav.replaceChildren(h("ul", {}, items.map(([view, label]) => h("li", {}, h("button", {
    type: "button", "data-view": view, "aria-current": (state.view === view || (view === "queue" && state.view === "request")) ? "page" : false,
    onclick: () => go(view),
  }, label)))));
  const who = document.getElementById("who");
  who.replaceChildren(signedIn ? h("span", {}, `${t("signed_in_as")} `, h("strong", {}, person() || "")) : "");
  const out = document.getElementById("sign-out");
  out.hidden = !signedIn;
  out.textContent = t("sign_out");
  const lang = document.getElementById("lang");
  lang.textContent = t("language");
  lang.setAttribute("lang", language() === "de" ? "en" : "de");
  lang.setAttribute("aria-label", t("language_label"));
  document.getElementById("skip").textContent = t("skip");
}

// ---- the request queue ----
async function renderQueue(root) {
  root.append(h("h1", { tabindex: "-1" }, t("queue_title")));
  const filters = h("form", { class: "filters", "aria-label": t("filters") },
    field(t("filter_status"), select("status", STATUSES, (s) => t(`status.${s}`), state.filters.status, { any: true })),
    field(t("filter_type"), select("type", TYPES, (s) => t(`type.${s}`), state.filters.type, { any: true })),
    field(t("filter_due"), h("input", { type: "date", name: "due_before", value: state.filters.due_before })),
    h("button", { type: "submit" }, t("apply")),
  );
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(filters);
    state.filters = { status: data.get("status"), type: data.get("type"), due_before: data.get("due_before") };
    go("queue");
  });
  const body = h("tbody");
  const table = h("table", { id: "queue" },
    h("caption", {}, t("queue_title")),
    h("thead", {}, h("tr", {}, [t("col_request"), t("col_type"), t("col_status"), t("col_due"), t("col_left")].map((c) => h("th", { scope: "col" }, c)))),
    body);
  const more = h("button", { type: "button", hidden: true }, t("more"));
  root.append(filters, table, more, newRequestForm());
  const query = { ...state.filters };
  if (query.due_before) query.due_before = `${query.due_before}T00:00:00Z`;
  let cursor = null;
  const load = async () => {
    const page = await api.listRequests(query, cursor);
    for (const item of page.items) {
      body.append(h("tr", { "data-request": item.request_id },
        h("td", {}, h("button", { type: "button", class: "link", onclick: () => go("request", item.request_id) }, item.request_id)),
        h("td", {}, t(`type.${item.type}`)),
        h("td", {}, t(`status.${item.status}`)),
        h("td", {}, formatDate(item.due_at)),
        h("td", {}, countdown(item.due_at, item.status, item.days_left))));
    }
    if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: "5" }, t("none"))));
    cursor = page.next_cursor;
    more.hidden = !cursor;
  };
  more.addEventListener("click", () => load().catch(showError));
  await load();
}

function subjectFields() {
  return [
    field(t("identifier_kind"), select("kind", KINDS, (k) => t(`kind.${k}`), "customer_id", { required: true })),
    field(t("identifier_value"), h("input", { name: "value", required: true, autocomplete: "off", spellcheck: "false", maxlength: "254" })),
  ];
}

function newRequestForm() {
  const form = h("form", { class: "card", id: "new-request" },
    h("h2", {}, t("new_request")),
    field(t("filter_type"), select("type", TYPES, (s) => t(`type.${s}`), "access", { required: true })),
    ...subjectFields(),
    field(t("note"), h("input", { name: "note", maxlength: "1000", autocomplete: "off" })),
    h("button", { type: "submit", class: "primary" }, t("file")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = { type: data.get("type"), subject: { [data.get("kind")]: data.get("value") } };
    if (data.get("note")) body.note = data.get("note");
    form.reset(); // the identifier leaves the page as soon as it is sent
    try {
      const answer = await api.fileRequest(body);
      announce(t("filed"));
      go("request", answer.request_id);
    } catch (error) {
      showError(error);
    }
  });
  return form;
}

// ---- a request's page ----
async function renderRequest(root) {
  const request = await api.request(state.requestId);
  root.append(
    h("h1", { tabindex: "-1" }, `${t("request_title")} ${request.request_id}`),
    h("p", {}, h("button", { type: "button", class: "link", onclick: () => go("queue") }, t("back")), " ",
      h("button", { type: "button", id: "refresh", onclick: () => go("request", request.request_id) }, t("refresh"))),
    h("dl", { class: "facts" },
      h("dt", {}, t("col_type")), h("dd", {}, t(`type.${request.type}`)),
      h("dt", {}, t("col_status")), h("dd", { id: "status", "data-status": request.status }, t(`status.${request.status}`)),
      h("dt", {}, t("due_at")), h("dd", {}, formatDateTime(request.due_at), " – ", countdown(request.due_at, request.status)),
      request.completed_at ? [h("dt", {}, t("completed_at")), h("dd", {}, formatDateTime(request.completed_at))] : null),
    h("h2", {}, t("history")),
    h("ol", { class: "history" }, request.history.map((entry) => h("li", {}, `${formatDateTime(entry.at)} – ${t(`status.${entry.status}`)}`))),
  );
  root.append(verificationSection(request), approvalSection(request), resultSection(request));
}

function verificationSection(request) {
  const section = h("section", { class: "card", "aria-labelledby": "verification-title" }, h("h2", { id: "verification-title" }, t("verification")));
  if (request.verification) {
    const v = request.verification;
    section.append(h("p", {}, t("verified_by", t(`methods.${v.method}`), v.by, formatDateTime(v.at))));
  } else if (request.status === "awaiting_verification" || request.status === "received") {
    const form = h("form", { id: "verify" },
      field(t("method"), select("method", METHODS, (m) => t(`methods.${m}`), "id_document", { required: true })),
      field(t("reference"), h("input", { name: "reference", required: true, minlength: "3", maxlength: "128", autocomplete: "off" })),
      h("button", { type: "submit", class: "primary" }, t("verify")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      try {
        await api.verify(request.request_id, { method: data.get("method"), reference: data.get("reference") });
        announce(t("verified"));
        go("request", request.request_id);
      } catch (error) {
        showError(error);
      }
    });
    section.append(form);
  } else {
    section.append(h("p", {}, "–"));
  }
  return section;
}

function approvalSection(request) {
  const section = h("section", { class: "card", "aria-labelledby": "approval-title" }, h("h2", { id: "approval-title" }, t("approval")));
  if (request.approval?.at) {
    section.append(h("p", {}, t("approved_by", request.approval.by, formatDateTime(request.approval.at))));
  } else if (request.status === "awaiting_approval") {
    section.append(h("p", {}, t("approval_hint")), h("button", {
      type: "button", class: "primary", id: "approve",
      onclick: async () => {
        try {
          await api.approve(request.request_id);
          announce(t("approved"));
          go("request", request.request_id);
        } catch (error) {
          showError(error);
        }
      },
    }, t("approve")));
  } else {
    section.append(h("p", {}, "–"));
  }
  return section;
}

function resultSection(request) {
  const result = request.result;
  if (!result) return null;
  if (result.download_url) {
    return h("section", { class: "card", "aria-labelledby": "export-title" }, h("h2", { id: "export-title" }, t("export")),
      h("button", { type: "button", class: "primary", id: "download", onclick: () => downloadExport(request) }, t("download")));
  }
  if (result.download === "expired") {
    return h("section", { class: "card" }, h("h2", {}, t("export")), h("p", {}, t("download_expired")));
  }
  const isCertificate = Boolean(result.certificate);
  const rows = Object.entries(result).map(([key, value]) => [
    h("dt", {}, key === "stores_checked" ? t("stores_checked") : key.replace(/_/g, " ")),
    h("dd", {}, Array.isArray(value) ? h("ul", {}, value.map((v) => h("li", {}, typeof v === "object" ? JSON.stringify(v) : String(v))))
      : typeof value === "object" && value !== null ? JSON.stringify(value) : String(value)),
  ]);
  return h("section", { class: isCertificate ? "card certificate" : "card", id: isCertificate ? "certificate" : "result", "aria-labelledby": "result-title" },
    h("h2", { id: "result-title" }, isCertificate ? t("certificate") : t("result")),
    isCertificate ? h("p", {}, `${t("request_title")} ${request.request_id} – ${t(`type.${request.type}`)} – ${formatDateTime(request.completed_at || request.due_at)}`) : null,
    h("dl", { class: "facts" }, rows),
    isCertificate ? h("button", { type: "button", class: "no-print", id: "print", onclick: () => window.print() }, t("print")) : null);
}

async function downloadExport(request) {
  try {
    const fresh = await api.request(request.request_id); // each view issues a new single-use ticket
    const blob = await api.download(fresh.result.download_url);
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: `${request.request_id}-export.json`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 0); // the export leaves no object URL behind
    announce(t("downloaded"));
  } catch (error) {
    showError(error);
  }
}

// ---- legal holds ----
async function renderHolds(root) {
  root.append(h("h1", { tabindex: "-1" }, t("holds_title")));
  const list = await api.holds();
  const body = h("tbody");
  for (const hold of list.items) {
    const row = h("tr", { "data-hold": hold.hold_id },
      h("td", {}, hold.hold_id),
      h("td", {}, formatDateTime(hold.created_at)),
      h("td", {}, hold.placed_by || "–"),
      h("td", {}, hold.reason || "–"),
      h("td", {}, hold.identifier_kinds.map((k) => t(`kind.${k}`)).join(", ")),
      h("td", {}, h("button", { type: "button", class: "lift", onclick: () => liftForm(row, hold) }, t("hold_lift"))));
    body.append(row);
  }
  if (!list.items.length) body.append(h("tr", {}, h("td", { colspan: "6" }, t("holds_none"))));
  root.append(h("table", { id: "holds" }, h("caption", {}, t("holds_title")),
    h("thead", {}, h("tr", {}, [t("col_hold"), t("col_created"), t("col_by"), t("reason"), t("col_kinds"), t("col_actions")].map((c) => h("th", { scope: "col" }, c)))),
    body));
  const form = h("form", { class: "card", id: "new-hold" }, h("h2", {}, t("hold_add")), ...subjectFields(),
    field(t("hold_reason"), h("input", { name: "reason", required: true, minlength: "3", maxlength: "500", autocomplete: "off" })),
    h("button", { type: "submit", class: "primary" }, t("hold_add")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = { subject: { [data.get("kind")]: data.get("value") }, reason: data.get("reason") };
    form.reset();
    try {
      await api.addHold(body);
      announce(t("hold_added"));
      go("holds");
    } catch (error) {
      showError(error);
    }
  });
  root.append(form);
}

function liftForm(row, hold) {
  // a confirmation step with the reason the hold ends (sealed with the hold; the lift is audited with the person)
  const cell = row.lastElementChild;
  const reason = h("input", { name: "lift_reason", required: true, minlength: "3", maxlength: "500", autocomplete: "off" });
  const form = h("form", { class: "inline", "aria-label": `${t("hold_lift_confirm")} ${hold.hold_id}` },
    field(t("hold_lift_reason"), reason),
    h("button", { type: "submit", class: "primary confirm-lift" }, t("hold_lift_confirm")),
    h("button", { type: "button", onclick: () => go("holds") }, t("cancel")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.liftHold(hold.hold_id, reason.value.trim());
      announce(t("hold_lifted"));
      go("holds");
    } catch (error) {
      showError(error);
    }
  });
  cell.replaceChildren(form);
  reason.focus();
}

// ---- audit verification ----
function renderAudit(root) {
  root.append(h("h1", { tabindex: "-1" }, t("audit_title")));
  const today = new Date().toISOString().slice(0, 10);
  const output = h("div", { id: "audit-result", "aria-live": "polite" });
  const form = h("form", { class: "card", id: "audit" },
    field(t("audit_day"), h("input", { type: "date", name: "day", required: true, value: today })),
    h("button", { type: "submit", class: "primary" }, t("audit_check")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    try {
      const day = await api.auditDay(new FormData(form).get("day"));
      output.replaceChildren(
        h("p", { class: day.intact ? "ok" : "bad", "data-intact": String(day.intact) },
          day.intact ? t("audit_intact") : t("audit_broken", day.first_broken_position)),
        h("dl", { class: "facts" },
          h("dt", {}, t("audit_entries")), h("dd", {}, String(day.entries)),
          h("dt", {}, t("audit_first")), h("dd", {}, formatDateTime(day.first_at)),
          h("dt", {}, t("audit_last")), h("dd", {}, formatDateTime(day.last_at)),
          day.problem ? [h("dt", {}, t("audit_problem")), h("dd", {}, day.problem)] : null));
    } catch (error) {
      showError(error);
    }
  });
  root.append(form, output);
}

// ---- sign-in and sign-out ----
async function onSignIn() {
  state.notice = null;
  try {
    await signIn(config);
    go("queue");
  } catch (error) {
    state.notice = t("signin_failed");
    render();
  }
}

function onSignOut() {
  forget();
  state.view = "queue";
  state.requestId = null;
  state.filters = { status: "", type: "", due_before: "" };
  main().replaceChildren();
  location.replace(logoutUrl(config)); // ends the hosted UI's session too; this page's memory goes with it
}

function onUnauthorized() {
  forget();
  state.notice = t("session_expired");
  render();
}

async function start() {
  setLanguage("de"); // German first; English one click away
  const answer = await fetch("config.json", { cache: "no-store", credentials: "omit" });
  config = await answer.json();
  api = new Api(config.api_base, accessToken, onUnauthorized);
  document.getElementById("sign-out").addEventListener("click", onSignOut);
  document.getElementById("lang").addEventListener("click", () => {
    setLanguage(language() === "de" ? "en" : "de");
    render();
  });
  render();
}

start().catch(showError);
