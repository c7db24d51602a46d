// Reads the JSON report of `redocly lint --format json` (argument 1),
// lists every problem and exits 1 when there is any error, warning or
// ignored problem: Redocly's own exit status counts errors only. Argument
// 2 is Redocly's standard error, shown when there is no report. Used by
// `make lint-spec`.
const fs = require("fs");
let r;
try {
  r = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
} catch (e) {
  console.error(fs.readFileSync(process.argv[3], "utf8"));
  console.error("lint-spec: no report from redocly: " + e.message);
  process.exit(1);
}
for (const p of r.problems) {
  const l = p.location[0] || {};
  const at = l.start ? l.start.line + ":" + l.start.col : "?";
  console.log("openapi.yaml:" + at + " " + p.severity + " " + p.ruleId + ": " + p.message + " (" + l.pointer + ")");
}
const t = r.totals;
console.log("lint-spec: " + t.errors + " errors, " + t.warnings + " warnings, " + t.ignored + " ignored (redocly " + r.version + ")");
if (t.ignored > 0) {
  console.log("lint-spec: no ignore file: switch a rule off in redocly.yaml, with its reason");
}
process.exit(t.errors + t.warnings + t.ignored > 0 ? 1 : 0);
