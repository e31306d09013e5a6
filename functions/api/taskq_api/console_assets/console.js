// taskq console: plain JavaScript, no build step. Every value reaches the page through
// textContent or a text node, never parsed as HTML: task data is user input.
"use strict";

const KEY = "taskq-admin-key"; // sessionStorage: gone when the tab closes, never in a URL or cookie
const base = location.pathname.replace(/\/console\/?$/, ""); // "" locally, "/<stage>" in AWS

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

function time(ms) {
  return ms ? new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "";
}

// A path segment: encoded, but for the ':' of "name:level" (API Gateway matches the path as sent).
function segment(text) {
  return encodeURIComponent(text).replace(/%3A/gi, ":");
}

function link(hash, text) {
  return el("a", { href: hash }, text);
}

function queueLink(queue, level) {
  const name = `${queue}:${level}`;
  return link(`#queue/${segment(name)}`, name);
}

function taskLink(taskId) {
  return link(`#task/${segment(taskId)}`, taskId);
}

function table(headers, rows, numeric) {
  const head = el("tr", {}, ...headers.map((h, i) => el("th", numeric && numeric[i] ? { class: "num" } : {}, h)));
  const body = rows.map((cells) =>
    el("tr", {}, ...cells.map((c, i) => el("td", numeric && numeric[i] ? { class: "num" } : {}, c))),
  );
  if (!rows.length) body.push(el("tr", {}, el("td", { colspan: headers.length, class: "muted" }, "none")));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...body));
}

class AuthError extends Error {}

async function api(path, options = {}) {
  const key = sessionStorage.getItem(KEY);
  if (!key) throw new AuthError("an admin key is needed");
  const answer = await fetch(base + path, {
    method: options.method || "GET",
    headers: { Authorization: `Bearer ${key}`, Accept: "application/json" },
    cache: "no-store",
  });
  const body = await answer.json().catch(() => null);
  if (answer.status === 401 || answer.status === 403) {
    throw new AuthError((body && body.message) || `HTTP ${answer.status}`);
  }
  if (!answer.ok) throw new Error((body && body.message) || `HTTP ${answer.status}`);
  return { body, headers: answer.headers, status: answer.status };
}

// --- the chart: depth (waiting) and throughput (completed per minute) over the last hour ---

function chart(series, width, height) {
  const box = svg("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  const now = Math.floor(Date.now() / 60000);
  const byMinute = new Map(series.map((m) => [Math.floor(m.time / 60000), m]));
  const depth = [];
  const done = [];
  let lastDepth = 0; // before the first minute of the window with a change: unknown, drawn as 0
  for (let i = 59; i >= 0; i--) {
    const m = byMinute.get(now - i);
    if (m) lastDepth = m.waiting;
    depth.push(lastDepth);
    done.push(m ? m.completed : 0);
  }
  const line = (values, cls) => {
    const top = Math.max(1, ...values);
    const points = values.map((v, i) => `${(i * (width - 4)) / 59 + 2},${height - 2 - (v * (height - 4)) / top}`);
    box.append(svg("polyline", { class: cls, points: points.join(" ") }));
  };
  line(depth, "depth");
  line(done, "done");
  box.append(
    Object.assign(svg("title", {}), { textContent: `last hour: depth now ${depth[59]}, completed ${done[59]} this minute` }),
  );
  return box;
}

function lastMinute(series) {
  // The minute that just ended: the current one is still being counted.
  const minute = Math.floor(Date.now() / 60000) - 1;
  return series.find((m) => Math.floor(m.time / 60000) === minute) || { put: 0, completed: 0 };
}

// --- pages ---

const COUNTS = ["waiting", "running", "succeeded", "failed", "timeout", "cancelled"];

async function queuesPage(page) {
  const { body } = await api("/v1/console/queues");
  page.append(el("h2", {}, `Queues (${body.length})`));
  page.append(
    el("p", { class: "legend muted" }, "Chart: ", el("span", { class: "depth" }, "depth"), " and ",
      el("span", { class: "done" }, "completed per minute"), " over the last hour."),
  );
  const rows = body.map((q) => {
    const last = lastMinute(q.series);
    return [queueLink(q.queue, q.level), ...COUNTS.map((c) => q[c]), last.put, last.completed, chart(q.series, 120, 28)];
  });
  const numeric = [false, true, true, true, true, true, true, true, true, false];
  page.append(table(["queue", ...COUNTS, "put/min", "completed/min", "last hour"], rows, numeric));
}

async function queuePage(page, name) {
  const { body: q } = await api(`/v1/console/queues/${segment(name)}`);
  page.append(el("h2", {}, `Queue ${q.queue}:${q.level}`));
  page.append(el("dl", {}, el("dt", {}, "endpoint"), el("dd", {}, q.endpoint),
    el("dt", {}, "put / taken / completed"), el("dd", {}, `${q.total_put_cnt} / ${q.total_taken_cnt} / ${q.total_completed_cnt}`)));
  page.append(table(COUNTS, [COUNTS.map((c) => q[c])], COUNTS.map(() => true)));
  page.append(el("h3", {}, "Last hour"), chart(q.series, 600, 80));
  const clear = el("button", { type: "button", class: "danger", id: "clear" }, "Clear queue…");
  clear.addEventListener("click", async () => {
    // Clearing cancels every waiting task: the browser's own dialog asks first.
    if (!window.confirm(`Cancel every waiting task of ${q.queue}:${q.level}?`)) return;
    const { headers } = await api(`/v1/console/${segment(name)}/clear`, { method: "POST" });
    const complete = headers.get("X-Clear-Complete") !== "false";
    notify(complete ? `Cleared ${q.queue}:${q.level}.` : `Clearing ${q.queue}:${q.level}: the rest is cancelled in the background.`);
    await render();
  });
  page.append(el("p", {}, clear));
  page.append(el("h3", {}, `Next waiting (${q.waiting_tasks.length})`));
  page.append(table(["task", "put", "expires"], q.waiting_tasks.map((t) => [taskLink(t.task_id), time(t.start_time), time(t.expire_time)])));
  // Running tasks come from a slower read (the sweep index): the page shows the rest first.
  const running = el("div", { id: "running", "data-ready": "false" }, el("h3", {}, "Running"), el("p", { class: "muted" }, "loading…"));
  page.append(running);
  api(`/v1/console/queues/${segment(name)}/running`).then(({ body: tasks }) => {
    running.replaceChildren(el("h3", {}, `Running (showing ${tasks.length} of ${q.running})`),
      table(["task", "started", "lease ends", "attempts"],
        tasks.map((t) => [taskLink(t.task_id), time(t.running_time), time(t.lease_expire_time), t.attempts]),
        [false, false, false, true]));
    running.setAttribute("data-ready", "true");
  }, (error) => running.replaceChildren(el("p", { class: "error" }, error.message)));
}

function json(value) {
  return el("pre", {}, JSON.stringify(value, null, 2));
}

async function taskPage(page, taskId) {
  const [{ body: task }, { body: extras }] = await Promise.all([
    api(`/v1/queue/${segment(taskId)}`),
    api(`/v1/console/tasks/${segment(taskId)}`),
  ]);
  page.append(el("h2", {}, `Task ${task.task_id}`));
  const fields = ["status", "queue", "level", "endpoint", "attempts", "response_mode", "callback_url"];
  const list = el("dl", { id: "task-fields" });
  for (const f of fields) list.append(el("dt", {}, f), el("dd", { "data-field": f }, task[f] === null ? "" : task[f]));
  for (const f of ["start_time", "running_time", "lease_expire_time", "completed_time", "expire_time"]) {
    if (task[f]) list.append(el("dt", {}, f.replace("_time", "")), el("dd", {}, time(task[f])));
  }
  list.append(el("dt", {}, "queue page"), el("dd", {}, queueLink(task.queue, task.level)));
  page.append(list);
  page.append(el("h3", {}, "Data"), el("div", { id: "task-data" }, json(task.data)));
  if (task.result !== undefined) page.append(el("h3", {}, "Result"), el("div", { id: "task-result" }, json(task.result)));
  if (extras.callback) {
    const c = extras.callback;
    page.append(el("h3", {}, "Callback"), el("dl", {}, el("dt", {}, "state"), el("dd", {}, c.state),
      el("dt", {}, "url"), el("dd", {}, c.url), el("dt", {}, "attempts"), el("dd", {}, c.attempts),
      el("dt", {}, "last status"), el("dd", {}, c.last_status === null ? "" : c.last_status),
      el("dt", {}, "last error"), el("dd", {}, c.last_error)));
  }
  if (extras.events.length) {
    page.append(el("h3", {}, `Events${extras.events_truncated ? " (first 200)" : ""}`));
    page.append(table(["seq", "event", "data"], extras.events.map((e) =>
      [e.seq, e.event, typeof e.data === "string" ? e.data : JSON.stringify(e.data)])));
  }
}

async function deadLettersPage(page) {
  const { body } = await api("/v1/console/dead-letters?limit=200");
  page.append(el("h2", {}, `Dead letters (${body.length})`));
  page.append(table(["task", "queue", "callback url", "last status", "last error", "attempts", "failed", ""],
    body.map((d) => {
      const again = el("button", { type: "button", class: "redeliver" }, "Redeliver");
      again.addEventListener("click", async () => {
        again.disabled = true;
        await api(`/v1/console/dead-letters/${segment(d.task_id)}/redeliver`, { method: "POST" });
        notify(`Redelivering the callback of ${d.task_id}.`);
        await render();
      });
      return [taskLink(d.task_id), queueLink(d.queue, d.level), d.callback_url, d.last_status === null ? "" : d.last_status,
        d.last_error, d.attempts, time(d.failed_time), again];
    })));
}

async function batchesPage(page) {
  const { body } = await api("/v1/batches?limit=100");
  page.append(el("h2", {}, "Batches"));
  const view = el("div", { id: "file" });
  const fileButton = (fileId) => {
    if (!fileId) return "";
    const open = el("button", { type: "button" }, fileId);
    open.addEventListener("click", async () => {
      // A link cannot carry the Bearer header: the file is fetched and shown here instead.
      const key = sessionStorage.getItem(KEY);
      const answer = await fetch(`${base}/v1/files/${segment(fileId)}/content`, {
        headers: { Authorization: `Bearer ${key}` }, cache: "no-store",
      });
      const text = await answer.text();
      view.replaceChildren(el("h3", {}, `File ${fileId}`), el("pre", {}, text.slice(0, 65536)));
    });
    return open;
  };
  page.append(table(["batch", "status", "total", "completed", "failed", "progress", "input", "output", "errors", "created"],
    body.data.map((b) => {
      const c = b.request_counts || { total: 0, completed: 0, failed: 0 };
      const progress = c.total ? `${Math.round((100 * (c.completed + c.failed)) / c.total)}%` : "";
      return [b.id, b.status, c.total, c.completed, c.failed, progress, fileButton(b.input_file_id),
        fileButton(b.output_file_id), fileButton(b.error_file_id), time((b.created_at || 0) * 1000)];
    })));
  page.append(view);
}

// --- routing and sign-in ---

function notify(text) {
  document.getElementById("notice").textContent = text;
}

function showLogin(message) {
  sessionStorage.removeItem(KEY);
  document.getElementById("nav").hidden = true;
  document.getElementById("page").replaceChildren();
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message || "";
  document.getElementById("key").focus();
}

let renders = 0; // a newer render (the hash changed meanwhile) wins over one still loading

async function render() {
  const mine = ++renders;
  if (!sessionStorage.getItem(KEY)) return showLogin();
  document.getElementById("login").hidden = true;
  document.getElementById("nav").hidden = false;
  const [name, ...rest] = location.hash.replace(/^#/, "").split("/");
  const arg = decodeURIComponent(rest.join("/"));
  const fresh = el("section", { id: "page", "aria-live": "polite", "data-page": name || "queues" });
  try {
    if (name === "queue") await queuePage(fresh, arg);
    else if (name === "task") await taskPage(fresh, arg);
    else if (name === "dead-letters") await deadLettersPage(fresh);
    else if (name === "batches") await batchesPage(fresh);
    else await queuesPage(fresh);
    fresh.setAttribute("data-ready", "true");
  } catch (error) {
    if (error instanceof AuthError) return mine === renders && showLogin(`Not signed in: ${error.message}`);
    fresh.append(el("p", { class: "error", role: "alert" }, error.message));
  }
  if (mine === renders) document.getElementById("page").replaceWith(fresh);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("key");
    sessionStorage.setItem(KEY, input.value.trim());
    input.value = "";
    await render();
  });
  document.getElementById("logout").addEventListener("click", () => showLogin("Key forgotten."));
  document.getElementById("lookup").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = document.getElementById("lookup-id").value.trim();
    if (id) location.hash = `#task/${segment(id)}`;
  });
  window.addEventListener("hashchange", () => {
    notify("");
    render();
  });
  render();
});
