// Plays every rendition of HLS streams in hls.js inside headless Chromium, the way a web
// player would, and prints one JSON line per rendition. Exit code 0 only if every rendition of
// every stream played to its end with no error and at its declared resolution.
//
//   node tests/player/play.mjs <dir with master.m3u8>...
//
// Each directory is served over HTTP on 127.0.0.1 (a player loads a stream over HTTP, not from
// files); hls.js is locked to one level at a time, so a rendition that cannot play cannot hide
// behind another one. A master with alternate audio (EXT-X-MEDIA:TYPE=AUDIO) also has each of
// its audio renditions played to its end, selected in turn with the last (smallest) video level;
// those reports carry `audioTrack` and pass only if every audio fragment loaded came from the
// selected rendition.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const hlsJs = path.join(here, "node_modules/hls.js/dist/hls.min.js");
const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  console.error("usage: node play.mjs <stream dir>...");
  process.exit(2);
}

const types = {
  ".m3u8": "application/vnd.apple.mpegurl",
  ".ts": "video/mp2t",
  ".m4s": "video/iso.segment",
  ".mp4": "video/mp4",
  ".aac": "audio/aac",
  ".js": "text/javascript",
  ".html": "text/html",
};

// /s/<n>/<path> serves dirs[n]; /hls.js and / serve the player page.
const server = http.createServer((req, res) => {
  const url = decodeURIComponent(new URL(req.url, "http://x").pathname);
  let file;
  if (url === "/") {
    res.writeHead(200, { "content-type": "text/html" });
    res.end('<!doctype html><meta charset="utf-8"><script src="/hls.js"></script><body></body>');
    return;
  } else if (url === "/hls.js") {
    file = hlsJs;
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
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(base + "/");
  for (let n = 0; n < dirs.length; n++) {
    const master = `${base}/s/${n}/master.m3u8`;
    const results = await page.evaluate(playAll, master);
    for (const r of results) {
      r.stream = dirs[n];
      // Stalls on a busy machine are recoverable (bufferStalledError, bufferNudgeOnStall,
      // bufferSeekOverHole: all non-fatal; a headless 720p60 decode on a loaded 2-core machine
      // runs the buffer dry), and so is a fragment hls.js appends twice (bufferAppendNoProgress:
      // "appended without buffered range growth", seen when it reloads a fragment it already
      // holds); anything else (a parsing error, say) is not. A real hole still fails: playing
      // to the end at the declared size, from the right level, is checked below. The names are
      // hls.js's ErrorDetails values, matched whole.
      const benign = new Set([
        "mediaError/bufferStalledError",
        "mediaError/bufferNudgeOnStall",
        "mediaError/bufferSeekOverHole",
        "mediaError/bufferAppendNoProgress",
      ]);
      const serious = r.errors.filter((e) => !benign.has(e));
      const ok = r.ok && serious.length === 0 && r.fragLevels.every((l) => l === r.level) &&
        (!r.declared || (r.width === r.declared[0] && r.height === r.declared[1])) &&
        (r.audioTrack === undefined || (r.audioFrags > 0 && r.foreignAudioFrags.length === 0));
      if (!ok) failed++;
      console.log(JSON.stringify({ ...r, ok }));
    }
  }
} finally {
  await browser.close();
  server.close();
}
process.exit(failed ? 1 : 0);

// Runs in the page: plays each level of `master` to its end, one at a time, then each
// alternate audio rendition (if any) with the last level.
async function playAll(master) {
  const Hls = window.Hls;
  if (!Hls.isSupported()) return [{ level: -1, ok: false, why: "MSE unsupported", fragLevels: [], errors: [] }];
  const { count, tracks } = await new Promise((resolve) => {
    const h = new Hls();
    h.on(Hls.Events.MANIFEST_PARSED, (_, d) => {
      resolve({
        count: d.levels.length,
        tracks: (d.audioTracks || []).map((t) => ({ name: t.name, lang: t.lang, url: t.url })),
      });
      h.destroy();
    });
    h.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) { resolve({ count: 0, tracks: [] }); h.destroy(); } });
    h.loadSource(master);
  });
  if (count === 0) return [{ level: -1, ok: false, why: "manifest not parsed", fragLevels: [], errors: [] }];
  const out = [];
  for (let level = 0; level < count; level++) out.push(await playOne(level, undefined));
  // Only alternate renditions with their own playlist: audio muxed into the video is played above.
  for (let t = 0; t < tracks.length; t++) {
    if (tracks[t].url) out.push(await playOne(count - 1, t));
  }
  return out;

  function playOne(level, audioTrack) {
    return new Promise((resolve) => {
      const video = document.createElement("video");
      video.muted = true;
      document.body.appendChild(video);
      const hls = new Hls({ startLevel: level, capLevelToPlayerSize: false });
      const frags = new Set();
      const errors = [];
      let audioFrags = 0;
      const foreignAudioFrags = [];
      // The selected rendition's folder: its segments live beside its playlist.
      const audioBase = audioTrack === undefined ? null
        : tracks[audioTrack].url.slice(0, tracks[audioTrack].url.lastIndexOf("/") + 1);
      let declared = null;
      let done = false;
      const finish = (ok, why) => {
        if (done) return;
        done = true;
        const r = {
          level, ok, why, declared, errors, fragLevels: [...frags],
          currentTime: video.currentTime, duration: video.duration,
          width: video.videoWidth, height: video.videoHeight,
        };
        if (audioTrack !== undefined) {
          Object.assign(r, {
            audioTrack, name: tracks[audioTrack].name, lang: tracks[audioTrack].lang,
            audioFrags, foreignAudioFrags,
          });
        }
        resolve(r);
        hls.destroy();
        video.remove();
      };
      hls.on(Hls.Events.MANIFEST_PARSED, (_, d) => {
        const l = d.levels[level];
        if (l.width && l.height) declared = [l.width, l.height];
        hls.currentLevel = level;
        video.playbackRate = 4;
        video.play().catch((e) => errors.push("play: " + e));
      });
      // hls.js lists a level's audio group once the level is chosen: select the rendition then.
      hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, (_, d) => {
        if (audioTrack === undefined) return;
        const i = d.audioTracks.findIndex((t) => t.url === tracks[audioTrack].url);
        if (i < 0) errors.push("audio rendition not offered: " + tracks[audioTrack].url);
        else if (hls.audioTrack !== i) hls.audioTrack = i;
      });
      hls.on(Hls.Events.FRAG_LOADED, (_, d) => {
        if (d.frag.type === "audio") {
          audioFrags++;
          if (!d.frag.url.startsWith(audioBase)) foreignAudioFrags.push(d.frag.url);
        } else {
          frags.add(d.frag.level);
        }
      });
      hls.on(Hls.Events.ERROR, (_, d) => {
        errors.push(`${d.type}/${d.details}${d.fatal ? " (fatal)" : ""}`);
        if (d.fatal) finish(false, d.details);
      });
      video.addEventListener("ended", () =>
        finish(video.currentTime > 0 && video.currentTime >= video.duration - 0.5, "ended"));
      video.addEventListener("error", () => finish(false, "media error: " + video.error?.message));
      setTimeout(() => finish(false, "timeout"), 90000);
      hls.loadSource(master);
      hls.attachMedia(video);
    });
  }
}
