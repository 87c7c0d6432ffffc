// Builds the GraphView bundle: `node build.mjs [OUTFILE]` (default: the copy the
// package ships, ../graflow_nb/static/graph_view.js). The same pinned esbuild and
// sources always give the same bytes; tests/notebook/test_graph_bundle.py checks that
// the shipped copy is what these sources build.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const outfile = process.argv[2] ?? path.join(here, "..", "graflow_nb", "static", "graph_view.js");

await build({
  entryPoints: [path.join(here, "src", "graph_view.js")],
  bundle: true,
  format: "esm",
  minify: true,
  legalComments: "none",
  target: "es2020",
  outfile,
  logLevel: "warning",
});
