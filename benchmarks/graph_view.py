"""What the in-browser graph (GraphView) costs, beside today's SVG redraw.

    .venv/bin/python benchmarks/graph_view.py [--out build/graph_view_bench.json]

Prints one JSON object.  Kernel side (this process): per frame of a live run, the
GraphView's work (build the frame's scene: DOT text, node states and tips; no `dot`)
against the picture live view's redraw (the same DOT laid out by the `dot` program
into SVG), on the diamond and on fanout-1000 (folded, as the live view draws it).
Browser side (Debian's Chromium driven by Playwright, the bundle loaded into a blank
page with a stand-in for the widget model, so no JupyterLab is timed): time to the
first drawn frame (WebAssembly start plus layout) and to a later layout; state updates
per second repainted in place against replacing the whole SVG (today's frames); the
bundle's size; the JS heap after drawing 20 graphs, and the kernel's memory for 20
GraphViews.  Nothing leaves the machine: the page is ``about:blank``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from graflow_nb import task, workflow
from graflow_nb.notebook.graph_view import GraphView, bundle_bytes
from graflow_nb.observe.panel import run_dot
from graflow_nb.observe.render import Render
from graflow_nb.observe.scene import build_scene


def diamond():
    with workflow("diamond") as wf:
        fetch = task("fetch")(lambda: {"rows": 3})
        a = task("transform_a")(lambda: 1)
        b = task("transform_b")(lambda: 2)
        store = task("store")(lambda: 3)
        _ = fetch >> (a | b) >> store
    return wf


def fanout(width: int):
    with workflow(f"fanout-{width}") as wf:
        source = task("source")(lambda: None)
        sink = task("sink")(lambda: None)
        group = task("m0")(lambda: 0)
        for i in range(1, width):
            group = group | task(f"m{i}")(lambda i=i: i)
        _ = source >> group >> sink
    return wf


def timed(fn, repeats: int) -> float:
    """Median seconds of ``fn()``."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def kernel_side(wf: Any, repeats: int) -> dict[str, Any]:
    wf.execute(session_id="B")
    run = wf.last_run
    scene = timed(lambda: build_scene(wf.graph, run, sessions=True, reserve=True), repeats)
    svg = timed(lambda: Render(run_dot(wf.graph, run, reserve=True)).svg, max(3, repeats // 4))
    return {
        "scene_ms": round(scene * 1000, 2),
        "svg_redraw_ms": round(svg * 1000, 2),
        "kernel_frames_per_s_widget": round(1 / scene, 1),
        "kernel_frames_per_s_svg": round(1 / svg, 1),
    }


PAGE = """
async (bundle) => {
  const url = URL.createObjectURL(new Blob([bundle], { type: "text/javascript" }));
  window.gv = await import(url);
  window.models = [];
  window.fake = (state) => {
    const handlers = {};
    const model = {
      get: (k) => state[k],
      set: (k, v) => { state[k] = v; (handlers["change:" + k] || []).forEach((f) => f()); },
      on: (e, f) => { (handlers[e] ||= []).push(f); },
      off: () => {}, send: () => {},
    };
    window.models.push(model);
    return model;
  };
  window.drawn = (el) => new Promise((resolve) => {
    const check = () => el.querySelector("svg") ? resolve() : requestAnimationFrame(check);
    check();
  });
}
"""

FIRST = """
async ([dot, nodes]) => {
  const el = document.createElement("div"); el.style.width = "1200px"; document.body.appendChild(el);
  const started = performance.now();
  window.gv.render({ model: window.fake({ dot, nodes, clusters: {}, progress: "", panel: "" }), el });
  await window.drawn(el);
  return performance.now() - started;
}
"""

REPAINT = """
async ([dot, a, b, n]) => {
  const el = document.createElement("div"); el.style.width = "1200px"; document.body.appendChild(el);
  const model = window.fake({ dot, nodes: a, clusters: {}, progress: "", panel: "" });
  window.gv.render({ model, el });
  await window.drawn(el);
  const started = performance.now();
  for (let i = 0; i < n; i++) { model.set("nodes", i % 2 ? a : b); el.getBoundingClientRect(); el.querySelector("svg").getBBox(); }
  const repaint = (performance.now() - started) / n;
  const svg = el.querySelector(".graflow-gv-stage").innerHTML;
  const other = svg.replaceAll("#c6efce", "#ffeb9c");
  const stage = el.querySelector(".graflow-gv-stage");
  const started2 = performance.now();
  for (let i = 0; i < n; i++) { stage.innerHTML = i % 2 ? svg : other; stage.querySelector("svg").getBBox(); }
  const replace = (performance.now() - started2) / n;
  return [repaint, replace];
}
"""


def browser_side(scenes: dict[str, tuple[str, dict, dict]]) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
    if chromium is None:
        return {"skipped": "no chromium"}
    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--enable-precise-memory-info"])
        page = browser.new_page()
        page.goto("about:blank")
        page.evaluate(PAGE, bundle_bytes().decode("utf-8"))
        dot, a, _b = scenes["diamond"]
        out["first_frame_ms_cold"] = round(page.evaluate(FIRST, [dot, a]), 1)  # WebAssembly starts here
        out["first_frame_ms_warm"] = round(page.evaluate(FIRST, [dot, a]), 1)
        for name, (dot, a, b) in scenes.items():
            layout = statistics.median(page.evaluate(FIRST, [dot, a]) for _ in range(5))
            repaint, replace = page.evaluate(REPAINT, [dot, a, b, 200])
            out[name] = {
                "layout_ms": round(layout, 2),
                "repaint_ms": round(repaint, 3),
                "updates_per_s_in_place": round(1000 / repaint),
                "updates_per_s_svg_replace": round(1000 / replace),
            }
        page.close()
        page = browser.new_page()
        page.goto("about:blank")
        page.evaluate(PAGE, bundle_bytes().decode("utf-8"))
        client = page.context.new_cdp_session(page)
        client.send("HeapProfiler.collectGarbage")
        before = client.send("Runtime.getHeapUsage")["usedSize"]
        dot, a, _b = scenes["diamond"]
        for _ in range(20):
            page.evaluate(FIRST, [dot, a])
        client.send("HeapProfiler.collectGarbage")
        after = client.send("Runtime.getHeapUsage")["usedSize"]
        out["js_heap_20_graphs_mb"] = round(after / 2**20, 2)
        out["js_heap_per_graph_kb"] = round((after - before) / 20 / 1024, 1)
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    report: dict[str, Any] = {"bundle_bytes": len(bundle_bytes())}
    scenes = {}
    for name, wf in (("diamond", diamond()), ("fanout-1000", fanout(1000))):
        report[name] = kernel_side(wf, args.repeats)
        run = wf.last_run
        done = build_scene(wf.graph, run, sessions=True, reserve=True)
        pending = build_scene(wf.graph, None, reserve=True)
        flipped = {k: {**v, "fill": "#ffeb9c"} for k, v in done.nodes.items()}
        scenes[name] = (done.dot, done.nodes, flipped)
        del pending
    tracemalloc.start()
    wf = diamond()
    wf.execute(session_id="M")
    start = tracemalloc.get_traced_memory()[0]
    views = [GraphView(wf, wf.last_run, sessions=True) for _ in range(20)]
    report["kernel_memory_20_graph_views_kb"] = round((tracemalloc.get_traced_memory()[0] - start) / 1024, 1)
    tracemalloc.stop()
    del views
    report["browser"] = browser_side(scenes)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text, file=sys.stdout)


if __name__ == "__main__":
    main()
