// fleet-admin dashboard: polls /api/report and /api/history and redraws. No framework, no build
// step. `window.dashboard` exposes what the page saw, for tests and for the curious.
"use strict";

const state = (window.dashboard = { polls: 0, report: null, samples: [], hls: null,
  thumbs: [], hovered: null, donePage: 0,
  hlsErrors: [], fatal: null, playing: null });
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) =>
  ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

function dur(s) {
  if (s == null || !isFinite(s)) return "–";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}h ${m}m` : m ? `${m}m ${r}s` : `${r}s`;
}
function bytes(b) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return i ? `${b.toFixed(1)} ${u[i]}` : `${b} B`;
}
const num = (x, d = 1) => (x == null ? "–" : Number(x).toFixed(d));
// Replaces an element's content only when it changed, so a button is not swapped under a click.
function put(el, html) { if (el.innerHTML !== html) el.innerHTML = html; }

async function poll() {
  try {
    const r = await fetch(`/api/report?done_page=${state.donePage}`, { cache: "no-store" });
    const report = await r.json();
    const last = state.samples[state.samples.length - 1];
    const h = await fetch(last ? `/api/history?since=${last.t}` : "/api/history",
      { cache: "no-store" });
    state.samples.push(...(await h.json()));
    state.report = report;
    state.polls++;
    render(report);
  } catch (e) {
    showStale(`cannot reach fleet-admin: ${e}`);
  }
  const every = Math.min(Math.max(state.report?.refresh_s ?? 2, 1), 5);
  setTimeout(poll, every * 1000);
}

// Another page of done videos now, outside the polling cycle.
async function showPage() {
  try {
    const r = await fetch(`/api/report?done_page=${state.donePage}`, { cache: "no-store" });
    state.report = await r.json();
    render(state.report);
  } catch (e) {
    showStale(`cannot reach fleet-admin: ${e}`);
  }
}

function showStale(msg) {
  $("stale").textContent = msg ? `Showing the last good snapshot: ${msg}` : "";
  $("stale").classList.toggle("show", !!msg);
}

function render(r) {
  showStale(r.stale_error);
  if (!r.counts) return; // no snapshot yet
  $("table").textContent = r.table;
  $("paused").textContent = r.paused ? "⏸ paused" : "";
  $("updated").textContent = new Date(r.generated_at).toLocaleTimeString();
  $("updated").dataset.t = r.generated_at;
  for (const k of ["pending", "in_progress", "done", "failed", "total"]) {
    $(`count-${k}`).textContent = r.counts[k];
  }
  const t = r.throughput;
  put($("rates"), `${num(t.videos_per_hour)} videos/h · ${num(t.content_hours_per_hour, 2)} ` +
    `content-hours/h over the last ${dur(t.window_s)} · ETA ${r.eta_held ? "none: " + r.eta_held : dur(r.eta_seconds)} · ` +
    `${bytes(r.bytes.done)} of ${bytes(r.bytes.total)} done · cost so far ` +
    `$${num(r.cost.so_far, 2)}${r.cost.to_go != null ? `, to go $${num(r.cost.to_go, 2)}` : ""}` +
    (r.retrying ? ` · ${r.retrying} waiting to retry` : ""));
  renderRunning(r.videos.filter((v) => v.state === "in_progress"));
  renderWorkers(r.workers);
  renderFailures(r.failures);
  renderDone(r.videos.filter((v) => v.state === "done"));
  renderPager(r);
  renderChart(state.samples);
}

function renderRunning(vs) {
  put($("running"), vs.length ? vs.map((v) => {
    const p = v.progress || {};
    const pct = Math.max(0, Math.min(100, p.percent ?? 0));
    return `<tr class="running-row"><td title="${esc(v.source)}">${esc(v.key)}</td>` +
      `<td>${esc(v.worker)}</td><td>${esc(p.phase || "starting")}</td>` +
      `<td><div class="bar"><i style="width:${pct}%"></i><em>${p.percent == null ? "–" :
        pct.toFixed(0) + "%"}</em></div></td><td>${num(p.fps, 0)}</td>` +
      `<td>${p.speed == null ? "–" : num(p.speed, 2) + "×"}</td><td>${dur(v.elapsed_s)}</td>` +
      `<td>${dur(v.eta_s)}</td></tr>`;
  }).join("") : `<tr><td colspan="8" class="empty">nothing running</td></tr>`);
}

function renderWorkers(ws) {
  put($("workers"), ws.length ? ws.map((w) =>
    `<tr><td title="${esc(w.host)} ${esc(w.version)}">${esc(w.id)}</td>` +
    `<td><span class="status ${esc(w.status)}">${esc(w.status)}</span></td>` +
    `<td>${w.busy}/${w.slots}</td><td>${w.videos_done}</td><td>${dur(w.seen_s_ago)} ago</td></tr>`
  ).join("") : `<tr><td colspan="5" class="empty">no worker has registered</td></tr>`);
}

function renderFailures(gs) {
  put($("failures"), gs.length ? gs.map((g) =>
    `<div class="group"><b>${g.count} × ${esc(g.kind)}</b><code>${esc(g.example)}</code>` +
    `<div class="keys">${g.keys.slice(0, 5).map(esc).join("<br>")}` +
    `${g.count > 5 ? `<br>… and ${g.count - 5} more` : ""}</div></div>`
  ).join("") : `<div class="empty">no failures</div>`);
}

function renderDone(vs) {
  put($("done"), vs.length ? vs.map((v) =>
    `<tr><td><button class="play" data-pk="${esc(v.source)}">▶ Play</button>` +
    `<img class="poster" alt="" loading="lazy" src="${streamUrl(v.source, "poster.jpg")}" ` +
    `onerror="this.remove()"></td>` +
    `<td title="${esc(v.source)}">${esc(v.key)}</td><td>${dur(v.duration_s)}</td>` +
    `<td>${bytes(v.size_bytes)}</td><td>${esc(v.output)}</td></tr>`
  ).join("") : `<tr><td colspan="5" class="empty">nothing done yet</td></tr>`);
}

// Done, failed and running videos over time, as step lines on one scale (the total); done is
// drawn last so that it stays visible where the lines meet.
function renderChart(samples) {
  const svg = document.querySelector("#chart svg");
  const W = 600, H = 200, pad = 24;
  if (samples.length === 0) { put(svg, ""); return; }
  const t0 = samples[0].t, t1 = Math.max(samples[samples.length - 1].t, t0 + 1000);
  const top = Math.max(1, state.report?.counts.total ?? 1);
  const x = (t) => pad + ((t - t0) / (t1 - t0)) * (W - 2 * pad);
  const y = (n) => H - pad - (n / top) * (H - 2 * pad);
  const line = (f) => samples.map((s, i) => {
    const prev = i ? `${x(s.t).toFixed(1)},${y(f(samples[i - 1])).toFixed(1)} ` : "";
    return prev + `${x(s.t).toFixed(1)},${y(f(s)).toFixed(1)}`;
  }).join(" ");
  put(svg,
    `<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#ccd"/>` +
    `<line x1="${pad}" y1="${pad}" x2="${pad}" y2="${H - pad}" stroke="#ccd"/>` +
    `<text x="2" y="${pad + 4}" font-size="11" fill="#6b7385">${top}</text>` +
    `<text x="2" y="${H - pad + 4}" font-size="11" fill="#6b7385">0</text>` +
    `<text x="${W - pad}" y="${H - 6}" font-size="11" fill="#6b7385" text-anchor="end">` +
    `${new Date(t1).toLocaleTimeString()}</text>` +
    `<text x="${pad}" y="${H - 6}" font-size="11" fill="#6b7385">` +
    `${new Date(t0).toLocaleTimeString()}</text>` +
    `<polyline fill="none" stroke="#d64545" stroke-width="2" points="${line((s) => s.failed)}"/>` +
    `<polyline fill="none" stroke="#1f9d55" stroke-width="2.5" points="${line((s) => s.done)}"/>` +
    `<polyline fill="none" stroke="#2f6fde" stroke-width="1.5" stroke-dasharray="4 3" ` +
    `points="${line((s) => s.in_progress)}"/>`);
  // Rate over the last minute of samples (or all of them, if younger).
  const last = samples[samples.length - 1];
  const from = samples.find((s) => s.t >= last.t - 60000) || samples[0];
  const mins = Math.max((last.t - from.t) / 60000, 1 / 60);
  put($("chart-legend"),
    `<span style="color:#1f9d55">■ done</span> <span style="color:#d64545">■ failed</span> ` +
    `<span style="color:#2f6fde">┅ in progress</span> · last minute: ` +
    `${num((last.done - from.done) / mins)} videos/min, ` +
    `${num((last.content_seconds - from.content_seconds) / 60 / mins, 2)} content-min/min`);
}

// A file of a done video's stream, through the dashboard's proxy.
function streamUrl(pk, path) {
  return `/hls/${encodeURIComponent(pk)}/${path}`;
}

// The stream's scrubbing thumbnails (thumbnails.vtt: cues whose text is
// `sprite.jpg#xywh=x,y,w,h`, relative to the file), as [{start, end, url, x, y, w, h}].
async function loadThumbnails(pk) {
  const r = await fetch(streamUrl(pk, "thumbnails.vtt"));
  if (!r.ok) return [];
  const secs = (t) => t.split(":").reduce((a, p) => a * 60 + Number(p), 0);
  return (await r.text()).split(/\n\n+/).filter((c) => c.includes("-->")).map((c) => {
    const [times, target] = c.trim().split("\n");
    const [a, b] = times.split(" --> ");
    const [file, frag] = target.split("#xywh=");
    const [x, y, w, h] = frag.split(",").map(Number);
    return { start: secs(a), end: secs(b), url: streamUrl(pk, file), x, y, w, h };
  });
}

// The scrub bar under the player: drag to seek, hover to see the thumbnail of that moment.
function scrubAt(fraction) {
  const video = $("player"), box = $("thumb");
  const t = fraction * (video.duration || 0);
  const cue = state.thumbs.find((c) => t >= c.start && t < c.end);
  if (!cue) { box.style.display = "none"; return null; }
  Object.assign(box.style, {
    display: "block", width: `${cue.w}px`, height: `${cue.h}px`,
    backgroundImage: `url("${cue.url}")`, backgroundPosition: `-${cue.x}px -${cue.y}px`,
    left: `calc(${(fraction * 100).toFixed(2)}% - ${cue.w / 2}px)`,
  });
  return cue;
}
$("seek").addEventListener("mousemove", (e) => {
  const r = e.target.getBoundingClientRect();
  state.hovered = scrubAt(Math.min(Math.max((e.clientX - r.left) / r.width, 0), 0.9999));
});
$("seek").addEventListener("mouseleave", () => { $("thumb").style.display = "none"; });
$("seek").addEventListener("input", (e) => {
  const video = $("player");
  if (video.duration) video.currentTime = (e.target.value / 1000) * video.duration;
});
$("player").addEventListener("timeupdate", (e) => {
  const v = e.target;
  if (v.duration) $("seek").value = Math.round((v.currentTime / v.duration) * 1000);
});

// Plays a done video through the dashboard's proxy: relative URIs in the master resolve to
// /hls/<pk>/... as well, so every request goes through fleet-admin. Its poster shows before
// play, and its thumbnails over the scrub bar.
function play(pk) {
  const video = $("player");
  const src = streamUrl(pk, "master.m3u8");
  video.poster = streamUrl(pk, "poster.jpg");
  state.thumbs = [];
  loadThumbnails(pk).then((t) => { if (state.playing === pk) state.thumbs = t; });
  state.hls?.destroy();
  state.hlsErrors = [];
  state.fatal = null;
  state.playing = pk;
  $("now-playing").textContent = pk;
  if (window.Hls && Hls.isSupported()) {
    const hls = (state.hls = new Hls());
    hls.on(Hls.Events.ERROR, (_, d) => {
      state.hlsErrors.push(`${d.type}/${d.details}${d.fatal ? " (fatal)" : ""}`);
      if (d.fatal) {
        state.fatal = d.details;
        $("now-playing").textContent = `${pk}: cannot play (${d.details})`;
      }
    });
    hls.loadSource(src);
    hls.attachMedia(video);
  } else {
    video.src = src; // Safari plays HLS natively
  }
  video.play().catch(() => {});
}

// The done list comes a page at a time (the server sends summaries, never every video).
function renderPager(r) {
  const size = r.done_page_size || 100, total = r.done_total || 0;
  const pages = Math.max(1, Math.ceil(total / size));
  put($("done-pager"), total > size
    ? `<button data-page="${state.donePage - 1}" ${state.donePage ? "" : "disabled"}>‹ newer</button> ` +
      `page ${state.donePage + 1} of ${pages} ` +
      `<button data-page="${state.donePage + 1}" ${state.donePage + 1 < pages ? "" : "disabled"}>older ›</button>`
    : "");
}

$("done").addEventListener("click", (e) => {
  const b = e.target.closest("button.play");
  if (b) play(b.dataset.pk);
});
$("done-pager").addEventListener("click", (e) => {
  const b = e.target.closest("button[data-page]");
  if (b && !b.disabled) { state.donePage = Number(b.dataset.page); showPage(); }
});
poll();
