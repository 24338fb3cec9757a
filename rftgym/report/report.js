// The report's episode list and viewer, and sortable tables. Plain JS, no network.
"use strict";
(function () {
  const PAGE = 50;
  const $ = (id) => document.getElementById(id);
  const names = JSON.parse($("run-names").textContent);
  const indexes = names.map((_, r) => JSON.parse($("index-" + r).textContent));
  const lines = names.map(() => null); // each run's episode lines, split when first opened
  let shown = [], page = 0, openRow = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    return node;
  }
  const fmt = (v) => (v === null || v === undefined ? "—" : typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : String(v));

  let shared = null; // long texts many episodes repeat, stored once (content_ref)
  function episode(run, i) {
    if (lines[run] === null) lines[run] = $("episodes-" + run).textContent.split("\n");
    if (shared === null) shared = JSON.parse($("shared-texts").textContent);
    const ep = JSON.parse(lines[run][i]);
    for (const m of ep.messages) if (m.content_ref !== undefined) m.content = shared[m.content_ref];
    return ep;
  }

  function fillSelect(select, values) {
    select.length = 1;
    for (const v of values) select.append(el("option", { value: v }, v));
  }

  function setRun() {
    const rows = indexes[+$("f-run").value];
    fillSelect($("f-task"), [...new Set(rows.map((e) => e.task))].sort());
    fillSelect($("f-src"), [...new Set(rows.map((e) => e.src))].sort());
    $("f-src").parentNode.style.display = $("f-src").length > 2 ? "" : "none";
    applyFilters();
  }

  function applyFilters() {
    const rows = indexes[+$("f-run").value];
    const task = $("f-task").value, src = $("f-src").value, status = $("f-err").value;
    const min = $("f-min").value === "" ? -Infinity : +$("f-min").value;
    const max = $("f-max").value === "" ? Infinity : +$("f-max").value;
    const id = $("f-id").value.trim();
    shown = rows.filter((e) =>
      (!task || e.task === task) && (!src || e.src === src) && e.reward >= min && e.reward <= max &&
      (!id || e.id.includes(id)) &&
      (!status || (status === "error" ? e.err !== null : status === "ok" ? e.err === null :
        status === "success" ? e.ok : status === "fail" ? !e.ok : e.trunc)));
    page = 0;
    draw();
  }

  function draw() {
    const body = $("ep-table").tBodies[0];
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    const run = +$("f-run").value;
    body.replaceChildren(...shown.slice(page * PAGE, (page + 1) * PAGE).map((e) => {
      const tr = el("tr", { "data-i": e.i, class: e.err ? "err" : "" },
        el("td", {}, e.id), el("td", {}, e.task), el("td", {}, e.src), el("td", { class: "num" }, fmt(e.reward)),
        el("td", { class: "num" }, fmt(e.outcome)), el("td", { class: "num" }, e.turns), el("td", { class: "num" }, fmt(e.tokens)),
        el("td", { class: "num" }, fmt(e.dur)), el("td", {}, e.term), el("td", {}, e.err || ""));
      tr.addEventListener("click", () => view(run, e.i, tr));
      return tr;
    }));
    $("ep-count").textContent = `${shown.length} of ${indexes[run].length} episodes`;
    $("page").textContent = `page ${page + 1} of ${pages}`;
    $("prev").disabled = page === 0;
    $("next").disabled = page + 1 >= pages;
  }

  function components(obj) {
    return Object.entries(obj || {}).map(([k, v]) => `${k} ${fmt(v)}`).join(", ") || "—";
  }

  function view(run, i, tr) {
    if (openRow) openRow.classList.remove("open");
    openRow = tr;
    if (tr) tr.classList.add("open");
    const ep = episode(run, i);
    const turns = new Map(ep.turns.map((t) => [t.message_index, t]));
    const box = el("div", { class: "episode", id: "episode-view", "data-id": ep.id });
    box.append(el("h3", {}, `${ep.id}  ·  ${ep.env_id}  ·  task ${ep.task_id}`));
    const info = el("table", { class: "kv" });
    const rows = [["reward", fmt(ep.reward)], ["outcome", `${fmt(ep.outcome_reward)} (${components(ep.outcome_components)})`],
      ["ended", `${ep.termination_reason || "none"}${ep.truncated ? " (truncated)" : ""}`],
      ["policy", `${ep.policy.model || ep.policy.name || "?"}`], ["tools", ep.tools.join(", ") || "—"],
      ["timings", Object.entries(ep.timings || {}).map(([k, v]) =>
        k === "started_at" ? `started ${new Date(v * 1000).toISOString()}` : `${k} ${fmt(v)}`).join(", ") || "—"]];
    if (ep.error) rows.push(["error", `${ep.error.type}: ${ep.error.message}`]);
    for (const [k, v] of rows) info.append(el("tr", {}, el("td", {}, k), el("td", {}, v)));
    box.append(info);
    const meta = Object.assign({}, ep.metadata || {});
    if (meta.db_diff !== undefined) {
      const diff = meta.db_diff;
      delete meta.db_diff;
      box.append(el("div", { class: "diffbox", id: "db-diff" }, el("b", {}, "database diff (final vs expected): "),
        el("pre", {}, Array.isArray(diff) ? (diff.length ? diff.join("\n") : "none: equal") : JSON.stringify(diff, null, 2))));
    }
    ep.messages.forEach((m, idx) => {
      const div = el("div", { class: "msg " + m.role, "data-index": idx },
        el("div", { class: "role" }, m.role + (m.name ? ` · ${m.name}` : "") + (m.tool_call_id ? ` · ${m.tool_call_id}` : "")));
      if (m.reasoning_content) div.append(el("pre", { class: "reasoning" }, m.reasoning_content));
      if (m.content) {
        const text = typeof m.content === "string" ? m.content : JSON.stringify(m.content, null, 2);
        // A system prompt (often a whole policy document) is folded to its first line.
        div.append(m.role === "system" && text.length > 200
          ? el("details", {}, el("summary", {}, text.split("\n")[0].slice(0, 120) + " …"), el("pre", {}, text))
          : el("pre", {}, text));
      }
      for (const call of m.tool_calls || []) {
        let args = call.function.arguments;
        try { args = JSON.stringify(JSON.parse(args), null, 2); } catch (err) { /* shown as sent */ }
        div.append(el("div", { class: "call" }, el("b", {}, `→ ${call.function.name}`), ` (${call.id})`, el("pre", {}, args)));
      }
      const t = turns.get(idx);
      if (t) {
        const usage = t.usage || {};
        div.append(el("div", { class: "turn" },
          `turn reward ${fmt(t.reward)} [${components(t.reward_components)}] · finish ${t.finish_reason || "—"} · ` +
          `tokens ${fmt(usage.prompt_tokens)} prompt / ${fmt(usage.completion_tokens ?? t.completion_token_ids_count)} completion · ` +
          `policy ${fmt(t.policy_latency_s)} s · env ${fmt(t.env_latency_s)} s · tool calls ${t.tool_calls}` +
          (Object.keys(t.tool_errors).length ? ` · tool errors ${components(t.tool_errors)}` : "")));
      }
      box.append(div);
    });
    if (Object.keys(meta).length) box.append(el("details", {}, el("summary", {}, "metadata"), el("pre", {}, JSON.stringify(meta, null, 2))));
    $("viewer").replaceChildren(box);
    box.scrollIntoView({ block: "start" });
  }

  function sortable(table) {
    table.tHead.rows[0].querySelectorAll("th").forEach((th, col) => th.addEventListener("click", () => {
      const asc = !th.classList.contains("asc");
      table.tHead.querySelectorAll("th").forEach((h) => h.classList.remove("asc", "desc"));
      th.classList.add(asc ? "asc" : "desc");
      const key = (tr) => {
        const td = tr.cells[col];
        if (!td) return "";
        return td.dataset.sort !== undefined ? (td.dataset.sort === "" ? -Infinity : +td.dataset.sort) : td.textContent;
      };
      const rows = [...table.tBodies[0].rows].sort((a, b) => {
        const x = key(a), y = key(b);
        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
      });
      table.tBodies[0].append(...rows);
    }));
  }

  document.querySelectorAll("table.sortable").forEach(sortable);
  $("f-run").addEventListener("change", setRun);
  for (const id of ["f-task", "f-src", "f-err"]) $(id).addEventListener("change", applyFilters);
  for (const id of ["f-min", "f-max", "f-id"]) $(id).addEventListener("input", applyFilters);
  $("prev").addEventListener("click", () => { page--; draw(); });
  $("next").addEventListener("click", () => { page++; draw(); });
  setRun();
  window.reportReady = performance.now(); // ms from navigation start to a usable page (tests, bench)
})();
