// Plays every rendition of HLS streams in three web players inside headless Chromium, hls.js,
// Shaka Player and Video.js (its VHS engine), the way a course page would, and checks their
// subtitle tracks and scrubbing thumbnails. Prints one JSON line per check; exit code 0 only if
// every check passed.
//
//   node tests/player/play.mjs <dir with master.m3u8>...
//   PLAYERS=shaka,video.js node tests/player/play.mjs ...   (a subset, while debugging)
//
// Why three: they parse playlists, choose renditions, transmux MPEG-TS and place WebVTT cues
// each in their own way, and viewers use all three (directly or inside other players); a
// stream one of them refuses is broken for someone.
//
// Each directory is served over HTTP on 127.0.0.1 (a player loads a stream over HTTP, not from
// files). For each player and stream (lines carry `player`, `stream` and `check`):
// - check "variant": each video rendition (EXT-X-STREAM-INF), locked in the player through its
//   own API so a rendition that cannot play cannot hide behind another, plays muted at 4x to
//   its end, at its declared RESOLUTION, with no error, and the segments fetched (every HTTP
//   request that completed, matched against the media playlists on disk) are all of its own
//   and none of another rendition's. With alternate audio, once with each audio rendition of
//   its group (EXT-X-MEDIA TYPE=AUDIO with a URI; `audioTrack` is its index among the master's
//   audio renditions), selected from the start: only that rendition's audio segments are
//   fetched, every one that starts before the picture ends (a 21 ms sliver past the end, which
//   ffmpeg leaves when the length is a whole number of segments, Shaka never fetches).
// - check "text": the player lists exactly the subtitle tracks of `captions.expected.json` in
//   the stream directory (`[{"language","name","starts":[seconds...]}]`, one per SUBTITLES
//   rendition in master order; no file: no subtitle tracks at all), by count and language;
//   then each one, shown with the smallest video rendition playing, gets a cue within 0.1 s of
//   every expected start (a cue repeated in two WebVTT segments counts once; the run stops as
//   soon as all are there). This is what catches a missing or wrong X-TIMESTAMP-MAP: cues then
//   land ~1.4 s early in all three players, with no error. (The 0.1 s also absorbs where each
//   player puts time 0: hls.js and Shaka at the earliest PTS, audio or video, VHS at the
//   video's; with ffmpeg's TS the video starts 2 frames after the audio.) Video.js is expected
//   not to list FORCED=YES renditions: VHS skips them on purpose, as Safari does.
// - check "thumbnails" (Shaka only, for a stream with `thumbnails.vtt` beside master.m3u8): the
//   file's cues tile [0, end) with no gap or overlap (`tiling`), the last one ending within
//   0.5 s of the stream's duration (the EXTINF sum of the first variant), and each cue's
//   `sprite.jpg#xywh=x,y,w,h` rectangle lies inside its sprite's pixel size (from the JPEG's
//   SOF header; `inside`). Then, after load(), Shaka's addThumbnailsTrack() takes the file and
//   getThumbnails() at 0, duration/2 and just inside the last cue must answer that cue's sprite
//   (same absolute URL) and rectangle (`probes`). Nothing is played.
// The browser half, which drives each player's API, is page.js.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const RUN_TIMEOUT_MS = 90000;
// A run whose playhead has not moved for this long has stalled for good (VHS, for one, waits
// forever on a segment answered 404).
const STALL_MS = 20000;
const CUE_TOLERANCE_S = 0.1;

// Errors a player reports that do not fail a check by themselves. Stalls on a busy machine are
// recoverable (bufferStalledError, bufferNudgeOnStall, bufferSeekOverHole: all non-fatal; a
// headless 720p60 decode on a loaded 2-core machine runs the buffer dry), and so is a fragment
// hls.js appends twice (bufferAppendNoProgress: "appended without buffered range growth", seen
// when it reloads a fragment it already holds), and so is a load hls.js cancels itself
// (networkError/aborted: it drops an in-flight fragment when it seeks over a hole or switches
// tracks, and reloads what it needs); anything else (a parsing error, a fragLoadError) is not.
// A real hole still fails: playing to the end at the declared size, from the right rendition,
// with every one of its segments fetched, is checked. The names are hls.js's ErrorType/
// ErrorDetails values, matched whole. Shaka and VHS report stalls as events, not errors.
const PLAYERS = {
  "hls.js": {
    lib: "hls.js/dist/hls.min.js",
    benign: [
      "mediaError/bufferStalledError",
      "mediaError/bufferNudgeOnStall",
      "mediaError/bufferSeekOverHole",
      "mediaError/bufferAppendNoProgress",
      "networkError/aborted",
    ],
  },
  shaka: { lib: "shaka-player/dist/shaka-player.compiled.js", benign: [] },
  "video.js": { lib: "video.js/dist/video.min.js", benign: [] },
};

const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  console.error("usage: node play.mjs <stream dir>...");
  process.exit(2);
}
const players = (process.env.PLAYERS || Object.keys(PLAYERS).join(",")).split(",");
for (const p of players) {
  if (!PLAYERS[p]) {
    console.error(`unknown player ${p}: one of ${Object.keys(PLAYERS).join(", ")}`);
    process.exit(2);
  }
}
const streams = dirs.map(readStream);

const types = {
  ".m3u8": "application/vnd.apple.mpegurl",
  ".ts": "video/mp2t",
  ".m4s": "video/iso.segment",
  ".mp4": "video/mp4",
  ".aac": "audio/aac",
  ".vtt": "text/vtt",
  ".jpg": "image/jpeg",
  ".js": "text/javascript",
  ".html": "text/html",
};

// /?player=<name> is the page, /lib/<name> that player's library, /page.js the browser half,
// /s/<n>/<path> serves dirs[n].
const server = http.createServer((req, res) => {
  const u = new URL(req.url, "http://x");
  const url = decodeURIComponent(u.pathname);
  let file;
  if (url === "/") {
    const player = u.searchParams.get("player");
    res.writeHead(200, { "content-type": "text/html" });
    res.end('<!doctype html><meta charset="utf-8">' +
      `<script src="/lib/${encodeURIComponent(player)}"></script>` +
      '<script src="/page.js"></script><body></body>');
    return;
  } else if (url.startsWith("/lib/") && PLAYERS[url.slice(5)]) {
    file = path.join(here, "node_modules", PLAYERS[url.slice(5)].lib);
  } else if (url === "/page.js") {
    file = path.join(here, "page.js");
  } else {
    const m = url.match(/^\/s\/(\d+)\/(.+)$/);
    const root = m && dirs[Number(m[1])];
    if (root) {
      file = path.resolve(root, m[2]);
      if (!file.startsWith(path.resolve(root) + path.sep)) file = undefined;
    }
  }
  if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
    res.writeHead(404);
    res.end();
    return;
  }
  res.writeHead(200, { "content-type": types[path.extname(file)] || "application/octet-stream" });
  fs.createReadStream(file).pipe(res);
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
});

let failed = 0;
const report = (line) => {
  if (!line.ok) failed++;
  console.log(JSON.stringify(line));
};
try {
  for (const player of players) {
    // A fresh page per player; one run at a time, so every completed request belongs to it.
    const page = await browser.newPage();
    page.on("pageerror", (e) => console.error(`${player} page error:`, e.message));
    let fetched = null;
    page.on("requestfinished", (r) => fetched?.push(r.url()));
    await page.goto(`${base}/?player=${encodeURIComponent(player)}`);
    const benign = new Set(PLAYERS[player].benign);
    for (let n = 0; n < streams.length; n++) {
      const s = streams[n];
      const began = Date.now();
      const run = async (spec) => {
        fetched = [];
        const t0 = Date.now();
        const r = await page.evaluate((sp) => window.runCheck(sp), {
          player, master: `${base}/s/${n}/master.m3u8`,
          timeoutMs: RUN_TIMEOUT_MS, stallMs: STALL_MS, ...spec,
        });
        r.seconds = (Date.now() - t0) / 1000;
        r.serious = r.errors.filter((e) => !benign.has(e));
        r.fetched = classify(s, n, fetched);
        fetched = null;
        return r;
      };
      const common = (r) => ({
        player, stream: dirs[n], why: r.why, errors: r.errors,
        currentTime: r.currentTime, duration: r.duration, seconds: r.seconds,
      });
      let listing = null;
      if (s.variants.length === 0) {
        report({ player, stream: dirs[n], check: "variant", why: "no variant", ok: false });
      }
      // Every video rendition with every alternate audio rendition of its group (a pair is
      // what a viewer plays: a rung that plays with one track may not with another), else
      // alone (audio muxed in, or none).
      const pairs = [];
      s.variants.forEach((v, i) => {
        const tracks = v.audioGroup
          ? s.audio.map((a, j) => j).filter((j) => s.audio[j].uri && s.audio[j].group === v.audioGroup)
          : [];
        if (tracks.length === 0) pairs.push([i, null]);
        for (const j of tracks) pairs.push([i, j]);
      });
      for (const [i, j] of pairs) {
        const v = s.variants[i];
        const a = j === null ? null : s.audio[j];
        const r = await run({
          variant: { uri: v.uri },
          ...(a ? { audio: { uri: a.uri, name: a.name, language: a.language } } : {}),
        });
        listing ??= r.listing;
        const own = r.fetched.variants.get(i)?.size || 0;
        const others = [...r.fetched.variants.keys()].filter((k) => k !== i);
        const ownAudio = a ? r.fetched.audio.get(j)?.size || 0 : 0;
        // An audio segment that starts after the picture ends (ffmpeg can leave one AAC frame,
        // 21 ms, past a segment boundary) is never fetched by Shaka, which ends with the video.
        const wantAudio = a ? a.starts.filter((t) => t < v.duration - 0.05).length : 0;
        const otherAudio = [...r.fetched.audio.keys()].filter((k) => k !== j);
        const ok = r.ok && r.serious.length === 0 && others.length === 0 &&
          own === v.segments.size && own > 0 &&
          (!v.resolution || (r.width === v.resolution[0] && r.height === v.resolution[1])) &&
          (!a || (ownAudio >= wantAudio && wantAudio > 0 && otherAudio.length === 0));
        report({
          ...common(r), check: "variant", variant: i, uri: v.uri, declared: v.resolution,
          width: r.width, height: r.height, segments: `${own}/${v.segments.size}`,
          otherVariants: others.map((k) => s.variants[k].uri),
          ...(a ? {
            audioTrack: j, name: a.name, lang: a.language, audioUri: a.uri,
            audioSegments: `${ownAudio}/${a.segments.size}`,
            otherAudio: otherAudio.map((k) => s.audio[k].uri),
          } : {}),
          ok,
        });
      }
      const smallest = s.variants.reduce((a, b) => (b.bandwidth < a.bandwidth ? b : a),
        s.variants[0]);
      // Subtitles: what the player lists, then each expected track's cues. VHS never offers a
      // FORCED=YES rendition, by design: Safari does not list them, and Apple's authoring spec
      // has the regular track of the language carry the forced cues too. For Video.js a forced
      // rendition is expected absent, and its cues are checked in the other two players.
      const offered = (j) => !(player === "video.js" && s.subtitles[j]?.forced);
      const wanted = s.expected.filter((_, j) => offered(j));
      const listed = listing?.text || [];
      const langs = (l) => l.map((t) => (t.language || "").toLowerCase()).sort().join(",");
      const tracks = [];
      for (let j = 0; j < Math.min(s.expected.length, s.subtitles.length); j++) {
        if (!offered(j)) continue;
        const e = s.expected[j];
        const sub = s.subtitles[j];
        const r = await run({
          variant: { uri: smallest.uri },
          text: {
            uri: sub.uri, name: sub.name, language: sub.language, starts: e.starts,
            tolerance: CUE_TOLERANCE_S,
          },
        });
        const cues = r.cues || [];
        const missing = e.starts.filter((st) => !cues.some((c) => near(c.start, st)));
        const ok = missing.length === 0 && r.serious.length === 0 &&
          (r.why === "cues" || r.why === "ended");
        tracks.push({
          language: e.language, name: sub.name, uri: sub.uri, why: r.why, errors: r.errors,
          cues: cues.length, seconds: r.seconds, ok,
          ...(ok ? {} : {
            missing: missing.slice(0, 10), missingCount: missing.length,
            shift: bestShift(e.starts, cues),
            firstCues: cues.slice(0, 5)
              .map((c) => [+c.start.toFixed(3), +c.end.toFixed(3), c.text]),
          }),
        });
      }
      const listedOk = listed.length === wanted.length && langs(listed) === langs(wanted) &&
        s.subtitles.length === s.expected.length;
      report({
        player, stream: dirs[n], check: "text", expected: s.expected.map((e) => e.language),
        subtitleRenditions: s.subtitles.length, listed, listedOk, tracks,
        ok: listing !== null && listedOk && tracks.every((t) => t.ok),
      });
      const th = s.thumbnails;
      if (player === "shaka" && th && smallest) {
        const vtt = `${base}/s/${n}/thumbnails.vtt`;
        const times = th.cues.length ? [0, s.duration / 2, th.cues.at(-1).start + 0.01] : [];
        const r = await run({ variant: { uri: smallest.uri }, thumbnails: { uri: vtt, times } });
        const rel = (u) => u.replace(`${base}/s/${n}/`, "");
        const probes = times.map((time, k) => {
          const c = th.cues.find((x) => x.start <= time && time < x.end);
          const g = r.thumbnails?.[k];
          const want = c && new URL(c.sprite, vtt).href;
          const ok = !!(c && c.xywh && g && g.uris.length > 0 &&
            g.uris.every((u) => u.split("#")[0] === want) &&
            [g.x, g.y, g.width, g.height].join() === c.xywh.join());
          return {
            time: +time.toFixed(3),
            expected: c ? { uri: rel(want), xywh: c.xywh } : null,
            got: g ? { uris: g.uris.map(rel), xywh: [g.x, g.y, g.width, g.height] } : null, ok,
          };
        });
        const endOk = th.cues.length > 0 && Math.abs(th.cues.at(-1).end - s.duration) <= 0.5;
        const problems = th.problems.concat(endOk ? [] :
          [`last cue ends at ${th.cues.at(-1)?.end} s, stream lasts ${s.duration} s`]);
        report({
          player, stream: dirs[n], check: "thumbnails", why: r.why, errors: r.errors,
          seconds: r.seconds, cues: th.cues.length, sprites: th.sprites, probes,
          tiling: th.tiling, inside: th.inside,
          ...(problems.length ? { problems: problems.slice(0, 10) } : {}),
          ok: r.why === "thumbnails" && r.serious.length === 0 && probes.length > 0 &&
            probes.every((p) => p.ok) && th.tiling && th.inside && endOk,
        });
      }
      console.error(`${player}: ${dirs[n]}: ${((Date.now() - began) / 1000).toFixed(1)} s`);
    }
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
}
process.exit(failed ? 1 : 0);

function near(a, b) {
  return Math.abs(a - b) <= CUE_TOLERANCE_S;
}

// For a track whose cues do not line up: the one time shift that lines up the most expected
// starts with cues, e.g. {seconds: -1.4, matches: "5/6"} for cues placed without
// X-TIMESTAMP-MAP (cue time taken as PTS, ~1.4 s before the first video frame).
function bestShift(starts, cues) {
  let best = null;
  for (const st of starts) {
    for (const c of cues) {
      const d = c.start - st;
      const n = starts.filter((x) => cues.some((k) => near(k.start, x + d))).length;
      if (!best || n > best.n || (n === best.n && Math.abs(d) < Math.abs(best.d))) best = { d, n };
    }
  }
  return best && { seconds: +best.d.toFixed(3), matches: `${best.n}/${starts.length}` };
}

// The master playlist of `dir` and, for each rendition, the set of files its media playlist
// lists (segments and EXT-X-MAP), as paths relative to `dir`.
function readStream(dir) {
  const text = fs.readFileSync(path.join(dir, "master.m3u8"), "utf8");
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const s = { variants: [], audio: [], subtitles: [], expected: [] };
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith("#EXT-X-STREAM-INF:")) {
      const a = attributes(lines[i]);
      let j = i + 1;
      while (j < lines.length && (lines[j] === "" || lines[j].startsWith("#"))) j++;
      const res = a.RESOLUTION?.split("x").map(Number);
      s.variants.push({
        uri: lines[j], bandwidth: Number(a.BANDWIDTH), resolution: res || null,
        duration: extinfs(dir, lines[j]).reduce((x, d) => x + d, 0),
        audioGroup: a.AUDIO, segments: files(dir, lines[j]),
      });
    } else if (lines[i].startsWith("#EXT-X-MEDIA:")) {
      const a = attributes(lines[i]);
      const m = {
        uri: a.URI, name: a.NAME, language: a.LANGUAGE, forced: a.FORCED === "YES",
        group: a["GROUP-ID"],
        // Each segment's start, seconds from the first.
        starts: extinfs(dir, a.URI).map((_, k, d) => d.slice(0, k).reduce((x, y) => x + y, 0)),
        segments: files(dir, a.URI),
      };
      if (a.TYPE === "AUDIO") s.audio.push(m);
      if (a.TYPE === "SUBTITLES") s.subtitles.push(m);
    }
  }
  const expected = path.join(dir, "captions.expected.json");
  if (fs.existsSync(expected)) s.expected = JSON.parse(fs.readFileSync(expected, "utf8"));
  const first = s.variants[0] && path.join(dir, s.variants[0].uri);
  s.duration = first && fs.existsSync(first) ? [...fs.readFileSync(first, "utf8")
    .matchAll(/^#EXTINF:\s*([\d.]+)/gm)].reduce((a, m) => a + Number(m[1]), 0) : 0;
  if (fs.existsSync(path.join(dir, "thumbnails.vtt"))) s.thumbnails = readThumbnails(dir);
  return s;
}

// thumbnails.vtt's cues ({ start, end, sprite: URL relative to the file, xywh: [x, y, w, h] or
// null }), how many sprites they name, whether they tile [0, last end) (times compared in whole
// milliseconds, as written) and whether every rectangle lies inside its sprite; `problems` says
// where not.
function readThumbnails(dir) {
  const ms = (t) => {
    const p = t.split(":").map(Number);
    return Math.round(p.reduce((a, x) => a * 60 + x, 0) * 1000);
  };
  const cues = [];
  const lines = fs.readFileSync(path.join(dir, "thumbnails.vtt"), "utf8").split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i].match(/^\s*((?:\d+:)?\d+:\d+\.\d+)\s+-->\s+((?:\d+:)?\d+:\d+\.\d+)/);
    if (!m) continue;
    const text = (lines[i + 1] || "").trim();
    const f = text.match(/#xywh=(\d+),(\d+),(\d+),(\d+)$/);
    cues.push({
      startMs: ms(m[1]), endMs: ms(m[2]), sprite: text.split("#")[0],
      xywh: f ? f.slice(1).map(Number) : null,
    });
  }
  const problems = [];
  cues.forEach((c, i) => {
    c.start = c.startMs / 1000;
    c.end = c.endMs / 1000;
    const prev = i ? cues[i - 1].endMs : 0;
    if (c.startMs !== prev || c.endMs <= c.startMs) {
      problems.push(`cue ${i} [${c.start}, ${c.end}) does not follow ${prev / 1000}`);
    }
  });
  const tiling = cues.length > 0 && problems.length === 0;
  const sizes = new Map();
  let inside = cues.length > 0;
  cues.forEach((c, i) => {
    const file = path.join(dir, decodeURIComponent(new URL(c.sprite, "http://x/").pathname));
    if (!sizes.has(file)) sizes.set(file, jpegSize(file));
    const size = sizes.get(file);
    const [x, y, w, h] = c.xywh || [];
    if (!c.xywh || !size || w <= 0 || h <= 0 || x + w > size.width || y + h > size.height) {
      inside = false;
      problems.push(`cue ${i}: ${c.sprite}#xywh=${c.xywh || "?"} not inside ` +
        (size ? `its ${size.width}x${size.height}` : "a readable JPEG"));
    }
  });
  return { cues, sprites: new Set(cues.map((c) => c.sprite)).size, tiling, inside, problems };
}

// A JPEG's pixel size from its SOF marker (the frame header, before any entropy-coded data),
// or null if the file is missing or not a JPEG.
function jpegSize(file) {
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) return null;
  const b = fs.readFileSync(file);
  if (b[0] !== 0xff || b[1] !== 0xd8) return null;
  for (let i = 2; i + 9 <= b.length;) {
    if (b[i] !== 0xff) return null;
    const m = b[i + 1];
    if (m === 0xff) i += 1; // fill byte
    else if (m === 0x01 || (m >= 0xd0 && m <= 0xd7)) i += 2; // no length
    else if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      return { width: b.readUInt16BE(i + 7), height: b.readUInt16BE(i + 5) };
    } else if (m === 0xda || m === 0xd9) return null; // scan or end before any frame
    else i += 2 + b.readUInt16BE(i + 2);
  }
  return null;
}

function attributes(line) {
  const out = {};
  for (const m of line.slice(line.indexOf(":") + 1).matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/g)) {
    out[m[1]] = m[2].startsWith('"') ? m[2].slice(1, -1) : m[2];
  }
  return out;
}

// A media playlist's EXTINF durations, in order (none for a missing file).
function extinfs(dir, uri) {
  const file = uri && path.join(dir, uri);
  if (!file || !fs.existsSync(file)) return [];
  return [...fs.readFileSync(file, "utf8").matchAll(/^#EXTINF:\s*([\d.]+)/gm)].map((m) => Number(m[1]));
}

function files(dir, uri) {
  const out = new Set();
  if (!uri) return out;
  const file = path.join(dir, uri);
  if (!fs.existsSync(file)) return out;
  const at = path.posix.dirname(uri);
  for (const l of fs.readFileSync(file, "utf8").split(/\r?\n/).map((x) => x.trim())) {
    const map = l.startsWith("#EXT-X-MAP:") && attributes(l).URI;
    if (map) out.add(path.posix.join(at, map));
    else if (l && !l.startsWith("#")) out.add(path.posix.join(at, l));
  }
  return out;
}

// Which renditions the completed requests of one run came from: rendition index -> the set
// of its files fetched. A file missing on disk was answered 404: not fetched.
function classify(stream, n, urls) {
  const prefix = `/s/${n}/`;
  const out = { variants: new Map(), audio: new Map(), subtitles: new Map() };
  for (const u of urls) {
    const p = decodeURIComponent(new URL(u).pathname);
    if (!p.startsWith(prefix)) continue;
    const rel = path.posix.normalize(p.slice(prefix.length));
    if (!fs.existsSync(path.join(dirs[n], rel))) continue;
    for (const kind of ["variants", "audio", "subtitles"]) {
      stream[kind].forEach((r, i) => {
        if (!r.segments.has(rel)) return;
        if (!out[kind].has(i)) out[kind].set(i, new Set());
        out[kind].get(i).add(rel);
      });
    }
  }
  return out;
}
