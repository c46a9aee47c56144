import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface PackageJson {
  name?: string;
  version?: string;
}

function findRoot(): { root: string; pkg: PackageJson } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as PackageJson;
      if (pkg.name === 'gemma') return { root: dir, pkg };
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('gemma package.json not found above the installed code');
    dir = parent;
  }
}

const found = findRoot();

/** The installed package's root folder (holding package.json, assets/ and dist/). */
export const PACKAGE_ROOT = found.root;
export const VERSION = found.pkg.version ?? '0.0.0';
