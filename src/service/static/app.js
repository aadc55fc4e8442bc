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
  $("add-domain-form").hidden = !token;
  $("domain-need-token").hidden = !!token;
  $("token").value = token ? "••••••••" : "";
}

// ---- adding a domain (a background job on the server) ----------------------------------------

// The same reading rules as the command line (src/data/domain-docs.ts): JSON lines with
// id/_id, title, text; a .txt file is all text; a .md file's leading "# " heading is its title.
async function readDomainFiles(files) {
  const docs = [];
  for (const f of files) {
    const name = f.webkitRelativePath || f.name;
    const lower = name.toLowerCase();
    const raw = (await f.text()).replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
    if (lower.endsWith(".jsonl") || lower.endsWith(".json")) {
      raw.split("\n").forEach((line, i) => {
        if (line.trim() === "") return;
        let o;
        try {
          o = JSON.parse(line);
        } catch (err) {
          throw new Error(`${name}:${i + 1}: invalid JSON`);
        }
        const id = o.id ?? o._id;
        if (typeof id !== "string" || id === "" || typeof o.text !== "string") throw new Error(`${name}:${i + 1}: needs a string "id" and "text"`);
        docs.push({ id, title: typeof o.title === "string" ? o.title : "", text: o.text });
      });
    } else if (/\.(txt|md|markdown)$/.test(lower)) {
      let title = "";
      let text = raw.trim();
      const m = /^#[ \t]+(.+)$/m.exec(text);
      if (!lower.endsWith(".txt") && m && text.slice(0, m.index).trim() === "") {
        title = m[1].trim();
        text = text.slice(m.index + m[0].length).trim();
      }
      if (title || text) docs.push({ id: name, title, text });
    }
  }
  return docs;
}

async function addDomain() {
  const name = $("domain-name").value.trim();
  const files = [...$("domain-files").files, ...$("domain-folder").files];
  const msg = $("admin-message");
  msg.className = "small";
  try {
    if (!name) throw new Error("give the domain a name");
    if (files.length === 0) throw new Error("choose a JSON-lines file, .txt/.md files or a folder");
    const documents = (await readDomainFiles(files)).map((d) => (d.id.startsWith(`${name}/`) ? d : { ...d, id: `${name}/${d.id}` }));
    if (documents.length < 2) throw new Error(`found ${documents.length} document(s); a domain needs at least 2`);
    $("add-domain-button").disabled = true;
    const { job } = await api("POST", "/api/domains", { name, documents });
    showJob(job);
    pollJob(job.id);
  } catch (err) {
    $("add-domain-button").disabled = false;
    msg.className = "small error";
    msg.textContent = `${err.code || "ERROR"}: ${err.message}`;
  }
}

function fmtSeconds(s) {
  return s >= 90 ? `${Math.round(s / 60)} min` : `${Math.round(s)} s`;
}

function showJob(job) {
  $("job").hidden = false;
  $("job").dataset.state = job.state;
  $("job-title").textContent = `Adding domain “${job.name}”`;
  $("job-state").textContent = job.state === "running" ? `${job.stage} · ${fmtSeconds(job.elapsedSeconds)} so far` : job.state === "done" ? `done in ${fmtSeconds(job.elapsedSeconds)}` : "failed";
  const bar = $("job-progress");
  if (job.state === "done") {
    bar.max = 1;
    bar.value = 1;
  } else if (job.total > 0) {
    bar.max = job.total;
    bar.value = job.done;
  }
  let detail = job.total > 0 ? `${job.stage}: ${job.done}/${job.total} ${job.unit}` : job.stage;
  if (job.rate > 0) detail += ` · ${job.rate.toFixed(1)} ${job.unit}/s`;
  if (job.etaSeconds !== undefined) detail += ` · ETA ${fmtSeconds(job.etaSeconds)}`;
  if (job.state === "done" && job.result) detail = `expert ${job.result.expert.name}: ${job.result.expert.routable ? `routable, ${job.result.expert.pilots} pilot(s)` : "active, no pilots"}`;
  if (job.state === "failed") detail = `${job.error.code}: ${job.error.message}`;
  $("job-detail").textContent = detail;
  $("job-detail").className = job.state === "failed" ? "small error" : "muted small";
  $("job-log").replaceChildren(...job.log.map((line) => el("li", { text: line })));
}

async function pollJob(id) {
  let misses = 0;
  for (;;) {
    let job;
    try {
      ({ job } = await api("GET", `/api/jobs/${encodeURIComponent(id)}`));
      misses = 0;
    } catch (err) {
      // A busy server (training shares its CPU) may miss a poll or two; give up only on the job's absence or a long silence.
      if (err.code === "NOT_FOUND" || ++misses >= 30) {
        $("job-detail").textContent = `lost the job: ${err.message}`;
        break;
      }
      await new Promise((r) => setTimeout(r, 2000));
      continue;
    }
    showJob(job);
    if (job.state !== "running") break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  $("add-domain-button").disabled = false;
  await loadExperts().catch(() => {});
  await loadStatus().catch(() => {});
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
$("add-domain-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  addDomain();
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
// A domain job started earlier (another tab, a reload) keeps showing its progress.
api("GET", "/api/jobs")
  .then(({ jobs }) => {
    const running = jobs.find((j) => j.state === "running");
    if (running) {
      $("domain-admin").open = true;
      showJob(running);
      pollJob(running.id);
    }
  })
  .catch(() => {});
