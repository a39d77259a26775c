/* mm_orch dashboard: polls the job service (same origin, session cookie) and draws the jobs, one job's live
 * progress and its report, and submits the new-job form. Inlined by mm_orch/api/dashboard.py with a CSP nonce.
 * Every value from the server goes into the page as text (textContent), never as HTML. */
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("mm-data").textContent);
  const page = document.body.dataset.page;

  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    for (const kid of kids) if (kid !== null && kid !== undefined) node.append(kid);
    return node;
  }

  function toLogin() {
    location.href = "/login?next=" + encodeURIComponent(location.pathname);
  }

  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (r.status === 401) { toLogin(); return null; }
    if (!r.ok) throw new Error(url + ": HTTP " + r.status);
    return r.json();
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": data.csrf },
      body: JSON.stringify(body === undefined ? {} : body),
    });
  }

  const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : "\u2014");
  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "\u2014";
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + " s";
    const m = Math.floor(s / 60);
    return m < 60 ? m + " min " + (s % 60) + " s" : Math.floor(m / 60) + " h " + (m % 60) + " min";
  }
  function duration(job) {
    if (!job.started_at) return null;
    const end = job.finished_at ? new Date(job.finished_at) : new Date();
    return (end - new Date(job.started_at)) / 1000;
  }
  function fill(share) {  // a CSSOM width, which the page's CSP allows (a style attribute it would refuse)
    const bar = el("span", {});
    bar.style.width = share.toFixed(0) + "%";
    return bar;
  }
  function badge(status) { return el("span", { class: "badge " + status, text: status }); }
  function progressText(p) {
    if (!p || !p.phase) return "";
    return p.phase + (p.total ? " " + p.completed + "/" + p.total : p.completed ? " " + p.completed : "");
  }

  // ------------------------------------------------------------------ the job list
  function drawJobs(body) {
    const tbody = document.querySelector("#jobs tbody");
    tbody.replaceChildren();
    for (const job of body.items) {
      const p = job.progress;
      const share = p && p.total ? Math.min(100, (100 * p.completed) / p.total) : null;
      const progress = job.status === "running"
        ? el("td", { class: "progress" }, share !== null ? el("span", { class: "mini" }, fill(share)) : null, progressText(p) || "starting")
        : el("td", { class: "progress", text: job.status === "succeeded" ? "report ready" : (job.error || "") });
      tbody.append(el("tr", { "data-job": job.job_id },
        el("td", {}, el("a", { href: "/jobs/" + encodeURIComponent(job.job_id), text: job.job_id.slice(0, 8) })),
        el("td", { text: job.model_name }), el("td", { text: job.engine }), el("td", { text: job.test_types.join(", ") }),
        el("td", {}, badge(job.status)), progress, el("td", { text: fmtTime(job.created_at) }),
        el("td", { class: "num", text: fmtDuration(duration(job)) })));
    }
    document.getElementById("empty").hidden = body.items.length > 0;
    const h = body.health;
    document.getElementById("health").textContent =
      h.running + " running, " + h.queued + " queued, " + h.slots + " slot(s); " + body.total + " job(s) in all";
    document.getElementById("updated").textContent = "Updated " + new Date().toLocaleTimeString() + " (every 2 s).";
  }

  async function pollJobs() {
    try {
      const body = await getJSON("/ui/jobs");
      if (body) drawJobs(body);
    } catch (e) {
      document.getElementById("updated").textContent = "Cannot reach the server: " + e.message;
    }
    setTimeout(pollJobs, 2000);
  }

  // ------------------------------------------------------------------ one job
  const samples = []; // {t: ms (server's updated_at), phase, completed}: the last 10 s of one phase
  let phaseSince = null;

  function rolling(p) {
    if (!p || !p.updated_at) return null;
    const t = new Date(p.updated_at).getTime();
    if (!samples.length || samples[samples.length - 1].phase !== p.phase) { samples.length = 0; phaseSince = t; }
    if (!samples.length || samples[samples.length - 1].t !== t) samples.push({ t: t, phase: p.phase, completed: p.completed });
    while (samples.length > 2 && t - samples[0].t > 10000) samples.shift();
    if (samples.length < 2) return null;
    const a = samples[0], b = samples[samples.length - 1];
    return b.t > a.t ? ((b.completed - a.completed) * 1000) / (b.t - a.t) : null;
  }

  function metric(dl, label, value) {
    dl.append(el("div", {}, el("dt", { text: label }), el("dd", { text: value })));
  }

  function drawJob(job) {
    document.getElementById("status").replaceWith(Object.assign(badge(job.status), { id: "status" }));
    const p = job.progress;
    const live = job.status === "running";
    document.getElementById("live").hidden = !(live || job.status === "queued");
    document.getElementById("phase").textContent =
      job.status === "queued" ? "queued: waiting for a free slot" : (p && p.phase) || "starting the worker";
    document.getElementById("counts").textContent = p && live ? (p.total ? p.completed + " of " + p.total : p.completed + " done") : "";
    const bar = document.querySelector(".bar");
    const share = p && p.total ? Math.min(100, (100 * p.completed) / p.total) : null;
    bar.classList.toggle("open", live && share === null);
    document.getElementById("bar-fill").style.width = share === null ? "" : share.toFixed(1) + "%";
    const dl = document.getElementById("metrics");
    dl.replaceChildren();
    if (live) {
      const rate = rolling(p);
      metric(dl, "elapsed", fmtDuration(duration(job)));
      metric(dl, "in this phase", phaseSince ? fmtDuration((Date.now() - phaseSince) / 1000) : "\u2014");
      metric(dl, "rate (last 10 s)", rate === null ? "\u2014" : rate.toFixed(2) + " steps/s");
      const left = p && p.total && rate ? (p.total - p.completed) / rate : null;
      metric(dl, "phase ends in", left === null ? "\u2014" : "~" + fmtDuration(left));
      metric(dl, "last report", p && p.updated_at ? new Date(p.updated_at).toLocaleTimeString() : "\u2014");
    }
    const err = document.getElementById("error");
    err.hidden = !job.error;
    err.textContent = job.error || "";
    const facts = document.getElementById("facts");
    facts.replaceChildren();
    metric(facts, "model", job.model_name);
    metric(facts, "engine", job.engine);
    metric(facts, "tests", job.test_types.join(", "));
    metric(facts, "created", fmtTime(job.created_at));
    metric(facts, "started", fmtTime(job.started_at));
    metric(facts, "finished", fmtTime(job.finished_at));
    metric(facts, "run time", fmtDuration(duration(job)));
    metric(facts, "GPUs", String(job.gpus) + (job.devices && job.devices.length ? " (" + job.devices.join(", ") + ")" : ""));
    document.getElementById("cancel").hidden = !(job.status === "queued" || job.status === "running");
    if (job.report) showReport(job);
  }

  function showReport(job) {
    const card = document.getElementById("report-card");
    if (!card.hidden) return;
    card.hidden = false;
    const files = document.getElementById("files");
    for (const f of job.files) files.append(el("li", {}, el("a", { href: f.url, target: "_blank", rel: "noopener", text: f.name })));
    document.getElementById("report").src = job.report;
  }

  async function pollJob() {
    let job = null;
    try {
      job = await getJSON("/ui/jobs/" + encodeURIComponent(data.job_id));
      if (job) drawJob(job);
    } catch (e) {
      document.getElementById("phase").textContent = "Cannot reach the server: " + e.message;
    }
    const done = job && ["succeeded", "failed", "cancelled"].includes(job.status);
    if (!done) setTimeout(pollJob, 1000);
  }

  async function cancel() {
    const r = await post("/ui/jobs/" + encodeURIComponent(data.job_id) + "/cancel");
    if (r.status === 401) return toLogin();
    if (!r.ok) {
      const err = document.getElementById("error");
      err.hidden = false;
      err.textContent = (await r.json()).detail;
    }
  }

  // ------------------------------------------------------------------ the form
  async function submit(event) {
    event.preventDefault();
    const form = event.target;
    const error = document.getElementById("form-error");
    error.hidden = true;
    const body = { model_name: form.model_name.value, test_types: Array.from(form.querySelectorAll("input[name=test_types]:checked")).map((i) => i.value) };
    if (form.engine.value) body.engine = form.engine.value;
    if (form.gpus.value !== "") body.gpus = Number(form.gpus.value);
    if (form.overrides.value.trim()) {
      try { body.overrides = JSON.parse(form.overrides.value); } catch (e) {
        error.textContent = "overrides: not JSON (" + e.message + ")"; error.hidden = false; return;
      }
    }
    document.getElementById("submit").disabled = true;
    try {
      const r = await post("/ui/jobs", body);
      if (r.status === 401) return toLogin();
      const answer = await r.json();
      if (r.status === 202) { location.href = "/jobs/" + encodeURIComponent(answer.job_id); return; }
      error.textContent = answer.detail || "HTTP " + r.status;
      error.hidden = false;
    } finally {
      document.getElementById("submit").disabled = false;
    }
  }

  if (page === "jobs") pollJobs();
  if (page === "job") { pollJob(); document.getElementById("cancel").addEventListener("click", cancel); }
  if (page === "new") document.getElementById("new-form").addEventListener("submit", submit);
})();
