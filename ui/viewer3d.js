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
//        zoom, background, js_url, height}. After each drawn frame the root element carries
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
  const root = document.createElement("div");
  root.className = "interplm-viewer3d";
  root.style.cssText = `position:relative;width:100%;height:${height}px`;
  const message = document.createElement("p");
  message.className = "interplm-viewer3d-message";
  message.style.cssText = "display:none;font:14px sans-serif;color:#a00;padding:8px;margin:0";
  return { root, message, viewer: null, modelKey: null, background: null, generation: 0, frames: 0, hover: {} };
}

// The viewer's elements into this mount's parent (a no-op when they are already there).
function place(state, parentElement, height) {
  if (state.root.parentElement !== parentElement) {
    parentElement.appendChild(state.message);
    parentElement.appendChild(state.root);
    state.moved = true;
  }
  if (state.root.style.height !== `${height}px`) {
    state.root.style.height = `${height}px`;
    state.moved = true;
  }
}

function showMessage(state, text) {
  state.message.textContent = text;
  state.message.style.display = text ? "block" : "none";
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
