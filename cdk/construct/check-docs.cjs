#!/usr/bin/env node
/**
 * Refuses an undocumented public API: every type, property, method, enum member and parameter of the package's
 * jsii assembly (`.jsii`) must have a doc summary. jsii itself only warns about some doc problems (and
 * `--fail-on-warnings` makes those errors) but has no rule for a missing doc comment, so this is that rule.
 *
 *   node check-docs.cjs <path to .jsii>
 */
'use strict';
const fs = require('node:fs');

const file = process.argv[2];
if (!file) {
  console.error('usage: check-docs.cjs <path to .jsii>');
  process.exit(2);
}
const assembly = JSON.parse(fs.readFileSync(file, 'utf8'));
const missing = [];
const documented = (docs) => typeof docs?.summary === 'string' && docs.summary.trim() !== '';
const need = (docs, what, where) => {
  if (!documented(docs)) missing.push(`${what}${where ? ` (${where.filename}:${where.line})` : ''}`);
};
const params = (owner, method) => {
  for (const p of method.parameters ?? []) need(p.docs, `${owner} parameter ${p.name}`, method.locationInModule);
};

let checked = 0;
for (const [fqn, type] of Object.entries(assembly.types ?? {})) {
  checked += 1;
  need(type.docs, `${type.kind} ${fqn}`, type.locationInModule);
  if (type.initializer) params(`${fqn} constructor`, type.initializer);
  for (const p of type.properties ?? []) {
    checked += 1;
    need(p.docs, `property ${fqn}.${p.name}`, p.locationInModule);
  }
  for (const m of type.methods ?? []) {
    checked += 1;
    need(m.docs, `method ${fqn}.${m.name}()`, m.locationInModule);
    params(`${fqn}.${m.name}()`, m);
  }
  for (const m of type.members ?? []) {
    checked += 1;
    need(m.docs, `enum member ${fqn}.${m.name}`, type.locationInModule);
  }
}
if (checked === 0) {
  console.error(`${file}: the assembly exports no types; is the entry point (package.json "types") right?`);
  process.exit(1);
}
if (missing.length > 0) {
  console.error(`undocumented public API in ${assembly.name} (add a /** ... */ comment, @param for parameters):\n  - ${missing.join('\n  - ')}`);
  process.exit(1);
}
console.log(`docs: all ${checked} public types and members of ${assembly.name} are documented`);
