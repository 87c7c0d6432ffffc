// Runs the scenarios of scenarios.py inside Pyodide (the npm package pinned in
// package.json), each in a fresh Pyodide, with the checkout's graflow_nb and the
// pure-Python packages named on the command line mounted from this machine's disk
// (pyodide.mountNodeFS): no network is used.
//
//   node run_in_pyodide.mjs CHECKOUT SCENARIO[,SCENARIO...] [PACKAGE_DIR ...]
//
// Prints one JSON object, scenario name -> report (scenarios.py's report()).
import { loadPyodide } from "pyodide";
import { basename, join } from "node:path";

const [checkout, names, ...packages] = process.argv.slice(2);
const reports = {};
for (const name of names.split(",")) {
  const pyodide = await loadPyodide();
  pyodide.FS.mkdirTree("/checkout");
  pyodide.mountNodeFS("/checkout", checkout);
  for (const dir of packages) {
    const target = join("/site-extra", basename(dir));
    pyodide.FS.mkdirTree(target);
    pyodide.mountNodeFS(target, dir);
  }
  pyodide.runPython(`
import sys
sys.path[:0] = ["/checkout", "/checkout/tests/pyodide", "/site-extra"]
sys.dont_write_bytecode = True  # the checkout is mounted: leave no __pycache__ in it
`);
  // runPythonAsync: a scenario may await on Pyodide's event loop (a cell's top-level await).
  reports[name] = JSON.parse(await pyodide.runPythonAsync(`import scenarios\nawait scenarios.report(${JSON.stringify(name)})`));
}
console.log(JSON.stringify(reports));
