// Drives `fleet-admin dashboard` in headless Chromium for tests/it/dashboard.rs:
//
//   node tests/dashboard/dashboard.mjs <dashboard URL> <screenshot dir> <done expected>
//
// 1. loads the page and waits until it shows its first snapshot, with 0 done; prints
//    {"event":"ready"} (the test starts the worker then);
// 2. watches the page (not the API) until it shows <done expected> done, recording every done
//    count it showed and whether a video showed running; screenshots dashboard-live.png while a
//    video runs, preferably with its progress bar filled (if none was caught running: at the end);
// 3. clicks Play on the first done video, waits until the <video> has played past 1 s with no
//    fatal hls.js error, screenshots dashboard-player.png;
// 4. prints one JSON line with what it saw. Exit code 0 unless something threw.
//
// playwright-core comes from tests/player's install (scripts/player-setup).
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = await import(path.join(here, "../player/node_modules/playwright-core/index.mjs"));
const [base, shots, expectedArg] = process.argv.slice(2);
const expected = Number(expectedArg);
if (!base || !shots || !expected) {
  console.error("usage: node dashboard.mjs <url> <screenshot dir> <done expected>");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required"],
});
const result = { doneSeen: [], updates: 0, sawRunning: false, liveWhileRunning: false,
  liveProgress: false, pageErrors: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("pageerror", (e) => result.pageErrors.push(e.message));
  page.on("console", (m) => m.type() === "error" && console.error("page console:", m.text()));
  await page.goto(base);
  // What the page shows, read from the DOM as a person would see it.
  const shown = () => page.evaluate(() => ({
    done: document.getElementById("count-done").textContent,
    total: document.getElementById("count-total").textContent,
    updated: document.getElementById("updated").dataset.t || null,
    running: document.querySelectorAll("tr.running-row").length,
    bars: [...document.querySelectorAll("tr.running-row .bar em")].map((e) => e.textContent),
  }));
  await page.waitForFunction(() => document.getElementById("updated").dataset.t, null,
    { timeout: 30000 });
  const first = await shown();
  result.doneSeen.push(Number(first.done));
  result.total = Number(first.total);
  console.log(JSON.stringify({ event: "ready", ...first }));

  let lastUpdate = first.updated;
  const deadline = Date.now() + 240000;
  for (;;) {
    const s = await shown();
    if (s.updated !== lastUpdate) { result.updates++; lastUpdate = s.updated; }
    const done = Number(s.done);
    if (done !== result.doneSeen[result.doneSeen.length - 1]) result.doneSeen.push(done);
    // A picture while a video runs: the first moment one shows, replaced by a later one whose
    // bar shows a percentage (the encoder's progress) if the page shows one.
    const withPercent = s.bars.some((b) => b.endsWith("%"));
    if (s.running > 0 && (!result.liveWhileRunning || (withPercent && !result.liveProgress))) {
      result.sawRunning = true;
      result.bars = s.bars;
      await page.screenshot({ path: path.join(shots, "dashboard-live.png") });
      result.liveWhileRunning = true;
      result.liveProgress = withPercent;
    }
    // The broken video may be claimed last: wait for its failure to show too.
    const failures = await page.$$eval("#failures .group b", (bs) => bs.length);
    if (done >= expected && failures > 0) break;
    if (Date.now() > deadline) throw new Error(`page still shows ${done} done, ${failures} failure groups`);
    await page.waitForTimeout(250);
  }
  if (!result.liveWhileRunning) {
    await page.screenshot({ path: path.join(shots, "dashboard-live.png") });
  }

  result.failureGroups = await page.$$eval("#failures .group b", (bs) => bs.map((b) => b.textContent));
  result.workerStatus = await page.$$eval("#workers .status", (ss) => ss.map((x) => x.textContent));
  await page.click("button.play");
  result.playing = await page.evaluate(() => window.dashboard.playing);
  await page.waitForFunction(() => {
    const d = window.dashboard;
    return d.fatal || document.getElementById("player").currentTime > 1;
  }, null, { timeout: 60000 });
  const p = await page.evaluate(() => {
    const v = document.getElementById("player");
    return { currentTime: v.currentTime, width: v.videoWidth, height: v.videoHeight,
      fatal: window.dashboard.fatal, hlsErrors: window.dashboard.hlsErrors };
  });
  Object.assign(result, p);
  // The done list shows each lesson's poster; the scrub bar shows the thumbnail under the
  // pointer (hovered at its middle, once the stream's thumbnails are loaded).
  result.posters = await page.$$eval("img.poster", (is) => is.filter((i) => i.complete && i.naturalWidth > 0).length);
  await page.waitForFunction(() => window.dashboard.thumbs.length > 0, null, { timeout: 10000 });
  const seek = await page.locator("#seek").boundingBox();
  await page.mouse.move(seek.x + seek.width / 2, seek.y + seek.height / 2);
  result.thumbnail = await page.evaluate(() => {
    const b = document.getElementById("thumb");
    return { shown: b.style.display === "block", image: b.style.backgroundImage,
      cue: window.dashboard.hovered, cues: window.dashboard.thumbs.length };
  });
  await page.locator("#player").scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(shots, "dashboard-player.png") });
  result.polls = await page.evaluate(() => window.dashboard.polls);
} finally {
  await browser.close();
}
console.log(JSON.stringify({ event: "result", ...result }));
