#!/usr/bin/env node
/**
 * The build after `tsc` (npm run build, prepare, test and bench run it): compiles rules/*.yaml to
 * dist/rules/<file>.json (src/rules/compile.ts), so a scan loads the catalogues without a YAML
 * parser; a catalogue that fails to parse fails the build here.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileCatalogues } from '../dist/src/rules/compile.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const written = compileCatalogues(root);
process.stdout.write(`build-dist: ${written.length} catalogues compiled to dist/rules\n`);
