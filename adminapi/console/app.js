// licgate console: plain JavaScript against /api/v1; no framework, no CDN.
"use strict";

const $ = (sel) => document.querySelector(sel);

// Set when the admin signed in with the office account (LAN listener):
// changes carry the session's CSRF token.
let csrf = "";

async function whoami() {
  try {
    const r = await fetch("/signin/session");
    if (!r.ok) return;
    const s = await r.json();
    csrf = s.csrf;
    $("#who").textContent = `${s.user} (${s.role})`;
    $("#who").hidden = false;
  } catch (e) { /* tunnel identity or token: no session */ }
}

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (csrf && method !== "GET") opts.headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch("/api/v1" + path, opts);
  const text = await resp.text();
  const data = text && resp.headers.get("Content-Type")?.includes("json") ? JSON.parse(text) : text;
  if (resp.status === 401 && csrf) { csrf = ""; say("Your session ended: sign in again at /signin/begin", true); }
  if (!resp.ok) throw new Error(data && data.error ? data.error : resp.statusText);
  return data;
}

function say(msg, bad) {
  const s = $("#status");
  s.textContent = msg;
  s.className = bad ? "bad" : "";
}

function cell(tr, text) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  tr.appendChild(td);
  return td;
}

function button(td, label, onclick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onclick);
  td.appendChild(b);
  return b;
}

function fill(table, rows, render) {
  const body = $(table + " tbody");
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    render(tr, r);
    body.appendChild(tr);
  }
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = cell(tr, "none");
    td.colSpan = $(table + " thead tr").children.length;
    body.appendChild(tr);
  }
}

const time = (t) => (t ? new Date(t).toLocaleString() : "never");
const ago = (t) => (t ? Math.round((Date.now() - new Date(t)) / 1000) + " s ago" : "never");

async function dashboard() {
  const [services, sessions, denials, peers, ddns, certs] = await Promise.all([
    api("GET", "/services"), api("GET", "/sessions"), api("GET", "/audit/denials?since=1h"),
    api("GET", "/peers"), api("GET", "/ddns"), api("GET", "/certs"),
  ]);
  fill("#services", services, (tr, s) => {
    cell(tr, s.name + " (" + s.port + ")");
    cell(tr, String(s.sessions));
    cell(tr, s.pool ? s.sessions + " of " + s.pool : "no cap");
    cell(tr, s.upstream);
  });
  fill("#sessions", sessions.filter((s) => s.proto === "tcp"), (tr, s) => {
    cell(tr, s.user);
    cell(tr, s.device);
    cell(tr, s.service);
    cell(tr, time(s.start));
    cell(tr, s.bytes_up + " / " + s.bytes_down);
    button(cell(tr, ""), "Revoke device", () => revoke(s.user, s.device));
  });
  fill("#denials", denials.slice(0, 50), (tr, d) => {
    cell(tr, time(d.at));
    cell(tr, d.user ? d.user + "/" + d.device : d.source);
    cell(tr, d.service);
    cell(tr, d.reason);
  });
  fill("#peers", peers, (tr, p) => {
    cell(tr, p.user);
    cell(tr, p.device);
    cell(tr, p.endpoint || "-");
    cell(tr, ago(p.last_handshake));
    const td = cell(tr, p.shared_suspect ? "looks shared: " + p.shared_endpoints.join(" and ") : "");
    if (p.shared_suspect) td.className = "warn";
  });
  const dl = $("#ddns");
  dl.replaceChildren();
  const li = (ul, text, cls) => { const e = document.createElement("li"); e.textContent = text; if (cls) e.className = cls; ul.appendChild(e); };
  if (!ddns.enabled) li(dl, "Dynamic DNS is not configured.");
  for (const p of ddns.providers || []) {
    li(dl, `DDNS ${p.provider} (${p.family}) ${ddns.host}: ${p.last_addr || "-"}` + (p.stopped ? " STOPPED: " + p.last_error : p.last_error ? " retrying: " + p.last_error : ""), p.stopped ? "bad" : "");
  }
  const cl = $("#certs");
  cl.replaceChildren();
  for (const c of certs) {
    const days = Math.round((new Date(c.not_after) - Date.now()) / 86400000);
    li(cl, `Certificate ${c.name} from ${c.issuer}: expires ${time(c.not_after)} (${days} days)`, days < 7 ? "warn" : "");
  }
}

async function people() {
  const [users, devices, pending] = await Promise.all([api("GET", "/users"), api("GET", "/devices"), api("GET", "/pending")]);
  fill("#pending", pending, (tr, d) => {
    cell(tr, d.user);
    cell(tr, d.name);
    cell(tr, d.address);
    cell(tr, time(d.created));
    cell(tr, time(d.pending_until));
    const td = cell(tr, "");
    button(td, "Approve", () => decide(d.user, d.name, "approve"));
    button(td, "Deny", () => decide(d.user, d.name, "deny"));
  });
  const sel = $("#add-device select[name=user]");
  sel.replaceChildren(...users.map((u) => { const o = document.createElement("option"); o.textContent = u.name; return o; }));
  fill("#users", users, (tr, u) => {
    cell(tr, u.name);
    cell(tr, u.email);
    cell(tr, u.disabled ? "disabled" : "enabled");
    button(cell(tr, ""), u.disabled ? "Enable" : "Disable", async () => {
      try {
        const r = await api("POST", `/users/${u.name}/${u.disabled ? "enable" : "disable"}`);
        say(`${u.name} ${u.disabled ? "enabled" : "disabled"}; ${r.sessions_cut} session(s) cut`);
        people();
      } catch (e) { say(e.message, true); }
    });
  });
  fill("#devices", devices, (tr, d) => {
    cell(tr, d.user);
    cell(tr, d.name);
    cell(tr, d.address);
    const td = cell(tr, "");
    button(td, "Revoke", () => revoke(d.user, d.name));
    button(td, "Rekey", async () => {
      try { showDevice(await api("POST", `/devices/${d.user}/${d.name}/rekey`)); } catch (e) { say(e.message, true); }
    });
  });
}

// decide approves or denies a device that waits (verb "approve" or "deny").
async function decide(user, device, verb) {
  if (verb === "deny" && !confirm(`Deny ${user}/${device}? The request is dropped.`)) return;
  try {
    await api("POST", `/pending/${encodeURIComponent(user)}/${encodeURIComponent(device)}/${verb}`);
    say(`${user}/${device} ${verb === "approve" ? "approved: it connects from now on" : "denied"}`);
    people();
  } catch (e) { say(e.message, true); }
}

async function revoke(user, device) {
  if (!confirm(`Revoke ${user}/${device}? Its sessions end now.`)) return;
  try {
    const r = await api("POST", `/devices/${user}/${device}/revoke`);
    say(`${user}/${device} revoked; ${r.sessions_cut} session(s) cut`);
    route();
  } catch (e) { say(e.message, true); }
}

function showDevice(res) {
  $("#new-device").hidden = false;
  $("#new-link").textContent = "";
  const conf = $("#new-conf");
  conf.hidden = !res.profile;
  $("#new-qr").hidden = !res.qr;
  if (res.qr) $("#new-qr").src = res.qr;
  $("#new-profile").textContent = res.profile || "";
  if (res.profile) {
    conf.href = URL.createObjectURL(new Blob([res.profile], { type: "text/plain" }));
    conf.download = res.device.name + ".conf";
  }
  say(`device ${res.device.user}/${res.device.name} added at ${res.device.address}`);
  people();
}

async function policy() {
  const p = await api("GET", "/policy");
  $("#policy-file").textContent = `From ${p.file}, time zone ${p.timezone}.` + (p.rules.length ? "" : " No rules: every connection is denied.");
  fill("#rules", p.rules, (tr, r) => {
    cell(tr, String(r.index));
    cell(tr, r.action);
    cell(tr, r.who.join(", "));
    cell(tr, (r.services || ["all"]).join(", "));
    cell(tr, (r.hours || []).join("; "));
    cell(tr, r.from || r.until ? (r.from || "") + " .. " + (r.until || "") : "");
    cell(tr, r.caps || "");
    cell(tr, r.name || "");
  });
}

async function licenses() {
  const ls = await api("GET", "/licenses");
  const rows = [];
  for (const l of ls) {
    for (const f of l.features || []) rows.push({ l, f });
  }
  fill("#license-rows", rows, (tr, { l, f }) => {
    cell(tr, l.service + (l.type ? " (" + l.type + ")" : ""));
    cell(tr, f.name);
    const used = cell(tr, String(f.in_use));
    if (f.total >= 0 && f.in_use >= f.total) used.className = "warn";
    cell(tr, f.total >= 0 ? String(f.total) : "-");
    const held = (f.holders || []).map((h) =>
      (h.user ? h.user + "/" + h.device : (h.server_user || "?") + " (not through licgate)") +
      (h.count > 1 ? " \u00d7" + h.count : "") + ", " + hours(h.since));
    cell(tr, held.join("; ") || "nobody");
    cell(tr, l.source === "server" ? "license server" : "licgate sessions");
  });
  const notes = $("#license-notes");
  notes.replaceChildren();
  for (const l of ls) {
    const add = (text) => { const e = document.createElement("li"); e.textContent = l.service + ": " + text; e.className = "warn"; notes.appendChild(e); };
    if (l.error) add("the license server's status was not read (" + l.error + "); licgate's sessions shown");
    for (const f of l.findings || []) add(f);
  }
}

// hours is how long ago t was, for people: "2 h", "20 min".
function hours(t) {
  const s = Math.max(0, (Date.now() - new Date(t)) / 1000);
  if (s >= 3600) return Math.round(s / 3600) + " h";
  if (s >= 60) return Math.round(s / 60) + " min";
  return Math.round(s) + " s";
}

let lastReport = null;

async function report() {
  const f = new FormData($("#report-form"));
  const q = new URLSearchParams({ from: f.get("from") || "7d", by: f.get("by") });
  if (f.get("to")) q.set("to", f.get("to"));
  const rep = await api("GET", "/report?" + q);
  lastReport = rep;
  $("#report-products").hidden = !rep.products;
  $("#report-rows").hidden = !!rep.products;
  if (rep.products) {
    fill("#report-products", rep.products.rows, (tr, r) => {
      cell(tr, r.product);
      cell(tr, r.seats ? String(r.seats) : "no cap");
      cell(tr, String(r.peak));
      const at = cell(tr, r.seats ? r.at_limit_hours.toFixed(2) + " h" : "-");
      if (r.at_limit_hours > 0) at.className = "warn";
      cell(tr, r.seats ? String(r.never_used) : "-");
      cell(tr, r.hours.toFixed(2));
      cell(tr, String(r.users));
    });
  }
  fill("#report-rows", rep.rows, (tr, r) => {
    cell(tr, r.key);
    cell(tr, String(r.sessions));
    cell(tr, r.hours.toFixed(2));
    cell(tr, String(r.peak));
  });
  const svg = $("#chart");
  svg.replaceChildren();
  const max = Math.max(1, ...rep.hourly.map((h) => h.peak));
  const w = 100 / Math.max(1, rep.hourly.length);
  rep.hourly.forEach((h, i) => {
    const r = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    const hgt = (h.peak / max) * 150;
    r.setAttribute("x", (i * w) + "%");
    r.setAttribute("width", Math.max(w - 0.2, 0.1) + "%");
    r.setAttribute("y", String(155 - hgt));
    r.setAttribute("height", String(hgt));
    const t = document.createElementNS("http://www.w3.org/2000/svg", "title");
    t.textContent = new Date(h.hour).toLocaleString() + ": " + h.peak;
    r.appendChild(t);
    svg.appendChild(r);
  });
}

function csv() {
  if (!lastReport) return;
  if (lastReport.products) {
    const lines = ["product,seats,peak,at_limit_hours,never_used,seat_hours,sessions,users"];
    for (const r of lastReport.products.rows) lines.push([JSON.stringify(r.product), r.seats, r.peak, r.at_limit_hours, r.never_used, r.hours, r.sessions, r.users].join(","));
    download(lines, "product");
    return;
  }
  const lines = [[lastReport.by, "sessions", "hours", "peak", "bytes_up", "bytes_down"].join(",")];
  for (const r of lastReport.rows) lines.push([JSON.stringify(r.key), r.sessions, r.hours, r.peak, r.bytes_up, r.bytes_down].join(","));
  download(lines, lastReport.by);
}

function download(lines, by) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([lines.join("\n") + "\n"], { type: "text/csv" }));
  a.download = "licgate-usage-" + by + ".csv";
  a.click();
}

const pages = { dashboard, people, policy, licenses, report };

async function route() {
  const page = (location.hash || "#dashboard").slice(1);
  for (const name of Object.keys(pages)) {
    $("#" + name).hidden = name !== page;
    $("#nav-" + name).toggleAttribute("aria-current", name === page);
    if (name === page) $("#nav-" + name).setAttribute("aria-current", "page");
  }
  try { await (pages[page] || dashboard)(); } catch (e) { say(e.message, true); }
}

document.addEventListener("DOMContentLoaded", () => {
  window.addEventListener("hashchange", route);
  $("#add-user").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    try {
      await api("POST", "/users", { name: f.get("name"), email: f.get("email") || undefined });
      say("user " + f.get("name") + " added");
      ev.target.reset();
      people();
    } catch (e) { say(e.message, true); }
  });
  $("#add-device").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    try {
      if (f.get("link")) {
        const l = await api("POST", "/enrollments", { user: f.get("user"), device: f.get("name") });
        $("#new-device").hidden = false;
        $("#new-qr").hidden = true;
        $("#new-conf").hidden = true;
        $("#new-profile").textContent = "";
        $("#new-link").textContent = "Single-use link, valid until " + time(l.expires) + ": " + l.url;
      } else {
        showDevice(await api("POST", "/devices", { user: f.get("user"), name: f.get("name") }));
      }
      ev.target.reset();
    } catch (e) { say(e.message, true); }
  });
  $("#explain").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    try {
      const r = await api("POST", "/policy/explain", { user: f.get("user"), service: f.get("service"), at: f.get("at") || undefined });
      $("#explain-out").textContent = r.explain;
    } catch (e) { $("#explain-out").textContent = e.message; }
  });
  $("#report-form").addEventListener("submit", (ev) => { ev.preventDefault(); report().catch((e) => say(e.message, true)); });
  $("#csv").addEventListener("click", csv);
  whoami().then(route);
  setInterval(() => { if ((location.hash || "#dashboard") === "#dashboard") dashboard().catch(() => {}); }, 3000);
});
