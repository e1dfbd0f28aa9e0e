#!/usr/bin/env node
// The npm registry this project's machines reach serves only some of the platform-specific optional packages
// (e.g. @msgpackr-extract/*-darwin-arm64, @unrs/resolver-binding-* for other systems). `npm install` then
// writes a lockfile that names them without entries, and `npm ci` refuses it as "not in sync". This drops
// optional dependency names that have no entry in the lockfile, so `npm ci` works; run it after every
// `npm install` that changes package-lock.json: node scripts/prune-lockfile.js
const { readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const file = join(__dirname, '..', 'package-lock.json');
const lock = JSON.parse(readFileSync(file, 'utf8'));
const entries = Object.keys(lock.packages);
const present = (dep) =>
  entries.some((k) => k === `node_modules/${dep}` || k.endsWith(`/node_modules/${dep}`));
let dropped = 0;
for (const entry of Object.values(lock.packages)) {
  for (const dep of Object.keys(entry.optionalDependencies ?? {})) {
    if (!present(dep)) {
      delete entry.optionalDependencies[dep];
      dropped++;
    }
  }
}
writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`package-lock.json: dropped ${dropped} optional dependencies the registry does not serve`);
