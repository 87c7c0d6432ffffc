// The in-browser half of graflow_nb's GraphView (see graflow_nb/notebook/graph_view.py).
//
// This module is the big bundle: Graphviz compiled to WebAssembly plus the view code.
// The widget's own _esm is a small loader that asks the kernel for this file once per
// page and keeps the module on globalThis, so twenty graphs load it once.
//
// What the kernel syncs (traitlets):
//   dot       the DOT source to lay out; a new value means a new layout
//   nodes     {node name: {fill, lines, tip, kind}}: applied in place over the
//             last layout (colours and label lines), no re-layout
//   clusters  {cluster name: {label, pen}}: the same, for session clusters
//   progress  one line of text over the picture
//   panel     HTML of the inspector (built and escaped by the kernel)
//   want_svg  the kernel has no `dot`: send the laid-out SVG back to it
// What it sends: {type: "click", node, shift, alt} and {type: "svg", svg, dot}.
import { Graphviz } from "@hpcc-js/wasm-graphviz";

let graphviz = null;
function engine() {
  if (graphviz === null) {
    graphviz = Graphviz.load();
  }
  return graphviz;
}

const STYLE = `
.graflow-gv { font-family: var(--jp-ui-font-family, sans-serif); color: var(--jp-ui-font-color1, #222); position: relative; }
.graflow-gv-progress { font-size: 12px; margin: 2px 0 4px 0; min-height: 1em; }
.graflow-gv-viewport { overflow: hidden; border: 1px solid var(--jp-border-color2, #ddd); border-radius: 4px;
  background: #ffffff; cursor: grab; position: relative; max-height: 640px; }
.graflow-gv-viewport.graflow-gv-dragging { cursor: grabbing; }
.graflow-gv-stage { transform-origin: 0 0; display: inline-block; }
.graflow-gv-stage svg { display: block; max-width: none; }
.graflow-gv-stage g.node, .graflow-gv-stage g.cluster { cursor: pointer; }
.graflow-gv-stage g.node:hover polygon, .graflow-gv-stage g.node:hover path, .graflow-gv-stage g.node:hover ellipse { stroke-width: 2.5; }
.graflow-gv-tip { position: absolute; z-index: 10; pointer-events: none; white-space: pre; font-size: 12px;
  background: var(--jp-layout-color1, #fff); color: var(--jp-ui-font-color1, #222);
  border: 1px solid var(--jp-border-color1, #999); border-radius: 3px; padding: 4px 6px; box-shadow: 0 1px 4px rgba(0,0,0,.3); }
.graflow-gv-panel { margin-top: 6px; padding: 6px; border: 1px solid var(--jp-border-color2, #ddd); border-radius: 4px;
  background: var(--jp-layout-color1, #fff); color: var(--jp-content-font-color1, #222); overflow: auto; max-height: 480px; }
.graflow-gv-panel:empty { display: none; }
.graflow-gv-panel pre { white-space: pre-wrap; }
.graflow-gv-panel table { border-collapse: collapse; }
.graflow-gv-panel td, .graflow-gv-panel th { border: 1px solid var(--jp-border-color2, #ddd); padding: 1px 4px; }
.graflow-gv-error { color: #b00; white-space: pre-wrap; }
/* The static picture output right above a shown GraphView (GraphView.show) */
.jp-OutputArea-child:has(+ .jp-OutputArea-child .graflow-gv-has-static) { display: none; }
`;

function ensureStyle() {
  if (document.getElementById("graflow-gv-style") === null) {
    const style = document.createElement("style");
    style.id = "graflow-gv-style";
    style.textContent = STYLE;
    document.head.appendChild(style);
  }
}

// The name a <g> stands for: Graphviz writes the node's (or cluster's) DOT name as its <title>.
function titleOf(g) {
  const title = g.querySelector(":scope > title");
  return title === null ? null : title.textContent;
}

function shapeOf(g) {
  for (const el of g.querySelectorAll(":scope > polygon, :scope > path, :scope > ellipse")) {
    const fill = el.getAttribute("fill");
    if (fill !== null && fill !== "none") {
      return el;
    }
  }
  return null;
}

export function render({ model, el }) {
  ensureStyle();
  const root = document.createElement("div");
  root.className = "graflow-gv";
  const progress = document.createElement("div");
  progress.className = "graflow-gv-progress";
  const viewport = document.createElement("div");
  viewport.className = "graflow-gv-viewport";
  const stage = document.createElement("div");
  stage.className = "graflow-gv-stage";
  const tip = document.createElement("div");
  tip.className = "graflow-gv-tip";
  tip.style.display = "none";
  const panel = document.createElement("div");
  panel.className = "graflow-gv-panel";
  viewport.appendChild(stage);
  root.append(progress, viewport, tip, panel);
  el.appendChild(root);

  let laidOut = "";
  let view = { scale: 1, x: 0, y: 0 };
  const place = () => {
    stage.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
  };
  // A picture wider than the output is scaled down to its width (as the static pictures
  // are); zoom (ctrl/alt + wheel) and drag from there; a double click comes back here.
  const fit = () => {
    const svg = stage.querySelector("svg");
    if (svg === null) return;
    const width = svg.width.baseVal.value || svg.getBoundingClientRect().width;
    const height = svg.height.baseVal.value || svg.getBoundingClientRect().height;
    const room = viewport.clientWidth || width;
    const scale = width > room ? room / width : 1;
    view = { scale, x: 0, y: 0 };
    viewport.style.height = `${Math.ceil(Math.min(height * scale, 640)) + 2}px`;
    place();
  };

  const apply = () => {
    const nodes = model.get("nodes") || {};
    const clusters = model.get("clusters") || {};
    for (const g of stage.querySelectorAll("g.node")) {
      const info = nodes[titleOf(g)];
      if (info === undefined) continue;
      g.dataset.state = info.state || "";
      const shape = shapeOf(g);
      if (shape !== null && info.fill) shape.setAttribute("fill", info.fill);
      if (shape !== null) {
        // A breakpoint: a thick red outline (the layout's own pen comes back without one).
        // The state's outline (dashed while queued, bold while running or held).
        if (shape.dataset.pen === undefined) shape.dataset.pen = shape.getAttribute("stroke") || "";
        shape.setAttribute("stroke", info.mark ? "#c0392b" : shape.dataset.pen);
        if (info.mark) shape.setAttribute("stroke-width", "3");
        else if (info.bold) shape.setAttribute("stroke-width", "2");
        else if (info.bold === false) shape.removeAttribute("stroke-width");
        if (info.dash) shape.setAttribute("stroke-dasharray", info.dash);
        else if (info.dash === "") shape.removeAttribute("stroke-dasharray");
        g.classList.toggle("graflow-gv-breakpoint", Boolean(info.mark));
      }
      const texts = g.querySelectorAll(":scope > text");
      if (info.lines && texts.length === info.lines.length) {
        info.lines.forEach((line, i) => {
          if (texts[i].textContent !== line) texts[i].textContent = line;
        });
      }
    }
    for (const g of stage.querySelectorAll("g.cluster")) {
      const info = clusters[titleOf(g)];
      if (info === undefined) continue;
      const text = g.querySelector(":scope > text");
      if (text !== null && info.label) text.textContent = info.label;
      const shape = g.querySelector(":scope > path, :scope > polygon");
      if (shape !== null && info.pen) shape.setAttribute("stroke", info.pen);
    }
  };

  const layout = async () => {
    const dot = model.get("dot");
    if (!dot || dot === laidOut) return;
    laidOut = dot;
    let svg;
    try {
      svg = (await engine()).layout(dot, "svg", "dot");
    } catch (error) {
      stage.innerHTML = "";
      const pre = document.createElement("pre");
      pre.className = "graflow-gv-error";
      pre.textContent = `could not lay out the graph: ${error}`;
      stage.appendChild(pre);
      return;
    }
    if (model.get("dot") !== dot) return; // a newer layout is on its way
    stage.innerHTML = svg.replace(/^[\s\S]*?(<svg)/, "$1");
    root.dataset.layouts = String(Number(root.dataset.layouts || 0) + 1);
    apply();
    fit();
    if (model.get("want_svg")) {
      model.send({ type: "svg", svg, dot });
    }
  };

  const showProgress = () => {
    progress.textContent = model.get("progress") || "";
  };
  const showStatic = () => root.classList.toggle("graflow-gv-has-static", Boolean(model.get("static_above")));
  const showPanel = () => {
    panel.innerHTML = model.get("panel") || "";
  };

  const onMove = (event) => {
    const g = event.target.closest && event.target.closest("g.node, g.cluster");
    const nodes = model.get("nodes") || {};
    const clusters = model.get("clusters") || {};
    const name = g ? titleOf(g) : null;
    const info = name === null ? undefined : (nodes[name] || clusters[name]);
    if (!info || !info.tip || !info.tip.length) {
      tip.style.display = "none";
      return;
    }
    tip.textContent = info.tip.join("\n");
    const box = root.getBoundingClientRect();
    tip.style.left = `${event.clientX - box.left + 14}px`;
    tip.style.top = `${event.clientY - box.top + 14}px`;
    tip.style.display = "block";
  };

  let drag = null;
  let moved = false;
  viewport.addEventListener("mousemove", (event) => {
    if (drag !== null) {
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) moved = true;
      view.x = drag.vx + dx;
      view.y = drag.vy + dy;
      touched = true;
      place();
      return;
    }
    onMove(event);
  });
  viewport.addEventListener("mouseleave", () => {
    tip.style.display = "none";
    drag = null;
    viewport.classList.remove("graflow-gv-dragging");
  });
  viewport.addEventListener("mousedown", (event) => {
    drag = { x: event.clientX, y: event.clientY, vx: view.x, vy: view.y };
    moved = false;
    viewport.classList.add("graflow-gv-dragging");
  });
  window.addEventListener("mouseup", () => {
    drag = null;
    viewport.classList.remove("graflow-gv-dragging");
  });
  viewport.addEventListener("click", (event) => {
    if (moved) return;
    const g = event.target.closest && event.target.closest("g.node, g.cluster");
    if (!g) return;
    const name = titleOf(g);
    if (name !== null) model.send({ type: "click", node: name, shift: event.shiftKey, alt: event.altKey });
  });
  viewport.addEventListener("dblclick", () => {
    touched = false;
    fit();
  });
  // The output's width is known only once the view is on the page (and changes with
  // the window): fit again then, unless the person has zoomed or panned.
  let touched = false;
  const resized = new ResizeObserver(() => {
    if (!touched) fit();
  });
  resized.observe(viewport);
  viewport.addEventListener(
    "wheel",
    (event) => {
      if (!event.ctrlKey && !event.metaKey && !event.altKey) return; // plain wheel scrolls the notebook
      event.preventDefault();
      const box = viewport.getBoundingClientRect();
      const px = event.clientX - box.left;
      const py = event.clientY - box.top;
      const factor = event.deltaY < 0 ? 1.15 : 1 / 1.15;
      const scale = Math.min(8, Math.max(0.1, view.scale * factor));
      view.x = px - ((px - view.x) * scale) / view.scale;
      view.y = py - ((py - view.y) * scale) / view.scale;
      view.scale = scale;
      touched = true;
      place();
    },
    { passive: false },
  );

  model.on("change:dot", layout);
  model.on("change:nodes", apply);
  model.on("change:clusters", apply);
  model.on("change:progress", showProgress);
  model.on("change:panel", showPanel);
  model.on("change:static_above", showStatic);
  showStatic();
  showProgress();
  showPanel();
  layout();
  return () => {
    resized.disconnect();
    model.off("change:dot", layout);
    model.off("change:nodes", apply);
    model.off("change:clusters", apply);
    model.off("change:progress", showProgress);
    model.off("change:panel", showPanel);
    model.off("change:static_above", showStatic);
  };
}
