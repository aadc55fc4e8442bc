// RouterRetriever web page. Plain browser JavaScript, no build step, no dependencies.
// Every text from the server goes through textContent (never innerHTML), so documents and
// expert names cannot inject markup; the CSP forbids inline scripts as a second line.
"use strict";

const $ = (id) => document.getElementById(id);
const EXAMPLES = [
  "Vitamin D deficiency increases the risk of multiple sclerosis",
  "python read a json file into a dict",
  "Schools should ban junk food",
  "boundary layer transition on a swept wing at supersonic speed",
];
let token = sessionStorage.getItem("rr-token") || "";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token && method !== "GET") headers.authorization = `Bearer ${token}`;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await res.json().catch(() => ({ error: { code: "BAD_RESPONSE", message: `HTTP ${res.status}` } }));
  if (!res.ok) throw Object.assign(new Error(data.error?.message || `HTTP ${res.status}`), { code: data.error?.code });
  return data;
}

// ---- search -------------------------------------------------------------------------------

async function search(query) {
  const k = Number($("k").value);
  $("search-error").hidden = true;
  $("search-button").disabled = true;
  try {
    const r = await api("POST", "/api/search", { query, k });
    renderResults(r);
    renderRouting(r);
  } catch (err) {
    $("search-error").textContent = `${err.code || "ERROR"}: ${err.message}`;
    $("search-error").hidden = false;
  } finally {
    $("search-button").disabled = false;
  }
}

function renderResults(r) {
  const list = $("results");
  list.replaceChildren();
  $("took").textContent = `${r.hits.length} hits · ${r.tookMs} ms`;
  $("no-results").hidden = r.hits.length > 0;
  $("no-results").textContent = "No documents in the store yet.";
  for (const h of r.hits) {
    const domain = h.id.includes("/") ? h.id.split("/")[0] : "";
    list.append(
      el(
        "li",
        { class: "hit", "data-id": h.id },
        el("div", { class: "hit-head" },
          el("span", { class: "hit-title", text: h.title || h.snippet.slice(0, 80) || h.id }),
          el("span", { class: "hit-score", text: h.score.toFixed(3) })),
        el("div", { class: "hit-meta muted small" }, el("code", { text: h.id }), domain ? el("span", { class: "tag", text: domain }) : ""),
        el("p", { class: "hit-snippet", text: h.snippet }),
      ),
    );
  }
}

function renderRouting(r) {
  $("routing-panel").hidden = false;
  $("chosen-expert").textContent = r.expert;
  $("routing-explanation").textContent = r.explanation || "";
  // Each candidate's share of the query's embedding (1 for the chosen one when routing is hard);
  // the raw routing similarity is in the tooltip, for those who want it.
  const names = [...new Set([...Object.keys(r.weights || {}), ...Object.keys(r.scores)])];
  const share = (n) => (r.weights && r.weights[n]) || 0;
  names.sort((a, b) => share(b) - share(a) || (r.scores[b] ?? -Infinity) - (r.scores[a] ?? -Infinity));
  const bars = $("score-bars");
  bars.replaceChildren();
  if (Object.keys(r.scores).length === 0) bars.append(el("p", { class: "muted small", text: "No pilot library: every query uses the base model." }));
  else for (const name of names) {
    const w = share(name);
    const fill = el("div", { class: "bar-fill" });
    fill.style.width = `${(2 + 98 * w).toFixed(1)}%`;
    const sim = r.scores[name];
    bars.append(
      el("div", { class: `bar${name === r.expert ? " chosen" : ""}`, "data-expert": name, role: "img", "aria-label": `${name}: ${Math.round(w * 100)}% of the query's embedding`, title: sim === undefined ? "no pilots" : `routing similarity ${sim.toFixed(4)}` },
        el("span", { class: "bar-label", text: name }),
        el("div", { class: "bar-track" }, fill),
        el("span", { class: "bar-value", text: `${Math.round(w * 100)}%` })),
    );
  }
  $("routing-note").hidden = !r.routingNote;
  $("routing-note").textContent = r.routingNote || "";
}

// ---- experts ------------------------------------------------------------------------------

async function loadExperts() {
  const { experts } = await api("GET", "/api/experts");
  const list = $("experts");
  list.replaceChildren();
  if (experts.length === 0) list.append(el("li", { class: "muted small", text: "No experts: every query uses the base model." }));
  for (const e of experts) {
    const state = e.active ? (e.routable ? `${e.pilots} pilot${e.pilots === 1 ? "" : "s"}` : "active, no pilots") : e.error ? "cannot load" : "inactive";
    const item = el("li", { class: `expert${e.active ? " active" : ""}`, "data-expert": e.name },
      el("span", { class: "expert-name", text: e.name }),
      el("span", { class: "muted small", text: state }));
    if (e.error) item.title = e.error;
    if (token) {
      const button = el("button", { class: "small-button", type: "button", text: e.active ? "Remove" : "Add" });
      button.addEventListener("click", () => (e.active ? removeExpert(e.name) : addExpert(e.name)));
      item.append(button);
    }
    list.append(item);
  }
}

async function addExpert(name) {
  await adminAction(() => api("POST", "/api/experts", { name }), (r) => r.note || `Added ${name} (${r.expert.pilots} pilots).`);
}

async function removeExpert(name) {
  await adminAction(() => api("DELETE", `/api/experts/${encodeURIComponent(name)}`), () => `Removed ${name}.`);
}

async function adminAction(call, message) {
  const msg = $("admin-message");
  msg.className = "small";
  msg.textContent = "working…";
  try {
    msg.textContent = message(await call());
  } catch (err) {
    msg.className = "small error";
    msg.textContent = `${err.code || "ERROR"}: ${err.message}`;
  }
  await loadExperts().catch(() => {});
  await loadStatus().catch(() => {});
}

async function loadStatus() {
  const h = await api("GET", "/api/health");
  $("status").textContent = `${h.documents} documents · ${h.experts.active} active expert${h.experts.active === 1 ? "" : "s"} (${h.experts.routable} routable) · ${h.pilots} pilots · ${h.modelId}`;
}

function showAdmin() {
  $("add-expert-form").hidden = !token;
  $("token").value = token ? "••••••••" : "";
}

// ---- wiring -------------------------------------------------------------------------------

$("search-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const q = $("query").value.trim();
  if (q) search(q);
});
$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const v = $("token").value.trim();
  if (v && !v.startsWith("•")) token = v;
  if (!v) token = "";
  sessionStorage.setItem("rr-token", token);
  showAdmin();
  loadExperts().catch(() => {});
});
$("add-expert-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const name = $("expert-name").value.trim();
  if (name) addExpert(name);
});
for (const q of EXAMPLES) {
  const b = el("button", { type: "button", class: "example", text: q });
  b.addEventListener("click", () => {
    $("query").value = q;
    search(q);
  });
  $("examples").append(b);
}
showAdmin();
loadStatus().catch((err) => ($("status").textContent = `server unreachable: ${err.message}`));
loadExperts().catch(() => {});
