/**
 * The two forms a Universe repository comes in:
 *
 * - an index: one JSON `{"packages": [...]}` (universe's gen_universe.py output), media type
 *   `application/vnd.dcos.universe.repo+json;charset=utf-8;version=v3|v4|v5`; v3 holds packaging
 *   2.0/3.0, v4 adds 4.0, v5 adds 5.0;
 * - a package directory tree as in the universe repo: `[repo/]packages/<L>/<name>/<releaseVersion>/`
 *   with package.json, config.json, resource.json, marathon.json.mustache (command.json).
 *
 * Both become a list of PackageDefinition. Everything is bounded (files, bytes, packages).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CosmosError } from './errors.ts';
import { type PackageDefinition, type PackagingVersion, parsePackage } from './package-definition.ts';

export type IndexVersion = 'v3' | 'v4' | 'v5';
export const INDEX_VERSIONS: Record<IndexVersion, readonly PackagingVersion[]> = {
  v3: ['2.0', '3.0'],
  v4: ['2.0', '3.0', '4.0'],
  v5: ['2.0', '3.0', '4.0', '5.0'],
};
export const MAX_PACKAGES = 20_000;
export const MAX_PACKAGE_FILE_BYTES = 1024 * 1024;
const REPO_MEDIA = /^application\/vnd\.dcos\.universe\.repo\+json\s*(;.*)?$/i;

/** The index version a Content-Type names, if it is Universe's media type. */
export function indexVersionOf(contentType: string | null | undefined): IndexVersion | undefined {
  if (!contentType || !REPO_MEDIA.test(contentType.trim())) return undefined;
  const version = /;\s*version=(v[0-9]+)/i.exec(contentType)?.[1]?.toLowerCase();
  return version === 'v3' || version === 'v4' || version === 'v5' ? version : undefined;
}

/**
 * A repository index. With `version` (from the Content-Type) the packaging versions it allows are
 * enforced; without (a plain JSON file) the widest format, v5, applies.
 */
export function parseRepositoryIndex(raw: unknown, version: IndexVersion = 'v5'): PackageDefinition[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid('/', 'must be an object with "packages"');
  const packages = (raw as { packages?: unknown }).packages;
  if (!Array.isArray(packages)) throw invalid('/packages', 'must be an array');
  if (packages.length > MAX_PACKAGES) throw invalid('/packages', `more than ${MAX_PACKAGES} packages`);
  return packages.map((p, i) => parsePackage(p, `/packages/${i}`, INDEX_VERSIONS[version]));
}

function invalid(path: string, reason: string): CosmosError {
  return new CosmosError('IndexNotFound', `Repository index is not valid: ${path}: ${reason}`, 400, { errors: [{ path, errors: [reason] }] });
}

async function readJson(path: string, where: string): Promise<unknown> {
  const text = await readBounded(path);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new CosmosError('InvalidPackage', `${where}: not JSON: ${(e as Error).message}`, 400, { errors: [{ path: where, errors: ['not JSON'] }] });
  }
}

async function readBounded(path: string): Promise<string> {
  const s = await stat(path);
  if (s.size > MAX_PACKAGE_FILE_BYTES) throw new CosmosError('InvalidPackage', `${path} is larger than ${MAX_PACKAGE_FILE_BYTES} bytes`, 400);
  return readFile(path, 'utf8');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** One package directory (`<name>/<releaseVersion>/`) as the package object an index holds. */
export async function loadPackageDirectory(dir: string, releaseVersion: number, where: string): Promise<PackageDefinition> {
  const pkg = (await readJson(join(dir, 'package.json'), `${where}/package.json`)) as Record<string, unknown>;
  if (typeof pkg !== 'object' || pkg === null || Array.isArray(pkg)) throw new CosmosError('InvalidPackage', `${where}/package.json must be an object`, 400);
  const out: Record<string, unknown> = { ...pkg, releaseVersion };
  if (await exists(join(dir, 'config.json'))) out['config'] = await readJson(join(dir, 'config.json'), `${where}/config.json`);
  if (await exists(join(dir, 'resource.json'))) out['resource'] = await readJson(join(dir, 'resource.json'), `${where}/resource.json`);
  if (await exists(join(dir, 'command.json'))) out['command'] = await readJson(join(dir, 'command.json'), `${where}/command.json`);
  if (await exists(join(dir, 'marathon.json.mustache'))) {
    out['marathon'] = { v2AppMustacheTemplate: Buffer.from(await readBounded(join(dir, 'marathon.json.mustache')), 'utf8').toString('base64') };
  }
  return parsePackage(out, where);
}

/**
 * A universe-style tree: `root/packages/<L>/<name>/<n>/` or `root/repo/packages/...`. Directories
 * that are not a letter, a package name or a number are skipped; a broken package is an error.
 */
export async function loadPackageTree(root: string): Promise<PackageDefinition[]> {
  const base = (await exists(join(root, 'repo', 'packages'))) ? join(root, 'repo', 'packages') : join(root, 'packages');
  if (!(await exists(base))) throw new CosmosError('IndexNotFound', `No packages/ directory under ${root}`, 400);
  const out: PackageDefinition[] = [];
  for (const letter of (await readdir(base, { withFileTypes: true }))
    .filter((d) => d.isDirectory() && /^[A-Z0-9]$/i.test(d.name))
    .map((d) => d.name)
    .sort()) {
    for (const name of (await readdir(join(base, letter), { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort()) {
      for (const release of (await readdir(join(base, letter, name), { withFileTypes: true })).filter((d) => d.isDirectory() && /^[0-9]{1,9}$/.test(d.name)).map((d) => d.name)) {
        if (out.length >= MAX_PACKAGES) throw new CosmosError('IndexNotFound', `More than ${MAX_PACKAGES} packages under ${root}`, 400);
        const p = await loadPackageDirectory(join(base, letter, name, release), Number(release), `packages/${letter}/${name}/${release}`);
        if (p.name !== name) throw new CosmosError('InvalidPackage', `packages/${letter}/${name}/${release}: package.json names "${p.name}"`, 400);
        out.push(p);
      }
    }
  }
  return out;
}
