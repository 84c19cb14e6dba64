// The browser half of play.mjs: one run of one player on one stream, as a page script loaded
// after the player library. play.mjs decides what to run and judges the result (which
// segments were fetched, sizes, cues); this file only drives the players through their public
// APIs and reports what each one did.
//
//   window.runCheck(spec) -> Promise<result>
//
// spec: { player: "hls.js" | "shaka" | "video.js", master: absolute URL,
//         variant: { uri }          the video rendition to lock (URI as written in the master),
//         audio?: { uri, name, language }  an alternate audio rendition to select,
//         text?: { uri, name, language, starts, tolerance }  a subtitle rendition to show, and
//                                   the cue start times (seconds, ± tolerance) to wait for,
//         thumbnails?: { uri, times }  (Shaka only) instead of playing, add this thumbnails
//                                   file and look up the thumbnail at each time,
//         timeoutMs, stallMs (fail if the playhead has not moved for that long) }
// result: { ok (played to its end, or every expected cue arrived), why, errors: [...],
//           width, height, currentTime, duration,
//           listing: { text: [{ name, language, kind? }] }  subtitle tracks the player offers,
//           cues?: [{ start, end, text }]  the shown track's cues, deduplicated,
//           thumbnails?: [{ uris, x, y, width, height } | null]  one per time }
"use strict";

window.runCheck = (spec) => new Promise((resolve) => {
  const video = document.createElement("video");
  video.muted = true;
  document.body.appendChild(video);
  const errors = [];
  let player = null;
  let started = false;
  let done = false;
  const timers = [];
  const finish = async (ok, why, data) => {
    if (done) return;
    done = true;
    timers.forEach(clearInterval); // timeouts too: one pool of ids
    // Errors raised while tearing down (hls.js reports the loads it aborts) are not the run's.
    const r = {
      ok, why, errors: errors.slice(),
      currentTime: video.currentTime, duration: video.duration,
      width: video.videoWidth, height: video.videoHeight,
      listing: { text: [] }, ...data,
    };
    try {
      if (player) {
        r.listing.text = player.textTracks();
        if (spec.text) r.cues = dedupe(player.cues());
      }
      if (player) await player.destroy();
    } catch (e) {
      r.errors.push("listing or destroy: " + e);
    }
    video.remove();
    resolve(r);
  };
  const ctl = {
    video, errors,
    fail: (why) => finish(false, why),
    done: (why, data) => finish(true, why, data),
    // Called by an adapter once its renditions are locked: play muted at 4x from the start.
    start: () => {
      started = true;
      video.playbackRate = 4;
      video.play().catch((e) => errors.push("play: " + e));
    },
  };
  // A text run may stop as soon as every expected cue is there: no need to play to the end.
  const allCuesIn = () => {
    const cues = player ? player.cues() : [];
    const near = (s) => cues.some((c) => Math.abs(c.start - s) <= spec.text.tolerance);
    return spec.text.starts.every(near);
  };
  video.addEventListener("ended", () => {
    if (spec.text) {
      // The last segment's cues may still be parsing.
      setTimeout(() => finish(allCuesIn(), "ended"), 500);
    } else {
      finish(video.currentTime > 0 && video.currentTime >= video.duration - 0.5, "ended");
    }
  });
  video.addEventListener("error", () => finish(false, "media error: " + video.error?.message));
  timers.push(setTimeout(() => finish(false, "timeout"), spec.timeoutMs));
  let last = { at: performance.now(), time: -1 };
  timers.push(setInterval(() => {
    if (!started || video.currentTime !== last.time) {
      last = { at: performance.now(), time: video.currentTime };
    } else if (performance.now() - last.at > spec.stallMs) {
      finish(false, `stalled at ${video.currentTime.toFixed(2)} s`);
    }
  }, 1000));
  if (spec.text) timers.push(setInterval(() => { if (allCuesIn()) finish(true, "cues"); }, 100));
  try {
    player = ADAPTERS[spec.player](spec, ctl);
  } catch (e) {
    finish(false, "setup: " + e);
  }
});

function dedupe(cues) {
  const seen = new Map();
  for (const c of cues) seen.set(`${c.start.toFixed(3)}|${c.end.toFixed(3)}|${c.text}`, c);
  return [...seen.values()].sort((a, b) => a.start - b.start);
}

// A TextTrack's cues as plain objects. TextTrackCueList (and video.js's emulated list) are
// indexed, not iterated.
function cuesOf(track) {
  const out = [];
  const list = track && track.cues;
  for (let i = 0; list && i < list.length; i++) {
    const c = list[i];
    out.push({ start: c.startTime, end: c.endTime, text: c.text });
  }
  return out;
}

// Media playlist URIs compare resolved against the master, percent-decoded.
const sameUri = (a, b, master) => {
  const norm = (u) => decodeURI(new URL(u, master).href);
  return norm(a) === norm(b);
};

// The cues of the native TextTrack a player shows for a subtitle rendition: labelled with its
// NAME, kind subtitles (or captions, for an SDH rendition), showing. Requiring "showing" keeps
// out a CEA-608 track that could carry the same label (hls.js names CC1 "English"): players
// keep those hidden.
const shownCues = (video, label) => [...video.textTracks]
  .filter((t) => (t.kind === "subtitles" || t.kind === "captions") && t.mode === "showing" &&
    t.label === label)
  .flatMap(cuesOf);

const ADAPTERS = {
  // hls.js: lock the level with `currentLevel` before loading starts (MANIFEST_PARSED fires
  // before hls.js starts loading); select audio and subtitles once the level lists them.
  "hls.js"(spec, ctl) {
    const Hls = window.Hls;
    if (!Hls.isSupported()) throw new Error("MSE unsupported");
    const hls = new Hls({ capLevelToPlayerSize: false });
    let textShown = null;
    hls.on(Hls.Events.MANIFEST_PARSED, (_, d) => {
      const level = d.levels.findIndex((l) => sameUri(l.uri, spec.variant.uri, spec.master));
      if (level < 0) return ctl.fail("variant not offered: " + spec.variant.uri);
      hls.startLevel = level;
      hls.currentLevel = level;
      ctl.start();
    });
    hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, (_, d) => {
      if (!spec.audio) return;
      const i = d.audioTracks.findIndex((t) => sameUri(t.url, spec.audio.uri, spec.master));
      if (i < 0) ctl.errors.push("audio rendition not offered: " + spec.audio.uri);
      else if (hls.audioTrack !== i) hls.audioTrack = i;
    });
    hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, (_, d) => {
      if (!spec.text) return;
      const i = d.subtitleTracks.findIndex((t) => sameUri(t.url, spec.text.uri, spec.master));
      if (i < 0) return ctl.errors.push("subtitle rendition not offered: " + spec.text.uri);
      textShown = d.subtitleTracks[i];
      hls.subtitleDisplay = true;
      // hls.js selects its DEFAULT=YES track right after this event: choose after it.
      setTimeout(() => { hls.subtitleTrack = i; });
    });
    hls.on(Hls.Events.ERROR, (_, d) => {
      ctl.errors.push(`${d.type}/${d.details}${d.fatal ? " (fatal)" : ""}`);
      if (d.fatal) ctl.fail(d.details);
    });
    hls.loadSource(spec.master);
    hls.attachMedia(ctl.video);
    return {
      textTracks: () => hls.subtitleTracks.map((t) => ({ name: t.name, language: t.lang })),
      // hls.js renders natively: one TextTrack per subtitle rendition.
      cues: () => (textShown ? shownCues(ctl.video, textShown.name) : []),
      destroy: () => hls.destroy(),
    };
  },

  // Shaka Player: ABR off, and the variant (video rendition plus, with alternate audio, the
  // audio rendition) pinned from the start. selectVariantTrack() cannot do the pinning in 5.2:
  // it is a silent no-op until the playhead exists, i.e. also inside the `streaming` event,
  // after which Shaka has already chosen and fetched its own initial variant. So the initial
  // choice goes through Shaka's ABR extension point (`abrFactory`): its SimpleAbrManager, with
  // chooseVariant() answering the wanted variant. Shaka keeps each rendition's playlist URI as
  // stream.originalId (originalVideoId / originalAudioId / originalTextId on tracks). With no
  // UI container Shaka renders text through NativeTextDisplayer: one <track> per text stream,
  // labelled with its NAME. Thumbnails: addThumbnailsTrack(uri, mimeType) (only once load()
  // has resolved) resolves to an ImageTrack; getThumbnails(track.id, time) to a Thumbnail
  // whose `uris` are the cue text resolved against the file (#xywh fragment kept) and whose
  // positionX/positionY/width/height are the fragment's, or null where no cue covers `time`.
  shaka(spec, ctl) {
    const shaka = window.shaka;
    shaka.polyfill.installAll();
    if (!shaka.Player.isBrowserSupported()) throw new Error("Shaka: browser unsupported");
    const wanted = (v) => ((v.video || v.audio)?.originalId === spec.variant.uri) &&
      (!spec.audio || v.audio?.originalId === spec.audio.uri);
    class Pinned extends shaka.abr.SimpleAbrManager {
      setVariants(variants, ...rest) {
        this.offered = variants;
        return super.setVariants(variants, ...rest);
      }
      chooseVariant(...args) {
        const v = this.offered?.find(wanted);
        if (!v) ctl.fail(`variant not offered: ${spec.variant.uri} ${spec.audio?.uri || ""}`);
        return v || super.chooseVariant(...args);
      }
    }
    const player = new shaka.Player();
    player.configure({ abr: { enabled: false }, abrFactory: () => new Pinned() });
    // The ABR manager is only offered variants with the preferred audio: prefer the wanted one.
    if (spec.audio) {
      player.configure({
        preferredAudio: [{
          language: spec.audio.language || "", label: spec.audio.name || "",
          role: "", channelCount: 0, codec: "",
        }],
      });
    }
    player.addEventListener("error", (e) => {
      const err = e.detail;
      ctl.errors.push(`shaka/${err.category}.${err.code}${err.severity === 2 ? " (fatal)" : ""}`);
      if (err.severity === 2) ctl.fail(`shaka error ${err.code}`);
    });
    let textShown = null;
    (async () => {
      await player.attach(ctl.video);
      await player.load(spec.master);
      if (spec.thumbnails) {
        const track = await player.addThumbnailsTrack(spec.thumbnails.uri, "text/vtt");
        const got = [];
        for (const t of spec.thumbnails.times) {
          const th = await player.getThumbnails(track.id, t);
          got.push(th && {
            uris: th.uris, x: th.positionX, y: th.positionY, width: th.width, height: th.height,
          });
        }
        return ctl.done("thumbnails", { thumbnails: got });
      }
      if (spec.text) {
        textShown = player.getTextTracks().find((t) => t.originalTextId === spec.text.uri);
        if (!textShown) return ctl.fail("subtitle rendition not offered: " + spec.text.uri);
        player.selectTextTrack(textShown);
      }
      ctl.start();
    })().catch((e) => ctl.fail(`shaka load: ${e.code ?? ""} ${e.message ?? e}`));
    return {
      // Text streams, not CEA-608/708 captions carried in the video.
      textTracks: () => player.getTextTracks()
        .filter((t) => !/cea-?[67]08/i.test(t.mimeType || ""))
        .map((t) => ({ name: t.label, language: t.language, kind: t.kind })),
      cues: () => (textShown ? shownCues(ctl.video, textShown.label) : []),
      destroy: () => player.destroy(),
    };
  },

  // Video.js 8 with VHS (overrideNative, so VHS plays HLS through MSE even where the browser
  // could natively) and its own text tracks (nativeTextTracks: false). The video rendition is
  // locked with VHS's documented ABR hook, vhs.selectPlaylist (called before every segment),
  // set on `xhr-hooks-ready`, which VHS fires before it loads the master. The representations
  // / quality-levels API cannot lock from the start: VHS adds the levels on
  // `selectedinitialmedia`, after it has chosen its initial playlist and started loading it,
  // and disabling that playlist does not switch away until the next ABR decision (measured:
  // two segments of the other rendition fetched first). Audio renditions are
  // player.audioTracks(), labelled with NAME; enabling one inside `addtrack` is lost (the list
  // listens to the track only after the event), so it is done right after. Subtitles are
  // player.textTracks(), kind subtitles, labelled with NAME (VHS also adds a `segment-metadata`
  // track, kind metadata, and CEA-608/708 tracks, kind captions: not subtitle renditions); VHS
  // follows mode changes only once its media groups are set up, so the wanted track is shown
  // on `loadedmetadata`, every other one disabled first.
  "video.js"(spec, ctl) {
    const videojs = window.videojs;
    const p = videojs(ctl.video, {
      muted: true,
      preload: "auto",
      html5: {
        vhs: { overrideNative: true },
        nativeTextTracks: false,
        nativeAudioTracks: false,
        nativeVideoTracks: false,
      },
    });
    p.on("xhr-hooks-ready", () => {
      p.tech({ IWillNotUseThisInPlugins: true }).vhs.selectPlaylist = function () {
        const playlist = this.playlists.main.playlists.find((x) => x.uri === spec.variant.uri);
        if (!playlist) ctl.fail("variant not offered: " + spec.variant.uri);
        return playlist;
      };
    });
    p.audioTracks().on("addtrack", (e) => {
      if (spec.audio && e.track.label === spec.audio.name) {
        setTimeout(() => { e.track.enabled = true; });
      }
    });
    let textShown = null;
    p.on("error", () => {
      const e = p.error();
      ctl.errors.push(`videojs/${e?.code}: ${e?.message}`);
      ctl.fail(`video.js error ${e?.code}`);
    });
    p.on("loadedmetadata", () => {
      if (spec.text) {
        const tracks = p.textTracks();
        for (let i = 0; i < tracks.length; i++) {
          if (tracks[i].kind !== "subtitles") continue;
          tracks[i].mode = "disabled";
          if (tracks[i].label === spec.text.name) textShown = tracks[i];
        }
        if (!textShown) return ctl.fail("subtitle rendition not offered: " + spec.text.name);
        textShown.mode = "showing";
      }
      ctl.start();
    });
    p.src({ src: spec.master, type: "application/x-mpegURL" });
    return {
      textTracks: () => {
        const out = [];
        const tracks = p.textTracks();
        for (let i = 0; i < tracks.length; i++) {
          const t = tracks[i];
          if (t.kind === "subtitles") out.push({ name: t.label, language: t.language });
        }
        return out;
      },
      cues: () => cuesOf(textShown),
      destroy: () => p.dispose(),
    };
  },
};
