// The live 3D viewer (a Streamlit v2 component, see ui/viewer3d.py).
//
// Streamlit calls the default export on every rerun that changes `data`. One 3Dmol viewer is
// kept per viewer id (the component's key) for the life of the page: a new scene replays
// its calls on that viewer (recolouring in place, camera kept) and the model is reloaded
// only when its key changes. No iframe, no new WebGL context, 3Dmol.js parsed once.
// Streamlit sometimes rebuilds the blocks around a component on a rerun and hands it a new
// parent element: the viewer's element (with its canvas) is then moved into it.
//
// Data: {viewer_id, model, fmt, model_key, ops: [[method, ...args]], hover: {"A:35": text},
//        zoom, background, legend, dark, name, js_url, height}. The legend (what the colours
// mean) and a PNG snapshot button are drawn over the canvas; so is the message shown when
// 3Dmol.js cannot load (on top, so nothing hides it). After each drawn frame the root element carries
// data-rendered="<n>", data-model-key and data-draw-ms (the time the last scene took),
// which the browser tests and the benchmark read.

const VIEWERS = (window.__interplmViewers = window.__interplmViewers || new Map());

function load3Dmol(url) {
  if (window.$3Dmol) return Promise.resolve(window.$3Dmol);
  if (!window.__interplm3Dmol) {
    window.__interplm3Dmol = new Promise((resolve, reject) => {
      const tag = document.createElement("script");
      tag.src = url;
      tag.async = true;
      tag.onload = () => (window.$3Dmol ? resolve(window.$3Dmol) : reject(new Error("no $3Dmol in " + url)));
      tag.onerror = () => {
        window.__interplm3Dmol = null; // let a later rerun try again
        reject(new Error("could not load " + url));
      };
      document.head.appendChild(tag);
    });
  }
  return window.__interplm3Dmol;
}

// Without a GPU (SwiftShader, llvmpipe) multisample antialiasing triples the cost of a frame.
function softwareGL() {
  if (window.__interplmSoftwareGL === undefined) {
    let soft = false;
    try {
      const gl = document.createElement("canvas").getContext("webgl");
      if (gl) {
        const info = gl.getExtension("WEBGL_debug_renderer_info");
        const name = info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : "";
        soft = /SwiftShader|llvmpipe|softpipe|Software/i.test(name);
        const lose = gl.getExtension("WEBGL_lose_context");
        if (lose) lose.loseContext();
      }
    } catch (err) {
      soft = false;
    }
    window.__interplmSoftwareGL = soft;
  }
  return window.__interplmSoftwareGL;
}

function hoverKey(atom) {
  let code = String(atom.icode || "").trim();
  if (code === "?" || code === ".") code = "";
  return atom.chain + ":" + atom.resi + code;
}

// 3Dmol (2.5) deletes a compiled shader program as soon as no drawn object uses it, so every
// new model or colouring compiled its shaders again: a large part of each change without a
// GPU (SwiftShader compiles on the CPU). Count one more use of each program so they live as
// long as the viewer. If a later 3Dmol keeps programs elsewhere, this does nothing.
function keepShaderPrograms(viewer) {
  const programs = viewer.renderer && viewer.renderer._programs;
  if (!Array.isArray(programs)) return;
  for (const program of programs) {
    if (!program.__interplmKept && typeof program.usedTimes === "number") {
      program.usedTimes += 1;
      program.__interplmKept = true;
    }
  }
}

function setup(height) {
  // box (sized, position:relative) > root (3Dmol's element) + legend + snapshot button + message.
  const box = document.createElement("div");
  box.className = "interplm-viewer3d-box";
  box.style.cssText = `position:relative;width:100%;height:${height}px`;
  const root = document.createElement("div");
  root.className = "interplm-viewer3d";
  root.style.cssText = "position:absolute;inset:0";
  const legend = document.createElement("div");
  legend.className = "interplm-viewer3d-legend";
  legend.style.cssText = "position:absolute;left:6px;top:6px;z-index:20;pointer-events:none;display:none;"
    + "font:13px/1.35 sans-serif;padding:5px 8px;border-radius:4px;background:rgba(255,255,255,0.82);color:#1b1f24";
  const snap = document.createElement("button");
  snap.type = "button";
  snap.className = "interplm-viewer3d-snapshot";
  snap.textContent = "PNG";
  snap.title = "Download this 3D view as a PNG (twice the canvas resolution)";
  snap.style.cssText = "position:absolute;right:6px;top:6px;z-index:20;display:none;cursor:pointer;"
    + "font:12px sans-serif;padding:3px 8px;border:1px solid #888;border-radius:4px;"
    + "background:rgba(255,255,255,0.85);color:#1b1f24";
  // The explanation when 3Dmol.js is missing sits on top of the (blank) viewer, opaque.
  const message = document.createElement("p");
  message.className = "interplm-viewer3d-message";
  message.style.cssText = "display:none;position:absolute;left:0;right:0;top:0;z-index:30;margin:0;"
    + "font:14px sans-serif;color:#a00;background:#fff3f3;border:1px solid #e0b4b4;padding:10px";
  box.append(root, legend, snap, message);
  const state = { box, root, legend, snap, message, viewer: null, modelKey: null, background: null,
    generation: 0, frames: 0, hover: {}, name: "structure" };
  snap.addEventListener("click", () => snapshot(state));
  return state;
}

// The viewer's elements into this mount's parent (a no-op when they are already there).
function place(state, parentElement, height) {
  if (state.box.parentElement !== parentElement) {
    parentElement.appendChild(state.box);
    state.moved = true;
  }
  if (state.box.style.height !== `${height}px`) {
    state.box.style.height = `${height}px`;
    state.moved = true;
  }
}

function showMessage(state, text) {
  state.message.textContent = text;
  state.message.style.display = text ? "block" : "none";
}

// The legend as DOM nodes built from text (never HTML): feature ramps or pLDDT bands.
function drawLegend(state, legend, dark) {
  const el = state.legend;
  el.replaceChildren();
  el.style.background = dark ? "rgba(15,20,25,0.82)" : "rgba(255,255,255,0.82)";
  el.style.color = dark ? "#e6e9ee" : "#1b1f24";
  if (!legend || !((legend.ramps && legend.ramps.length) || (legend.bands && legend.bands.length))) {
    el.style.display = "none";
    return;
  }
  const title = document.createElement("div");
  title.textContent = String(legend.title || "");
  title.style.fontWeight = "600";
  el.appendChild(title);
  const row = (swatch, text) => {
    const line = document.createElement("div");
    line.style.cssText = "display:flex;align-items:center;gap:6px";
    const label = document.createElement("span");
    label.textContent = String(text);
    line.append(swatch, label);
    el.appendChild(line);
  };
  for (const ramp of legend.ramps || []) {
    const swatch = document.createElement("span");
    swatch.style.cssText = "display:inline-block;width:64px;height:10px;border-radius:2px";
    swatch.style.background = `linear-gradient(to right, ${safeColour(ramp.from)}, ${safeColour(ramp.to)})`;
    row(swatch, `${ramp.label}  ${legend.low}–${legend.high}`);
  }
  for (const band of legend.bands || []) {
    const swatch = document.createElement("span");
    swatch.style.cssText = "display:inline-block;width:14px;height:10px;border-radius:2px";
    swatch.style.background = safeColour(band.colour);
    row(swatch, band.label);
  }
  el.style.display = "block";
}

function safeColour(value) {
  return /^#[0-9a-fA-F]{3,8}$/.test(String(value)) ? String(value) : "#888888";
}

// A PNG of the current view at twice the canvas' CSS size: 3Dmol's `upscale` renders at a
// device pixel ratio of at least 2; the canvas is then put back to its own size.
function snapshot(state) {
  const viewer = state.viewer;
  if (!viewer) return;
  const renderer = viewer.renderer;
  const canUpscale = renderer && "_upscale" in renderer;
  const before = canUpscale ? renderer._upscale : null;
  let uri;
  try {
    if (canUpscale) {
      renderer._upscale = true;
      viewer.resize();
    }
    viewer.render();
    uri = viewer.pngURI();
  } finally {
    if (canUpscale) {
      renderer._upscale = before;
      viewer.resize();
      viewer.render();
    }
  }
  const link = document.createElement("a");
  link.href = uri;
  link.download = `${state.name.replace(/[^A-Za-z0-9_.-]+/g, "_")}_3d.png`;
  document.body.appendChild(link);
  link.click();
  link.remove();
}

function draw(state, $3Dmol, data) {
  const started = performance.now();
  if (!state.viewer) {
    // Without a GPU every triangle is rasterised on the CPU: no antialiasing, and half of
    // 3Dmol's default cartoon subdivisions (10), which halves the cost of a frame.
    const soft = softwareGL();
    state.viewer = $3Dmol.createViewer(state.root, {
      backgroundColor: data.background,
      antialias: !soft,
      ...(soft ? { cartoonQuality: 5 } : {}),
    });
    state.background = data.background;
  }
  const viewer = state.viewer;
  state.name = String(data.name || "structure");
  // Several calls below (removeAllSurfaces, zoomTo, resize) draw a frame of their own (3Dmol
  // calls show()), and without a GPU every frame costs a slow read-back: one frame per scene,
  // drawn by render() at the end.
  const show = viewer.show;
  viewer.show = () => {};
  let surfaces;
  try {
    surfaces = replay(state, viewer, data);
  } finally {
    viewer.show = show;
  }
  const finish = () => {
    viewer.render();
    keepShaderPrograms(viewer);
    state.frames += 1;
    drawLegend(state, data.legend, data.dark);
    state.snap.style.display = "block";
    state.root.dataset.rendered = String(state.frames);
    state.root.dataset.modelKey = data.model_key;
    state.root.dataset.drawMs = String(Math.round(performance.now() - started));
  };
  if (surfaces.length) Promise.all(surfaces).then(finish, finish);
  else finish();
}

// The scene's calls on the viewer; returns the pending surfaces (3Dmol builds them async).

function replay(state, viewer, data) {
  if (state.background !== data.background) {
    viewer.setBackgroundColor(data.background);
    state.background = data.background;
  }
  const fresh = state.modelKey !== data.model_key;
  const resize = fresh || state.moved;
  state.moved = false;
  viewer.removeAllLabels();
  viewer.removeAllSurfaces();
  if (fresh) {
    viewer.clear();
    viewer.addModel(data.model, data.fmt);
    state.modelKey = data.model_key;
  }
  state.hover = data.hover || {};
  const surfaces = [];
  for (const [method, ...args] of data.ops) {
    const result = viewer[method](...args);
    if (method === "addSurface" && result && typeof result.then === "function") surfaces.push(result);
  }
  if (fresh) {
    viewer.setHoverable(
      {},
      true,
      (atom, v) => {
        if (!atom.label) {
          const text = state.hover[hoverKey(atom)] || `${atom.resn} ${atom.chain}${atom.resi}`;
          atom.label = v.addLabel(text, {
            position: atom, backgroundColor: "black", backgroundOpacity: 0.8, fontColor: "white", fontSize: 13,
          });
        }
      },
      (atom, v) => {
        if (atom.label) {
          v.removeLabel(atom.label);
          delete atom.label;
        }
      },
    );
    viewer.zoomTo(data.zoom);
  }
  if (resize) viewer.resize(); // the element may have been laid out, or moved, since
  return surfaces;
}

export default function (component) {
  const { data, parentElement } = component;
  const id = data.viewer_id || "viewer";
  if (!VIEWERS.has(id)) VIEWERS.set(id, setup(data.height || 480));
  const state = VIEWERS.get(id);
  place(state, parentElement, data.height || 480);
  const generation = ++state.generation;
  const timer = setTimeout(() => {
    if (!window.$3Dmol) {
      showMessage(state, "The 3D viewer is still waiting for 3Dmol.js. The app serves its own copy from "
        + "static/vendor/3Dmol-min.js; if that file is missing, restore it from the repository "
        + "(git checkout static/vendor), or allow access to cdn.jsdelivr.net.");
    }
  }, 6000);
  load3Dmol(data.js_url)
    .then(($3Dmol) => {
      clearTimeout(timer);
      if (generation !== state.generation) return; // a newer scene has arrived meanwhile
      showMessage(state, "");
      draw(state, $3Dmol, data);
    })
    .catch((err) => {
      clearTimeout(timer);
      showMessage(state, "The 3D viewer could not load 3Dmol.js (" + err.message + "). The app serves its own "
        + "copy from static/vendor/3Dmol-min.js; if that file is missing, restore it from the "
        + "repository (git checkout static/vendor), or allow access to cdn.jsdelivr.net.");
    });
}
