// Energy Lab embedding map: the map's points on a canvas, the image under the mouse (and a positive view of
// it) in a corner panel, a click making a point the anchor (trigger value "click").
// The sprite atlas (uint8 thumbnails, N×side×side×C) arrives once per run and map size; this code keeps it
// and reports the atlas it holds through the state value "sprites" (null asks Python to send it again).
const STATES = new Map();
const HOVER_PX = 12; // a point is hovered when the mouse is within this many CSS pixels of it
const PAD = 18;
const PANEL_PX = 96;

const label = (s, key) => ((s.config || {}).labels || {})[key] ?? key;
const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));

function setup(parent) {
  const root = document.createElement("div");
  root.className = "em-root";
  root.setAttribute("data-testid", "embed-map");
  root.innerHTML = `
    <div class="em-stage"><canvas class="em-canvas" data-testid="embed-map-canvas"></canvas>
      <div class="em-panel" data-empty="1">
        <figure><img class="em-img" data-testid="embed-map-hover-image" alt=""><figcaption class="em-img-cap">
          </figcaption></figure>
        <figure><img class="em-view" data-testid="embed-map-hover-view" alt=""><figcaption class="em-view-cap">
          </figcaption></figure>
      </div></div>
    <div class="em-legend"></div>
    <div class="em-info"></div>`;
  parent.appendChild(root);
  const s = { root, canvas: root.querySelector("canvas"), hover: -1, sprites: null, acked: undefined,
    xy: null, n: 0, pairs: 0, labels: null, anchor: 0, negs: [], view: null, config: {} };
  root.dataset.hoverIndex = "-1";
  root.dataset.sprites = "0";
  s.canvas.addEventListener("mousemove", (e) => {
    const r = s.canvas.getBoundingClientRect();
    hoverAt(s, e.clientX - r.left, e.clientY - r.top);
  });
  s.canvas.addEventListener("mouseleave", () => { s.near = -1; draw(s); });
  // the page's column changed width (sidebar, window): fit the canvas again
  if (typeof ResizeObserver !== "undefined") new ResizeObserver(() => { if (s.xy) draw(s); }).observe(root);
  s.canvas.addEventListener("click", (e) => {
    const r = s.canvas.getBoundingClientRect();
    const i = nearest(s, e.clientX - r.left, e.clientY - r.top);
    if (i >= 0 && s.setTriggerValue) {
      s.root.dataset.clicked = String(i);
      s.setTriggerValue("click", i);
    }
  });
  return s;
}

// ---- geometry ----------------------------------------------------------------------------------
function layout(s) {
  // equal scales on both axes (distances on the map mean something), centred in the canvas
  const W = s.W, H = s.H, xy = s.xy;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i + 1 < xy.length; i += 2) {
    const x = xy[i], y = xy[i + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
  }
  if (!(x1 > x0)) { x0 -= 1; x1 += 1; }
  if (!(y1 > y0)) { y0 -= 1; y1 += 1; }
  const k = Math.min((W - 2 * PAD) / (x1 - x0), (H - 2 * PAD) / (y1 - y0));
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  s.view = { k, cx, cy };
}
const px = (s, i) => s.W / 2 + (s.xy[2 * i] - s.view.cx) * s.view.k;
const py = (s, i) => s.H / 2 - (s.xy[2 * i + 1] - s.view.cy) * s.view.k;

function nearest(s, x, y) {
  if (!s.xy || !s.view) return -1;
  let best = -1, bestD = HOVER_PX * HOVER_PX;
  for (let i = 0; i < s.n; i++) {
    const dx = px(s, i) - x, dy = py(s, i) - y, d = dx * dx + dy * dy;
    if (d <= bestD) { bestD = d; best = i; }
  }
  return best;
}

// ---- drawing -----------------------------------------------------------------------------------
function star(ctx, x, y, r) {
  ctx.beginPath();
  for (let k = 0; k < 10; k++) {
    const a = -Math.PI / 2 + (k * Math.PI) / 5, rr = k % 2 ? r * 0.45 : r;
    ctx.lineTo(x + rr * Math.cos(a), y + rr * Math.sin(a));
  }
  ctx.closePath();
}

function draw(s) {
  const cfg = s.config;
  const W = Math.max(240, Math.min(cfg.max_width || 900, s.root.clientWidth || 700));
  const H = cfg.height || 520;
  const dpr = window.devicePixelRatio || 1;
  const cv = s.canvas;
  if (cv.width !== Math.round(W * dpr) || cv.height !== Math.round(H * dpr)) {
    cv.width = Math.round(W * dpr); cv.height = Math.round(H * dpr);
    cv.style.width = W + "px"; cv.style.height = H + "px";
  }
  s.W = W; s.H = H;
  const ctx = cv.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, W, H);
  if (!s.xy) return;
  layout(s);
  const palette = s.palette || ["#1f77b4"];
  ctx.globalAlpha = 0.65;
  for (let c = 0; c < s.classes.length; c++) { // one path per class: a few fills for thousands of points
    ctx.fillStyle = palette[c % palette.length];
    ctx.beginPath();
    for (let i = 0; i < s.n; i++) {
      if (s.labels[i] !== c) continue;
      ctx.moveTo(px(s, i) + 2.2, py(s, i));
      ctx.arc(px(s, i), py(s, i), 2.2, 0, 2 * Math.PI);
    }
    ctx.fill();
  }
  ctx.globalAlpha = 1;
  ctx.strokeStyle = "rgba(0,0,0,0.55)"; // positive pairs: the two views of an image, joined
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let j = 0; j < s.pairs; j++) {
    const a = s.n + j, b = s.n + s.pairs + j;
    ctx.moveTo(px(s, a), py(s, a)); ctx.lineTo(px(s, b), py(s, b));
    for (const q of [a, b]) { // a small × at each view
      ctx.moveTo(px(s, q) - 3, py(s, q) - 3); ctx.lineTo(px(s, q) + 3, py(s, q) + 3);
      ctx.moveTo(px(s, q) - 3, py(s, q) + 3); ctx.lineTo(px(s, q) + 3, py(s, q) - 3);
    }
  }
  ctx.stroke();
  ctx.strokeStyle = "#d62728";
  ctx.lineWidth = 2;
  ctx.beginPath();
  for (const i of s.negs) { if (i < s.n) { ctx.moveTo(px(s, i) + 6.5, py(s, i)); ctx.arc(px(s, i), py(s, i), 6.5, 0, 2 * Math.PI); } }
  ctx.stroke();
  if (s.anchor >= 0 && s.anchor < s.n) {
    star(ctx, px(s, s.anchor), py(s, s.anchor), 9);
    ctx.fillStyle = "gold"; ctx.fill();
    ctx.strokeStyle = "black"; ctx.lineWidth = 1; ctx.stroke();
  }
  if (s.near >= 0 && s.near < s.n) {
    ctx.strokeStyle = "#111"; ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.arc(px(s, s.near), py(s, s.near), 5, 0, 2 * Math.PI); ctx.stroke();
  }
}

// ---- the hover panel ---------------------------------------------------------------------------
function spriteUrl(s, pixels, i) {
  const { side, channels } = s.sprites;
  const off = document.createElement("canvas");
  off.width = side; off.height = side;
  const octx = off.getContext("2d");
  const img = octx.createImageData(side, side);
  const base = i * side * side * channels;
  for (let p = 0; p < side * side; p++) {
    const o = p * 4, src = base + p * channels;
    img.data[o] = pixels[src];
    img.data[o + 1] = pixels[src + (channels > 1 ? 1 : 0)];
    img.data[o + 2] = pixels[src + (channels > 2 ? 2 : 0)];
    img.data[o + 3] = 255;
  }
  octx.putImageData(img, 0, 0);
  const big = document.createElement("canvas"); // scaled up here: a data URL of a crisp image
  big.width = PANEL_PX; big.height = PANEL_PX;
  const bctx = big.getContext("2d");
  bctx.imageSmoothingEnabled = false;
  bctx.drawImage(off, 0, 0, PANEL_PX, PANEL_PX);
  return big.toDataURL("image/png");
}

function showHover(s, i) {
  const q = (sel) => s.root.querySelector(sel);
  const cls = s.classes[s.labels[i]] ?? "";
  s.root.dataset.hoverIndex = String(i);
  s.root.dataset.hoverClass = cls;
  const panel = q(".em-panel");
  const sp = s.sprites && s.sprites.key === s.spriteKey ? s.sprites : null; // never another run's images
  if (sp && i < sp.count) {
    q(".em-img").src = spriteUrl(s, s.sprites.images, i);
    q(".em-view").src = spriteUrl(s, s.sprites.views, i);
    q(".em-img-cap").textContent = fill(label(s, "image"), { i, cls });
    q(".em-view-cap").textContent = label(s, "view");
    panel.dataset.empty = "0";
    q(".em-info").textContent = fill(label(s, "image"), { i, cls });
  } else {
    panel.dataset.empty = "1";
    q(".em-img").removeAttribute("src");
    q(".em-view").removeAttribute("src");
    q(".em-info").textContent = fill(label(s, sp ? "no_image" : "loading"), { i, cls, count: sp ? sp.count : 0 });
  }
}

function hoverAt(s, x, y) {
  const i = nearest(s, x, y);
  if (i !== s.near) { s.near = i; draw(s); }
  if (i >= 0 && i !== s.hover) { s.hover = i; showHover(s, i); } // the panel keeps the last image hovered
}

function legend(s) {
  const palette = s.palette || [];
  const items = s.classes.map((c, k) => `<span><i style="background:${palette[k % palette.length]}"></i>${c}</span>`);
  items.push(`<span>★ ${label(s, "anchor")}</span>`, `<span style="color:#d62728">◯ ${label(s, "hardest")}</span>`,
    `<span>×—× ${label(s, "pairs")}</span>`);
  s.root.querySelector(".em-legend").innerHTML = items.join("");
}

export default function (component) {
  const { data, parentElement, key, setStateValue, setTriggerValue } = component;
  let s = STATES.get(key);
  if (!s || !parentElement.contains(s.root)) {
    const kept = s ? s.sprites : null; // a remounted map keeps the atlas it was sent
    s = setup(parentElement);
    s.sprites = kept;
    STATES.set(key, s);
  }
  s.setTriggerValue = setTriggerValue;
  const d = data || {};
  s.config = { ...s.config, ...(d.config || {}) };
  if (d.xy) {
    s.xy = b64floats(d.xy);
    s.labels = b64bytes(d.labels);
    s.n = d.n; s.pairs = d.pairs; s.classes = d.classes || []; s.palette = d.palette;
    s.anchor = d.anchor; s.negs = d.negs || [];
  }
  if (d.sprites) {
    const sp = d.sprites;
    s.sprites = { key: d.sprite_key, count: sp.count, side: sp.side, channels: sp.channels,
      images: b64bytes(sp.images), views: b64bytes(sp.views) };
  }
  s.spriteKey = d.sprite_key;
  // tell Python which atlas this map holds (null: none for this run, send it)
  const held = s.sprites && s.sprites.key === d.sprite_key ? d.sprite_key : null;
  // (again when an atlas arrives: Python sent it because its record of what this map holds was gone)
  if (held !== s.acked || (d.sprites && held)) {
    s.acked = held;
    setTimeout(() => setStateValue("sprites", held), 0); // after this render: the report reruns the script
  }
  const r = s.root;
  r.dataset.n = String(s.n);
  r.dataset.step = String(d.step ?? "");
  r.dataset.anchor = String(s.anchor);
  r.dataset.sprites = String(held && s.sprites ? s.sprites.count : 0);
  r.dataset.spriteKey = held || "";
  legend(s);
  if (s.hover < 0) r.querySelector(".em-info").textContent = label(s, "hint");
  draw(s);
  if (s.hover >= 0 && s.hover < s.n) showHover(s, s.hover); // the new map's image and view at that index
  window.energyLabEmbedMap = { // for the e2e tests: point i in client (viewport) pixels
    point: (i) => {
      const st = STATES.get(key), b = st.canvas.getBoundingClientRect();
      return { x: b.left + px(st, i), y: b.top + py(st, i) };
    },
    n: () => STATES.get(key).n,
    label: (i) => { const st = STATES.get(key); return st.classes[st.labels[i]]; },
  };
}
