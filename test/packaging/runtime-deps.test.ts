/**
 * What an installed package can import: only its `dependencies` and Node's built-ins. An
 * installation (npm install -g, npx, pre-commit, the Action) has no devDependencies, so a value
 * import of one from src/ would break there while every test here passes. Type-only imports
 * vanish at compile time and are allowed. The slow packing test (npm-pack.slow.test.ts) proves
 * the scan path end to end; this one covers every command, quickly.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  bin: Record<string, string>;
  files: string[];
  scripts: Record<string, string>;
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.(ts|mjs|js)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : [],
  );
}

/** Module specifiers a file imports at run time (static, re-exports and import()). */
function runtimeImports(file: string): string[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly = clause !== undefined && (clause.isTypeOnly || (clause.name === undefined && clause.namedBindings !== undefined && ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.length > 0 && clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) out.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier) && !node.isTypeOnly) {
      out.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      out.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

const builtins = new Set(builtinModules);

describe('the installed package', () => {
  it('imports at run time only its dependencies and Node built-ins', () => {
    const wrong: string[] = [];
    for (const file of [...sources(join(ROOT, 'src')), ...sources(join(ROOT, 'bin'))]) {
      for (const spec of runtimeImports(file)) {
        if (spec.startsWith('.') || spec.startsWith('node:') || builtins.has(spec)) continue;
        const name = packageOf(spec);
        if (!(name in pkg.dependencies)) {
          wrong.push(`${relative(ROOT, file)} imports ${spec}${name in pkg.devDependencies ? ' (a devDependency)' : ' (not a dependency)'}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('ships its command and what the command reads at run time', () => {
    expect(pkg.bin).toEqual({ modelgate: 'bin/modelgate.js' });
    expect(readFileSync(join(ROOT, 'bin', 'modelgate.js'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
    for (const path of ['bin', 'rules', 'docs']) expect(pkg.files).toContain(path);
    expect(pkg.files.some((f) => f === 'dist' || f.startsWith('dist/'))).toBe(true);
    // built on the publisher's side, and in the clone when installed from git
    expect(pkg.scripts['prepare']).toBe('node tools/prepare.mjs');
  });
});
