// Yardmaster's web page: a hash-routed view of the REST API of docs/web.md, kept current by its
// event stream. No library: the page is compiled into the master and must work offline.
// All URLs are relative so that the page also works behind a proxy's path prefix.
"use strict";

const RESULTS = ["success", "warnings", "failure", "skipped", "exception", "retry", "cancelled"];
const main = document.getElementById("main");
const errorBox = document.getElementById("error");

// ------------------------------------------------------------------ helpers

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
}
function clearError() { errorBox.hidden = true; errorBox.textContent = ""; }

class ApiError extends Error {}

// GET api/v2/PATH; rejects with the API's `error` text (also shown in the banner).
async function api(path) {
  let resp;
  try {
    resp = await fetch("api/v2/" + path, { headers: { Accept: "application/json" } });
  } catch (e) {
    const err = new ApiError("cannot reach the server: " + e.message);
    showError(err.message);
    throw err;
  }
  let body = null;
  try { body = await resp.json(); } catch (e) { /* not JSON: reported below by status */ }
  if (!resp.ok) {
    const text = body && body.error ? body.error : resp.status + " " + resp.statusText;
    const err = new ApiError(text + " (" + path.split("?")[0] + ")");
    showError(err.message);
    throw err;
  }
  return body;
}

// A build's or step's state as the data-result name: running until complete.
function resultName(item) {
  if (!item) return "none";
  if (!item.complete) return item.started_at === null && item.results === undefined ? "none" : "running";
  const r = item.results;
  return r === null || r === undefined || r < 0 ? "none" : RESULTS[r] || "none";
}

function badge(item) {
  const name = resultName(item);
  const label = name === "running" ? (item.state_string || "running") : name;
  return el("span", { class: "badge " + name, title: item && item.state_string ? item.state_string : null }, label);
}

function fmtTime(t) {
  if (t === null || t === undefined) return "";
  const d = new Date(t * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function ago(t) {
  if (t === null || t === undefined) return "";
  const s = Math.max(0, Date.now() / 1000 - t);
  if (s < 60) return Math.round(s) + "s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

function timeCell(t) {
  return el("td", { class: "nowrap", title: fmtTime(t) }, t ? ago(t) : el("span", { class: "muted" }, "—"));
}

function fmtDuration(start, end) {
  if (start === null || start === undefined) return "";
  const s = Math.max(0, Math.round((end ?? Date.now() / 1000) - start));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
}

function table(id, heads, rows) {
  return el("table", { id },
    el("thead", {}, el("tr", {}, heads.map((h) => el("th", typeof h === "string" ? {} : h[1], typeof h === "string" ? h : h[0])))),
    el("tbody", {}, rows));
}

// ------------------------------------------------------------------ live events
// One EventSource for the whole page. On a log page its URL names that log (?logid=N), so that
// the same stream carries the log's new lines; the route changes it when the log changes.

const live = { source: null, logid: null, retry: null, handlers: { build: [], step: [], log: [] } };
const liveBadge = document.getElementById("live");

function connectEvents(logid) {
  if (live.source && live.logid === logid && live.source.readyState !== EventSource.CLOSED) return;
  if (live.source) live.source.close();
  clearTimeout(live.retry);
  live.logid = logid;
  const src = new EventSource("api/v2/events" + (logid !== null ? "?logid=" + logid : ""));
  live.source = src;
  src.onopen = () => { liveBadge.textContent = "live"; liveBadge.className = "live on"; };
  src.onerror = () => {
    liveBadge.textContent = "reconnecting"; liveBadge.className = "live off";
    // EventSource retries by itself unless the server refused the stream (CLOSED): then the
    // page reconnects after a pause, with the same logs.
    if (src.readyState === EventSource.CLOSED && live.source === src) {
      live.retry = setTimeout(() => { live.source = null; connectEvents(live.logid); }, 3000);
    }
  };
  for (const type of ["build", "step", "log"]) {
    src.addEventListener(type, (ev) => {
      let data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      for (const h of live.handlers[type]) h(data);
    });
  }
}

// Handlers belong to the current view; a route change drops them.
function onEvent(type, handler) { live.handlers[type].push(handler); }
function dropHandlers() { for (const k in live.handlers) live.handlers[k] = []; }

// ------------------------------------------------------------------ views

async function viewBuilders() {
  main.append(el("h1", {}, "Builders"));
  const { builders } = await api("builders?order=name");
  const rows = new Map();
  const tbody = el("tbody");
  const lastBuild = new Map();

  function setLast(tr, b) {
    tr.dataset.result = resultName(b);
    const cells = tr.children;
    cells[1].replaceChildren(b ? el("a", { href: "#/builds/" + b.buildid }, "#" + b.number) : el("span", { class: "muted" }, "no builds"));
    cells[2].replaceChildren(b ? badge(b) : "");
    cells[3].replaceWith(timeCell(b ? (b.complete_at || b.started_at) : null));
  }

  for (const bl of builders) {
    const tr = el("tr", { "data-builder": bl.name, "data-result": "none", "data-builderid": bl.builderid },
      el("td", {}, el("a", { href: "#/builders/" + bl.builderid }, bl.name),
        bl.description ? el("div", { class: "muted" }, bl.description) : null),
      el("td", { class: "nowrap" }), el("td"), el("td"),
      el("td", {}, (bl.tags || []).map((t) => el("span", { class: "tag" }, t))));
    rows.set(bl.builderid, tr);
    tbody.append(tr);
  }
  main.append(el("table", { id: "builders" },
    el("thead", {}, el("tr", {}, ["Builder", "Last build", "Result", "When", "Tags"].map((h) => el("th", {}, h)))),
    tbody));
  if (!builders.length) main.append(el("p", { class: "muted" }, "No builders yet."));

  onEvent("build", ({ build }) => {
    const tr = rows.get(build.builderid);
    const cur = lastBuild.get(build.builderid);
    if (!tr || (cur && cur.number > build.number)) return;
    lastBuild.set(build.builderid, build);
    setLast(tr, build);
  });

  await Promise.all(builders.map(async (bl) => {
    const { builds } = await api(`builds?builderid=${bl.builderid}&order=-number&limit=1`);
    const b = builds[0];
    const cur = lastBuild.get(bl.builderid);
    if (cur && b && cur.number >= b.number) return;  // an event was newer
    if (b) lastBuild.set(bl.builderid, b);
    setLast(rows.get(bl.builderid), b || null);
  }));
}

const PAGE = 25;

async function viewBuilder(id, params) {
  const offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
  const { builders } = await api("builders/" + id);
  const bl = builders[0];
  main.append(el("h1", {}, bl.name), bl.description ? el("p", { class: "sub" }, bl.description) : "");
  const res = await api(`builders/${id}/builds?order=-number&limit=${PAGE}&offset=${offset}`);
  const tbody = el("tbody");
  const rowOf = new Map();
  function row(b) {
    return el("tr", { "data-build": b.number, "data-result": resultName(b) },
      el("td", {}, el("a", { href: "#/builds/" + b.buildid }, "#" + b.number)),
      el("td", {}, badge(b)),
      el("td", {}, b.state_string || ""),
      timeCell(b.started_at),
      el("td", { class: "num" }, fmtDuration(b.started_at, b.complete_at)));
  }
  for (const b of res.builds) { const tr = row(b); rowOf.set(b.buildid, tr); tbody.append(tr); }
  main.append(el("table", { id: "builds" },
    el("thead", {}, el("tr", {}, ["Build", "Result", "State", "Started", ["Duration", { class: "num" }]].map((h) =>
      Array.isArray(h) ? el("th", h[1], h[0]) : el("th", {}, h)))), tbody));
  if (!res.builds.length) main.append(el("p", { class: "muted" }, "No builds."));

  const total = res.meta && typeof res.meta.total === "number" ? res.meta.total : null;
  const more = total !== null ? offset + PAGE < total : res.builds.length === PAGE;
  const pager = el("div", { class: "pager" },
    el("button", { disabled: offset === 0, onclick: () => { location.hash = `#/builders/${id}?offset=${Math.max(0, offset - PAGE)}`; } }, "Newer"),
    el("span", { class: "muted" }, res.builds.length ? `${offset + 1}–${offset + res.builds.length}` + (total !== null ? ` of ${total}` : "") : ""),
    el("button", { disabled: !more, onclick: () => { location.hash = `#/builders/${id}?offset=${offset + PAGE}`; } }, "Older"));
  main.append(pager);

  onEvent("build", ({ build }) => {
    if (build.builderid !== bl.builderid) return;
    const tr = rowOf.get(build.buildid);
    if (tr) { const n = row(build); tr.replaceWith(n); rowOf.set(build.buildid, n); }
    else if (offset === 0) { const n = row(build); rowOf.set(build.buildid, n); tbody.prepend(n); }
  });
}

async function viewBuild(id) {
  const { builds } = await api("builds/" + id);
  const b = builds[0];
  const [{ builders }, { steps }] = await Promise.all([api("builders/" + b.builderid), api(`builds/${id}/steps?order=number`)]);
  const head = el("div");
  function renderHead(build) {
    head.replaceChildren(
      el("h1", {}, el("a", { href: "#/builders/" + build.builderid }, builders[0].name), " #" + build.number, " ", badge(build)),
      el("p", { class: "sub" }, build.state_string || "", " · started ", el("span", { title: fmtTime(build.started_at) }, ago(build.started_at)),
        build.started_at ? " · " + fmtDuration(build.started_at, build.complete_at) : ""));
  }
  renderHead(b);
  main.append(head);

  const tbody = el("tbody");
  const rowOf = new Map();
  async function stepRow(s) {
    const tr = el("tr", { "data-step": s.name, "data-result": resultName(s), "data-stepid": s.stepid },
      el("td", { class: "num" }, s.number), el("td", {}, s.name), el("td", {}, badge(s)),
      el("td", {}, s.state_string || ""), el("td", { class: "num" }, fmtDuration(s.started_at, s.complete_at)),
      el("td", { class: "loglinks" }));
    const links = tr.lastChild;
    for (const u of s.urls || []) links.append(el("a", { href: u.url, rel: "noopener" }, u.name));
    try {
      const { logs } = await api(`steps/${s.stepid}/logs`);
      for (const l of logs) links.append(el("a", { href: "#/logs/" + l.logid }, l.name));
    } catch (e) { /* shown in the banner */ }
    return tr;
  }
  for (const s of steps) {
    if (s.hidden) continue;
    const tr = el("tr", { "data-step": s.name, "data-result": resultName(s) });
    rowOf.set(s.stepid, tr);
    tbody.append(tr);
  }
  main.append(el("h2", {}, "Steps"), el("table", { id: "steps" },
    el("thead", {}, el("tr", {}, [["#", { class: "num" }], "Step", "Result", "State", ["Duration", { class: "num" }], "Logs"].map((h) =>
      Array.isArray(h) ? el("th", h[1], h[0]) : el("th", {}, h)))), tbody));
  await Promise.all(steps.filter((s) => !s.hidden).map(async (s) => {
    const n = await stepRow(s);
    rowOf.get(s.stepid).replaceWith(n);
    rowOf.set(s.stepid, n);
  }));

  onEvent("step", async ({ step }) => {
    if (step.buildid !== b.buildid || step.hidden) return;
    const n = await stepRow(step);
    const tr = rowOf.get(step.stepid);
    if (tr) tr.replaceWith(n); else tbody.append(n);
    rowOf.set(step.stepid, n);
  });
  onEvent("build", ({ build }) => { if (build.buildid === b.buildid) renderHead(build); });

  try {
    const { properties } = await api(`builds/${id}/properties`);
    const props = properties[0] || {};
    const names = Object.keys(props).sort();
    if (names.length) {
      main.append(el("h2", {}, "Properties"), table("properties", ["Name", "Value", "Source"],
        names.map((k) => el("tr", {}, el("td", { class: "mono" }, k),
          el("td", { class: "mono" }, JSON.stringify(props[k][0])), el("td", { class: "muted" }, props[k][1])))));
    }
  } catch (e) { /* shown in the banner */ }
}

// ------------------------------------------------------------------ log viewer
// Virtual scrolling: a spacer as tall as all lines makes the scroll bar, and only the lines on
// screen (plus a margin) exist in the DOM. Lines are fetched in blocks of BLOCK, and at most
// MAX_BLOCKS blocks are kept, so a log of millions of lines costs what the screen shows.

const BLOCK = 500;
const MAX_BLOCKS = 64;
const MARGIN = 40;
// Browsers cap an element's height (Chrome near 33M px, Firefox near 17M): past MAX_SPACER the
// spacer is scaled down and scroll positions map proportionally onto lines.
const MAX_SPACER = 8000000;

async function viewLog(id) {
  const { logs } = await api("logs/" + id);
  const log = logs[0];
  let numLines = log.num_lines || 0;
  let complete = !!log.complete;
  const lineH = parseFloat(getComputedStyle(document.documentElement).getPropertyValue("--log-lh")) || 16;

  // Where the log belongs: its step and build, for the heading.
  const heading = el("h1", {}, log.name);
  main.append(heading);
  api("steps/" + log.stepid).then(async ({ steps }) => {
    const s = steps[0];
    const { builds } = await api("builds/" + s.buildid);
    const { builders } = await api("builders/" + builds[0].builderid);
    heading.replaceChildren(el("a", { href: "#/builds/" + s.buildid }, builders[0].name + " #" + builds[0].number),
      " · " + s.name + " · " + log.name);
  }).catch(() => {});

  const count = el("span", { class: "muted" });
  const follow = el("button", { id: "follow", type: "button", "aria-pressed": "false", title: "Keep the end of the log in view" }, "Follow");
  const top = el("button", { type: "button" }, "Top");
  main.append(el("div", { class: "logbar" }, follow, top, el("a", { href: `api/v2/logs/${id}/raw`, download: log.slug || ("log-" + id) }, "Download raw"), count));

  const spacer = el("div", { class: "spacer" });
  const linesBox = el("div", { class: "lines" });
  const box = el("div", { id: "log", "data-num-lines": numLines, tabindex: "0" }, spacer, linesBox);
  main.append(box);

  const blocks = new Map();   // block index -> array of lines (a Map keeps insertion order: LRU)
  const pending = new Set();  // block indexes being fetched
  let following = false;

  function spacerHeight() { return Math.min(numLines * lineH, MAX_SPACER); }
  // The fraction of the log above the top of the viewport.
  function firstVisible() {
    const scrollable = spacer.offsetHeight - box.clientHeight;
    const full = numLines * lineH - box.clientHeight;
    if (scrollable <= 0 || full <= 0) return 0;
    return (box.scrollTop / scrollable) * full / lineH;
  }
  function atBottom() { return box.scrollTop + box.clientHeight >= spacer.offsetHeight - 2; }

  function touch(bi) { const b = blocks.get(bi); blocks.delete(bi); blocks.set(bi, b); return b; }
  function evict(keepFrom, keepTo) {
    for (const bi of blocks.keys()) {
      if (blocks.size <= MAX_BLOCKS) break;
      if (bi < keepFrom || bi > keepTo) blocks.delete(bi);
    }
  }

  async function fetchBlock(bi) {
    pending.add(bi);
    try {
      const first = bi * BLOCK;
      const res = await api(`logs/${id}/contents?offset=${first}&limit=${BLOCK}`);
      const lines = [];
      for (const chunk of res.logchunks || []) {
        const parts = chunk.content.split("\n");
        if (parts.length && parts[parts.length - 1] === "") parts.pop();
        parts.forEach((p, i) => { const n = chunk.firstline + i - first; if (n >= 0 && n < BLOCK) lines[n] = p; });
      }
      // Keep lines an event brought meanwhile (the block may have grown since the request).
      const had = blocks.get(bi);
      if (had) had.forEach((p, i) => { if (p !== undefined && lines[i] === undefined) lines[i] = p; });
      blocks.set(bi, lines);
    } catch (e) {
      return;  // the banner says why; a later scroll tries again
    } finally {
      pending.delete(bi);
    }
    render();
  }

  function line(n) {
    const b = blocks.has(Math.floor(n / BLOCK)) ? touch(Math.floor(n / BLOCK)) : null;
    return b ? b[n % BLOCK] : undefined;
  }

  let rendered = { from: -1, to: -1 };
  function render() {
    spacer.style.height = spacerHeight() + "px";
    box.dataset.numLines = numLines;
    count.textContent = numLines.toLocaleString() + " lines" + (complete ? "" : " · growing");
    const first = firstVisible();
    const shown = Math.ceil(box.clientHeight / lineH);
    const from = Math.max(0, Math.floor(first) - MARGIN);
    const to = Math.min(numLines, Math.ceil(first) + shown + MARGIN);
    // Lines sit where the viewport shows them: at the scroll offset plus their distance from the
    // fractional first visible line (exact when the spacer is not scaled).
    linesBox.style.top = (box.scrollTop + (from - first) * lineH) + "px";
    const want = [];
    const frag = document.createDocumentFragment();
    for (let n = from; n < to; n++) {
      const text = line(n);
      const d = document.createElement("div");
      d.className = text === undefined ? "line pending" : "line";
      d.dataset.n = n;
      d.dataset.ln = n + 1;
      d.textContent = text === undefined ? "…" : text;
      frag.append(d);
      const bi = Math.floor(n / BLOCK);
      if (text === undefined && !pending.has(bi) && !want.includes(bi)) want.push(bi);
    }
    linesBox.replaceChildren(frag);
    rendered = { from, to };
    evict(Math.floor(from / BLOCK), Math.floor(to / BLOCK));
    for (const bi of want) fetchBlock(bi);
  }

  function setFollow(on) {
    following = on;
    follow.setAttribute("aria-pressed", on ? "true" : "false");
    if (on) { box.scrollTop = box.scrollHeight; render(); }
  }

  let frame = 0;
  let programmatic = false;
  box.addEventListener("scroll", () => {
    // Scrolling up by hand stops following; reaching the end again resumes it.
    if (!programmatic) {
      if (following && !atBottom()) setFollow(false);
      else if (!following && atBottom() && !complete) setFollow(true);
    }
    programmatic = false;
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); });
  });
  window.addEventListener("resize", render);
  follow.addEventListener("click", () => setFollow(!following));
  top.addEventListener("click", () => { setFollow(false); box.scrollTop = 0; });

  onEvent("log", (ev) => {
    if (ev.logid !== log.logid) return;
    const parts = (ev.content || "").split("\n");
    if (parts.length && parts[parts.length - 1] === "") parts.pop();
    // New lines go into blocks already cached (or the one just past the end), so the tail of a
    // followed log needs no fetch.
    parts.forEach((p, i) => {
      const n = ev.firstline + i;
      const bi = Math.floor(n / BLOCK);
      if (!blocks.has(bi)) {
        if (n % BLOCK !== 0 && !blocks.has(bi)) return;
        blocks.set(bi, []);
      }
      blocks.get(bi)[n % BLOCK] = p;
    });
    numLines = Math.max(numLines, ev.num_lines ?? ev.firstline + parts.length);
    if (ev.complete) complete = true;
    if (following) {
      spacer.style.height = spacerHeight() + "px";
      programmatic = true;
      box.scrollTop = box.scrollHeight;
    }
    render();
  });

  render();
  // A running log opens at its end, following; a finished one at its start.
  if (!complete) setFollow(true);
}

// ------------------------------------------------------------------ masters, workers, changes

async function viewMasters() {
  const [{ masters }, { workers }, { builders }] = await Promise.all([api("masters?order=name"), api("workers?order=name"), api("builders")]);
  const masterName = new Map(masters.map((m) => [m.masterid, m.name]));
  const builderName = new Map(builders.map((b) => [b.builderid, b.name]));
  main.append(el("h1", {}, "Masters"), table("masters", ["Master", "State", "Last active"],
    masters.map((m) => el("tr", { "data-master": m.name, "data-active": m.active ? "true" : "false" },
      el("td", {}, m.name),
      el("td", {}, el("span", { class: "badge " + (m.active ? "success" : "skipped") }, m.active ? "active" : "inactive")),
      timeCell(m.last_active)))));
  main.append(el("h2", {}, "Workers"), table("workers", ["Worker", "Connected to", "State", "Builders"],
    workers.map((w) => {
      const conn = (w.connected_to || []).map((c) => masterName.get(c.masterid) || "master " + c.masterid);
      const state = w.paused ? "paused" : w.graceful ? "stopping" : conn.length ? "connected" : "disconnected";
      const cls = w.paused || w.graceful ? "warnings" : conn.length ? "success" : "skipped";
      const bnames = [...new Set((w.configured_on || []).map((c) => builderName.get(c.builderid) || "builder " + c.builderid))].sort();
      return el("tr", { "data-worker": w.name },
        el("td", {}, w.name), el("td", {}, conn.join(", ") || el("span", { class: "muted" }, "—")),
        el("td", {}, el("span", { class: "badge " + cls }, state)), el("td", {}, bnames.join(", ")));
    })));
}

async function viewChanges() {
  const { changes } = await api("changes?order=-changeid&limit=50");
  main.append(el("h1", {}, "Recent changes"), table("changes", ["When", "Author", "Revision", "Branch", "Project", "Comments"],
    changes.map((c) => el("tr", { "data-change": c.changeid },
      timeCell(c.when_timestamp),
      el("td", {}, c.author || ""),
      el("td", { class: "mono" }, c.revlink ? el("a", { href: c.revlink, rel: "noopener" }, (c.revision || "").slice(0, 12)) : (c.revision || "").slice(0, 12)),
      el("td", {}, c.branch || ""),
      el("td", {}, c.project || c.repository || ""),
      el("td", { class: "comments" }, c.comments || "")))));
  if (!changes.length) main.append(el("p", { class: "muted" }, "No changes yet."));
}

// ------------------------------------------------------------------ force

// The schedulers once fetched decide whether the nav shows "Force".
let forceSchedulers = null;
async function loadForceSchedulers() {
  try {
    const { forceschedulers } = await api("forceschedulers");
    forceSchedulers = forceschedulers;
  } catch (e) {
    forceSchedulers = [];
    clearError();  // a viewer without force schedulers is normal, not an error
  }
  document.getElementById("nav-force").hidden = !forceSchedulers.length;
}

function parseProperties(text) {
  const props = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) throw new Error(`property line "${line}" is not NAME=VALUE`);
    props[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return props;
}

async function viewForce() {
  await loadForceSchedulers();
  main.append(el("h1", {}, "Force a build"));
  if (!forceSchedulers.length) {
    main.append(el("p", { class: "muted" }, "No force scheduler is configured on this master."));
    return;
  }
  const token = el("input", { id: "force-token", type: "password", autocomplete: "off", placeholder: "contents of the master's force_token_file" });
  token.value = sessionStorage.getItem("ym-force-token") || "";
  token.addEventListener("input", () => sessionStorage.setItem("ym-force-token", token.value));
  const result = el("div", { id: "force-result", "aria-live": "polite" });
  main.append(el("div", { class: "tokenbox" }, el("label", { for: "force-token" }, "Token"), token), result);

  for (const fs of forceSchedulers) {
    const props = Object.entries(fs.properties || {}).map(([k, v]) =>
      k + "=" + (v && typeof v === "object" && "default" in v ? v.default : v)).join("\n");
    const boxes = (fs.builder_names || []).map((n) =>
      el("label", {}, el("input", { type: "checkbox", name: "builder", value: n, checked: true }), " " + n));
    const form = el("form", { id: "force-" + fs.name, class: "force" },
      el("h2", {}, fs.label || fs.name),
      el("label", {}, "Reason"), el("input", { type: "text", name: "reason", value: typeof fs.reason === "string" ? fs.reason : "force build" }),
      el("label", {}, "Branch"), el("input", { type: "text", name: "branch", value: typeof fs.branch === "string" ? fs.branch : "" }),
      el("label", {}, "Revision"), el("input", { type: "text", name: "revision", value: "" }),
      el("label", {}, "Properties (NAME=VALUE, one a line)"), el("textarea", { name: "properties" }, props),
      el("label", {}, "Builders"), el("div", { class: "builders" }, boxes),
      el("button", { type: "submit" }, "Force " + (fs.label || fs.name)));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      result.className = ""; result.textContent = "submitting…";
      let properties;
      try { properties = parseProperties(form.elements.properties.value); } catch (e) {
        result.className = "bad"; result.textContent = e.message; return;
      }
      const builderNames = [...form.querySelectorAll("input[name=builder]:checked")].map((c) => c.value);
      const body = { jsonrpc: "2.0", id: 1, method: "force", params: {
        reason: form.elements.reason.value, branch: form.elements.branch.value,
        revision: form.elements.revision.value, builderNames, properties } };
      try {
        const resp = await fetch("api/v2/forceschedulers/" + encodeURIComponent(fs.name), {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: "Bearer " + token.value.trim() },
          body: JSON.stringify(body) });
        let answer = null;
        try { answer = await resp.json(); } catch (e) { /* reported by status below */ }
        if (resp.ok && answer && Array.isArray(answer.result)) {
          result.className = "ok";
          result.textContent = `buildset ${answer.result[0]} created`;
        } else {
          // The REST error ({"error": "...", "status": N}) or a JSON-RPC one ({"error": {"message"}}).
          const e = answer && answer.error;
          result.className = "bad";
          result.textContent = "refused: " + (typeof e === "string" ? e : e && e.message ? e.message : resp.status + " " + resp.statusText);
        }
      } catch (e) {
        result.className = "bad"; result.textContent = "cannot reach the server: " + e.message;
      }
    });
    main.append(form);
  }
}

// ------------------------------------------------------------------ router

let routeSeq = 0;
async function route() {
  const seq = ++routeSeq;
  const hash = location.hash.replace(/^#\/?/, "") || "builders";
  const [path, query] = hash.split("?");
  const parts = path.split("/").filter(Boolean);
  const params = new URLSearchParams(query || "");
  dropHandlers();
  clearError();
  main.replaceChildren();
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.nav === parts[0]);
  const id = parts[1] !== undefined && /^\d+$/.test(parts[1]) ? parts[1] : null;
  connectEvents(parts[0] === "logs" && id ? Number(id) : null);
  try {
    if (parts[0] === "builders" && id) await viewBuilder(id, params);
    else if (parts[0] === "builders") await viewBuilders();
    else if (parts[0] === "builds" && id) await viewBuild(id);
    else if (parts[0] === "logs" && id) await viewLog(id);
    else if (parts[0] === "masters") await viewMasters();
    else if (parts[0] === "changes") await viewChanges();
    else if (parts[0] === "force") await viewForce();
    else main.append(el("h1", {}, "Not found"), el("p", {}, el("a", { href: "#/builders" }, "Builders")));
  } catch (e) {
    if (seq === routeSeq && !(e instanceof ApiError)) showError(e.message);
  }
  if (seq === routeSeq) document.title = (main.querySelector("h1") || {}).textContent + " · Yardmaster";
}

window.addEventListener("hashchange", route);
loadForceSchedulers();
route();
