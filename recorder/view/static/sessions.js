// The sessions page: every session of the store, sortable, filtered, paged; its URL is its state.
import { getJSON, el, duration } from "/static/api.js";

const params = new URLSearchParams(location.search);
const state = {
  page: Number(params.get("page") || 1), per_page: Number(params.get("per_page") || 50),
  sort: params.get("sort") || "started", order: params.get("order") || "desc",
  status: params.get("status") || "", model: params.get("model") || "", q: params.get("q") || "",
};

function query() {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(state)) if (value !== "" && value !== null) q.set(key, value);
  return q;
}

function fillSelect(select, values, current) {
  const keep = select.options[0];
  select.replaceChildren(keep, ...values.map((v) => el("option", { value: v, text: v })));
  select.value = current;
}

let loads = 0;  // an answer to an older load (typing went on meanwhile) is dropped

async function load() {
  const q = query();
  const mine = ++loads;
  history.replaceState(null, "", `/?${q}`);
  document.body.dataset.loading = "1";
  let data;
  try {
    data = await getJSON(`/api/sessions?${q}`);
    if (mine !== loads) return;
  } catch (error) {
    if (mine !== loads) return;
    document.getElementById("notes").replaceChildren(el("li", { text: String(error.message) }));
    delete document.body.dataset.loading;
    return;
  }
  fillSelect(document.getElementById("status"), data.statuses, state.status);
  fillSelect(document.getElementById("model"), data.models, state.model);
  document.getElementById("per_page").value = String(state.per_page);
  const pages = Math.max(1, Math.ceil(data.total / data.per_page));
  document.getElementById("summary").textContent = `${data.total} sessions`;
  document.getElementById("page").textContent = `page ${data.page} of ${pages}`;
  const search = document.getElementById("q");
search.value = state.q;
let typing = null;
search.addEventListener("input", () => {  // a search per pause in typing, not per key
  clearTimeout(typing);
  typing = setTimeout(() => { state.q = search.value.trim(); state.page = 1; load(); }, 250);
});
document.getElementById("prev").disabled = data.page <= 1;
  document.getElementById("next").disabled = data.page >= pages;
  for (const th of document.querySelectorAll("th[data-sort]")) {
    th.classList.toggle("sorted", th.dataset.sort === state.sort);
    th.classList.toggle("asc", th.dataset.sort === state.sort && state.order === "asc");
  }
  const body = document.querySelector("#sessions tbody");
  body.replaceChildren(...data.sessions.map(row));
  const notes = (data.notes || []).map((text) => el("li", { text }));
  if (data.total === 0) notes.push(el("li", { text: state.q
    ? "no session's transcripts have all these words: change the search or the filters"
    : "no sessions match: change the filters, or record or import one" }));
  document.getElementById("notes").replaceChildren(...notes);
  document.body.dataset.q = state.q;
  delete document.body.dataset.loading;
  document.body.dataset.loaded = "1";
  // counts need each session's index: fill them in as they come, the table is usable already
  for (const session of data.sessions) {
    if (session.turns !== undefined) showCounts(session);
    else if (session.frames <= session.summary_frames_max) fillCounts(session.id);
    else for (const name of ["turns", "interruptions", "errors", "p50"]) {
      const td = document.querySelector(`tr[data-id="${CSS.escape(session.id)}"] .${name}`);
      if (td) { td.textContent = "open"; td.title = "a long session: counted when its page is opened"; }
    }
  }
}

function cell(text, cls) { return el("td", { class: cls, text: text ?? "" }); }

function row(s) {
  const started = s.started_at ? s.started_at.replace("T", " ").slice(0, 19) : "unknown";
  return el("tr", { "data-id": s.id, "data-status": s.status, "data-model": s.model || "",
    "data-protocol": s.protocol || "" },
    cell(started), el("td", { class: "id" }, el("a", { href: `/s/${s.id}`, text: s.id })),
    cell(s.model), cell(s.status), cell(duration(s.duration_ms)), cell(String(s.frames)),
    cell("…", "turns"), cell("…", "interruptions"), cell("…", "errors"), cell("…", "p50"),
    cell(s.protocol ?? "unknown", "protocol"));
}

function showCounts(s) {
  const tr = document.querySelector(`tr[data-id="${CSS.escape(s.id)}"]`);
  if (!tr) return;
  tr.querySelector(".turns").textContent = String(s.turns);
  tr.querySelector(".interruptions").textContent = String(s.interruptions);
  tr.querySelector(".errors").textContent = String(s.errors);
  tr.querySelector(".p50").textContent = s.p50_voice_to_voice_ms === null ? "n/a" : duration(s.p50_voice_to_voice_ms);
}

async function fillCounts(id) {
  try {
    showCounts(await getJSON(`/api/sessions/${encodeURIComponent(id)}/summary`));
  } catch (error) {
    const tr = document.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
    if (tr) tr.querySelector(".turns").textContent = "?";
  }
}

for (const th of document.querySelectorAll("th[data-sort]")) {
  th.addEventListener("click", () => {
    if (state.sort === th.dataset.sort) state.order = state.order === "asc" ? "desc" : "asc";
    else { state.sort = th.dataset.sort; state.order = "asc"; }
    state.page = 1; load();
  });
}
for (const name of ["status", "model", "per_page"]) {
  document.getElementById(name).addEventListener("change", (event) => {
    state[name] = name === "per_page" ? Number(event.target.value) : event.target.value;
    state.page = 1; load();
  });
}
document.getElementById("prev").addEventListener("click", () => { state.page -= 1; load(); });
document.getElementById("next").addEventListener("click", () => { state.page += 1; load(); });
load();
