// Energy Lab live canvas: plays a run's snapshots client-side at their own pace.
// Python ships the frames published since its last call (a batch every ~0.25 s); this code queues
// them and paints each one when its time comes (frame time + a small adaptive delay), so the
// browser animates at the rate the engine publishes (~30 frames/s) whatever the polling rate.
// Exports (the toolbar under the picture): "PNG" saves the canvas as it is; "Record" records it as a
// WebM video (canvas.captureStream + MediaRecorder) from the click until "Stop" (or config.max_record_s),
// then downloads it. A rolling "last N seconds" buffer is not offered: a WebM cut out of a running
// MediaRecorder stream is not playable without its first chunk and a key frame.
const STATES = new Map();
const CAPTURE_FPS = 30;
// vp8 first: it encodes with less CPU than vp9, and the encoder shares the cores with the animation
const VIDEO_TYPES = ["video/webm;codecs=vp8", "video/webm;codecs=vp9", "video/webm"];
const VIDEO_BITS_PER_S = 4_000_000;
const IDLE_FRAME_MS = 1000 / 15; // while recording a still picture, keep ≥ 15 frames/s in the file

const VIRIDIS = [
  [68, 1, 84], [72, 35, 116], [64, 67, 135], [52, 94, 141], [41, 120, 142], [32, 144, 140],
  [34, 167, 132], [68, 190, 112], [121, 209, 81], [189, 222, 38], [253, 231, 37],
];
const LUT = (() => {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * (VIRIDIS.length - 1);
    const k = Math.min(Math.floor(x), VIRIDIS.length - 2);
    const f = x - k;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = VIRIDIS[k][c] * (1 - f) + VIRIDIS[k + 1][c] * f;
  }
  return lut;
})();


function decode(f) {
  const pts = {};
  for (const [name, s] of Object.entries(f.pts || {})) pts[name] = b64floats(s);
  return { ...f, grid: f.grid ? b64bytes(f.grid) : null, pts };
}

function setup(parent) {
  const root = document.createElement("div");
  root.className = "lc-root";
  root.setAttribute("data-testid", "live-canvas");
  root.innerHTML = `
    <canvas class="lc-canvas"></canvas>
    <div class="lc-bar"><span class="lc-lo"></span><div class="lc-ramp"></div><span class="lc-hi"></span></div>
    <div class="lc-legend"></div>
    <div class="lc-info"><span class="lc-step"></span> · <span class="lc-fps"></span> ·
      <span class="lc-lag"></span></div>
    <div class="lc-tools"><button type="button" class="lc-png"></button><button type="button" class="lc-rec">
      </button><span class="lc-rec-info"></span></div>`;
  parent.appendChild(root);
  const s = {
    root, canvas: root.querySelector("canvas"), off: document.createElement("canvas"),
    queue: [], current: null, lastQueued: 0, runId: null, offsets: [], delay: 0.4,
    lastArrival: null, gaps: [], paints: [], painted: 0, trails: [], raf: null, config: {},
    recording: null, downloads: 0,
  };
  root.dataset.recording = "0";
  root.dataset.recordedBytes = "0";
  root.dataset.recordSupported = videoType() ? "1" : "0";
  root.querySelector(".lc-png").addEventListener("click", () => savePng(s));
  root.querySelector(".lc-rec").addEventListener("click", () => (s.recording ? stopRecording(s) : startRecording(s)));
  return s;
}

// ---- words and numbers: every word comes from Python (config.labels, in the session's language) ---------
const label = (s, key) => (s.config.labels || {})[key] ?? key;
// a number with `digits` decimals and the language's decimal mark (config.decimal: "." or ",")
const fixed = (s, x, digits) => x.toFixed(digits).replace(".", s.config.decimal || ".");
// the legend's words per point layer (config.legend: [[layer, colour], ...])
const LEGEND_LABELS = { positives: "legend_positives", negatives: "legend_negatives", particles: "legend_particles" };

function idleInfo(s) {
  // before the first frame (and when the run is replaced): placeholders in the session's language
  s.root.querySelector(".lc-step").textContent = label(s, "step_none");
  s.root.querySelector(".lc-fps").textContent = label(s, "fps_none");
  s.root.querySelector(".lc-lag").textContent = label(s, "lag_none");
}

const fpsText = (s, n) => label(s, "fps").replace("{fps}", String(n));

// ---- exports -------------------------------------------------------------------------------------
const stepOf = (s) => (s.current ? s.current.step : 0);
const prefix = (s) => s.config.file_prefix || "energy-lab";

function videoType() {
  if (typeof MediaRecorder === "undefined" || !HTMLCanvasElement.prototype.captureStream) return null;
  return VIDEO_TYPES.find((t) => MediaRecorder.isTypeSupported(t)) || null;
}

function download(s, blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.style.display = "none";
  s.root.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  s.downloads += 1;
  s.root.dataset.downloads = String(s.downloads);
  s.root.dataset.lastDownload = name;
}

function savePng(s) {
  const name = `${prefix(s)}-step-${stepOf(s)}.png`;
  s.canvas.toBlob((blob) => { if (blob) download(s, blob, name); }, "image/png");
}

function recordInfo(s, key, seconds, bytes) {
  return label(s, key).replace("{s}", fixed(s, seconds, 1)).replace("{kb}", String(Math.round(bytes / 1024)));
}

function tools(s) {
  const png = s.root.querySelector(".lc-png"), rec = s.root.querySelector(".lc-rec");
  png.textContent = label(s, "png");
  png.title = label(s, "png_help");
  const supported = s.root.dataset.recordSupported === "1";
  rec.textContent = label(s, s.recording ? "stop" : "record");
  rec.title = label(s, supported ? "record_help" : "no_recorder");
  rec.disabled = !supported;
  rec.dataset.on = s.recording ? "1" : "0";
}

function startRecording(s) {
  const type = videoType();
  if (!type || s.recording) return;
  const stream = s.canvas.captureStream(CAPTURE_FPS);
  const rec = new MediaRecorder(stream, { mimeType: type, videoBitsPerSecond: VIDEO_BITS_PER_S });
  const r = { rec, stream, chunks: [], bytes: 0, t0: performance.now(), lastPaint: performance.now(),
    firstStep: stepOf(s), lastStep: stepOf(s), type };
  rec.ondataavailable = (e) => {
    if (!e.data || !e.data.size) return;
    r.chunks.push(e.data);
    r.bytes += e.data.size;
    s.root.dataset.recordedBytes = String(r.bytes);
  };
  rec.onstop = () => {
    stream.getTracks().forEach((t) => t.stop());
    s.root.dataset.recordedBytes = String(r.bytes);
    s.root.querySelector(".lc-rec-info").textContent = recordInfo(s, "recorded", (r.t1 - r.t0) / 1000, r.bytes);
    download(s, new Blob(r.chunks, { type: "video/webm" }), `${prefix(s)}-step-${r.firstStep}-${r.lastStep}.webm`);
  };
  rec.start(1000); // a chunk a second: data-recorded-bytes grows while recording
  s.recording = r;
  s.root.dataset.recording = "1";
  s.root.dataset.recordType = type;
  tools(s);
  if (s.raf === null) s.raf = requestAnimationFrame(() => tick(s));
}

function stopRecording(s) {
  const r = s.recording;
  if (!r) return;
  s.recording = null;
  r.lastStep = stepOf(s);
  r.t1 = performance.now();
  s.root.dataset.recording = "0";
  s.root.dataset.recordedS = ((r.t1 - r.t0) / 1000).toFixed(2);
  if (r.rec.state !== "inactive") r.rec.stop(); // onstop downloads the file
  tools(s);
}

function whileRecording(s, painted) {
  // the only per-frame work recording adds: a status line and, for a still picture, a one-pixel
  // self-copy that marks the canvas changed so captureStream keeps sending frames
  const r = s.recording, now = performance.now();
  if (painted) r.lastPaint = now;
  else if (now - r.lastPaint > IDLE_FRAME_MS) {
    const ctx = s.canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(s.canvas, 0, 0, 1, 1, 0, 0, 1, 1);
    r.lastPaint = now;
  }
  if (!(now - r.lastInfo < 250)) {
    r.lastInfo = now;
    s.root.querySelector(".lc-rec-info").textContent = recordInfo(s, "recording", (now - r.t0) / 1000, r.bytes);
  }
  if ((now - r.t0) / 1000 >= (s.config.max_record_s || 120)) stopRecording(s);
}

function contours(ctx, g, n, W, H, levels) {
  // marching squares on the (flipped) uint8 grid; one path for all levels
  ctx.beginPath();
  const sx = W / n, sy = H / n;
  const at = (i, j) => g[(n - 1 - j) * n + i]; // j: canvas row (top = high y)
  for (const lv of levels) {
    for (let j = 0; j < n - 1; j++) {
      for (let i = 0; i < n - 1; i++) {
        const a = at(i, j), b = at(i + 1, j), c = at(i + 1, j + 1), d = at(i, j + 1);
        const pts = [];
        const edge = (v0, v1, x0, y0, x1, y1) => {
          if ((v0 < lv) !== (v1 < lv)) {
            const t = (lv - v0) / (v1 - v0);
            pts.push([(x0 + t * (x1 - x0) + 0.5) * sx, (y0 + t * (y1 - y0) + 0.5) * sy]);
          }
        };
        edge(a, b, i, j, i + 1, j);
        edge(b, c, i + 1, j, i + 1, j + 1);
        edge(d, c, i, j + 1, i + 1, j + 1);
        edge(a, d, i, j, i, j + 1);
        for (let k = 0; k + 1 < pts.length; k += 2) {
          ctx.moveTo(pts[k][0], pts[k][1]);
          ctx.lineTo(pts[k + 1][0], pts[k + 1][1]);
        }
      }
    }
  }
  ctx.stroke();
}

function draw(s) {
  const f = s.current;
  const cfg = s.config;
  const size = Math.max(200, Math.min(cfg.size || 520, s.root.clientWidth || 520));
  const dpr = window.devicePixelRatio || 1;
  const cv = s.canvas;
  if (cv.width !== size * dpr) {
    cv.width = size * dpr;
    cv.height = size * dpr;
    cv.style.width = size + "px";
    cv.style.height = size + "px";
  }
  const ctx = cv.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const W = size, H = size;
  ctx.fillStyle = "#111";
  ctx.fillRect(0, 0, W, H);
  if (f && f.grid) {
    const n = f.n;
    if (s.off.width !== n) { s.off.width = n; s.off.height = n; }
    const octx = s.off.getContext("2d");
    const img = octx.createImageData(n, n);
    for (let r = 0; r < n; r++) {
      const src = (n - 1 - r) * n; // grid row 0 is the bottom of the box
      for (let c = 0; c < n; c++) {
        const v = f.grid[src + c], o = (r * n + c) * 4;
        img.data[o] = LUT[v * 3]; img.data[o + 1] = LUT[v * 3 + 1]; img.data[o + 2] = LUT[v * 3 + 2];
        img.data[o + 3] = 255;
      }
    }
    octx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(s.off, 0, 0, W, H);
    ctx.strokeStyle = "rgba(255,255,255,0.35)";
    ctx.lineWidth = 0.8;
    contours(ctx, f.grid, n, W, H, [20, 45, 75, 110, 150, 200]);
  }
  const [x0, x1, y0, y1] = cfg.extent || [-1, 1, -1, 1];
  const px = (x) => ((x - x0) / (x1 - x0)) * W;
  const py = (y) => (1 - (y - y0) / (y1 - y0)) * H;
  const dots = (arr, color, r, stroke) => {
    if (!arr) return;
    ctx.fillStyle = color;
    ctx.beginPath();
    for (let i = 0; i + 1 < arr.length; i += 2) {
      ctx.moveTo(px(arr[i]) + r, py(arr[i + 1]));
      ctx.arc(px(arr[i]), py(arr[i + 1]), r, 0, 2 * Math.PI);
    }
    ctx.fill();
    if (stroke) { ctx.strokeStyle = stroke; ctx.lineWidth = 0.6; ctx.stroke(); }
  };
  if (s.static) dots(s.static, "rgba(255,255,255,0.30)", 1.2);
  if (f) {
    // fading tails: one stroke per age so the cost stays ~trail strokes per frame
    const T = s.trails.length;
    for (let a = 1; a < T; a++) {
      const p = s.trails[a - 1], q = s.trails[a];
      if (!p || !q || p.length !== q.length) continue;
      ctx.strokeStyle = `rgba(255,170,60,${(0.08 + 0.7 * (a / T)).toFixed(3)})`;
      ctx.lineWidth = 1.2;
      ctx.beginPath();
      for (let i = 0; i + 1 < q.length; i += 2) {
        ctx.moveTo(px(p[i]), py(p[i + 1]));
        ctx.lineTo(px(q[i]), py(q[i + 1]));
      }
      ctx.stroke();
    }
    dots(f.pts.positives, "#4fc3f7", 2.2, "#003049");
    dots(f.pts.negatives, "#ff5252", 2.2, "#3d0000");
    dots(f.pts.particles, "#ffb74d", 2.4, "#4a2800");
    if (f.reinit && f.pts.particles) {
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      for (const i of f.reinit) {
        const x = px(f.pts.particles[2 * i]), y = py(f.pts.particles[2 * i + 1]);
        ctx.moveTo(x + 6, y);
        ctx.arc(x, y, 6, 0, 2 * Math.PI);
      }
      ctx.stroke();
    }
  }
  const q = (sel) => s.root.querySelector(sel);
  if (f) {
    q(".lc-step").textContent = label(s, "step").replace("{step}", String(f.step));
    q(".lc-lo").textContent = fixed(s, f.lo ?? 0, 2);
    q(".lc-hi").textContent = fixed(s, f.hi ?? 0, 2);
  }
}

function carryReinit(skipped, next) {
  if (!skipped.reinit || !skipped.reinit.length) return;
  next.reinit = Array.from(new Set([...(next.reinit || []), ...skipped.reinit]));
}

function tick(s) {
  s.raf = null;
  const offset = s.offsets.length ? Math.max(...s.offsets) : 0;
  const serverNow = (Date.now() + offset) / 1000;
  const playAt = serverNow - s.delay;
  let next = null;
  // one frame per animation tick; when a late batch puts us behind the schedule, skip ahead so the
  // picture never trails the engine by more than the playback delay plus 0.15 s
  // a skipped frame's re-initialisations carry over to the next one, or its tail would span the jump
  while (s.queue.length > 1 && s.queue[1].t <= playAt - 0.15) carryReinit(s.queue.shift(), s.queue[0]);
  if (s.queue.length && s.queue[0].t <= playAt) next = s.queue.shift();
  // when the run is paused or stepped there is nothing to wait for: show the newest at once
  if (!next && s.queue.length && !s.config.running) {
    const rest = s.queue.splice(0);
    for (let i = 0; i + 1 < rest.length; i++) carryReinit(rest[i], rest[i + 1]);
    next = rest.pop();
  }
  if (next) {
    s.current = next;
    if (next.pts.particles && s.config.trail > 0) {
      // a re-initialised particle jumps: cut its tail instead of drawing a line across the box
      if (next.reinit) {
        const p = next.pts.particles;
        for (const i of next.reinit) {
          for (const tr of s.trails) { tr[2 * i] = p[2 * i]; tr[2 * i + 1] = p[2 * i + 1]; }
        }
      }
      s.trails.push(next.pts.particles);
      while (s.trails.length > s.config.trail) s.trails.shift();
    }
    draw(s);
    const now = performance.now();
    s.painted += 1;
    s.paints.push(now);
    while (s.paints.length && now - s.paints[0] > 1000) s.paints.shift();
    const lag = Math.max(0, serverNow - next.t);
    s.root.dataset.fps = String(s.paints.length);
    s.root.dataset.lag = lag.toFixed(3);
    s.root.dataset.step = String(next.step);
    s.root.dataset.frames = String(s.painted);
    s.root.dataset.trail = String(s.trails.length);
    s.root.querySelector(".lc-fps").textContent = fpsText(s, s.paints.length);
    s.root.querySelector(".lc-lag").textContent = label(s, "lag").replace("{lag}", fixed(s, lag, 2));
  } else if (s.paints.length && performance.now() - s.paints[s.paints.length - 1] > 1000) {
    s.paints = [];
    s.root.dataset.fps = "0";
    s.root.querySelector(".lc-fps").textContent = fpsText(s, 0);
  }
  if (s.recording) whileRecording(s, next !== null);
  // an idle view (no run training, nothing queued, not recording) stops asking for animation frames: a
  // class of open pages would otherwise spend a core on empty ticks; the next data from the server starts it
  if (s.config.running || s.queue.length || s.paints.length || s.recording) {
    s.raf = requestAnimationFrame(() => tick(s));
  }
}

export default function (component) {
  const { data, parentElement, key } = component;
  let s = STATES.get(key);
  if (!s || !parentElement.contains(s.root)) {
    if (s && s.recording) stopRecording(s); // the old canvas is gone: save what it recorded
    s = setup(parentElement);
    STATES.set(key, s);
  }
  const d = data || {};
  s.config = { ...s.config, ...d.config };
  if (d.run_id !== s.runId) {
    s.runId = d.run_id;
    s.queue = []; s.trails = []; s.current = null; s.lastQueued = 0;
  }
  if (d.static !== undefined) s.static = d.static ? b64floats(d.static) : null;
  const now = Date.now();
  if (d.server_time) {
    s.offsets.push(d.server_time * 1000 - now);
    if (s.offsets.length > 20) s.offsets.shift();
  }
  const fresh = (d.frames || []).filter((f) => f.frame > s.lastQueued);
  if (fresh.length) {
    if (s.lastArrival !== null) {
      s.gaps.push((now - s.lastArrival) / 1000);
      if (s.gaps.length > 12) s.gaps.shift();
      // play just far enough behind to bridge the slowest recent gap between batches
      s.delay = Math.min(0.8, Math.max(0.15, Math.max(...s.gaps) + 0.08));
    }
    s.lastArrival = now;
    s.batches = (s.batches || 0) + 1;
    s.root.dataset.batches = String(s.batches);
    s.root.dataset.delay = s.delay.toFixed(3);
    for (const f of fresh) s.queue.push(decode(f));
    s.lastQueued = fresh[fresh.length - 1].frame;
  }
  s.root.querySelector(".lc-legend").innerHTML = (s.config.legend || [])
    .map(([layer, color]) => `<span><i style="background:${color}"></i>${label(s, LEGEND_LABELS[layer])}</span>`)
    .join("");
  tools(s);
  if (!s.current) idleInfo(s);
  if (!s.current && !s.queue.length) draw(s);
  if (s.raf === null) tick(s);
  return () => {
    if (s.raf !== null) cancelAnimationFrame(s.raf);
    s.raf = null;
  };
}
