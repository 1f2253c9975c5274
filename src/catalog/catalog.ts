/**
 * Cosmos' operations over the repositories and Marathon: search, describe, list-versions, render,
 * install, uninstall, list, service describe/update. Installed packages are Marathon apps with the
 * DCOS_PACKAGE_* labels and nothing else: `list` reads them back from the apps, as Cosmos does,
 * so an app created or removed through /v2 directly is seen the same way.
 *
 * Marathon is reached through `MarathonPort` — in the master, the services framework's own /v2
 * routes with the caller's credentials (cosmos-api.ts), so an install needs the caller's
 * permission on the app as well as on the package API, and is validated as any app is.
 */
import { CosmosError, malformed } from './errors.ts';
import { newest, type PackageDefinition, packageJson, parsePackage } from './package-definition.ts';
import { type JsonObject, LABELS, packageMetadata, renderMarathonApp, resolveOptions } from './render.ts';
import type { Repositories, Repository } from './repositories.ts';

export interface MarathonPort {
  request(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown): Promise<{ status: number; body: unknown }>;
}

type App = { id: string; labels?: Record<string, string> } & Record<string, unknown>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function field(body: unknown, key: string, required: boolean): string | undefined {
  const v = isObject(body) ? body[key] : undefined;
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > 1024) throw malformed(`Invalid request: /${key}`, `/${key}`, required && v === undefined ? 'is required' : 'must be a non-empty string');
  return v;
}

function optionsOf(body: unknown): JsonObject | undefined {
  const v = isObject(body) ? body['options'] : undefined;
  if (v === undefined) return undefined;
  if (!isObject(v)) throw malformed('Invalid request: /options', '/options', 'must be a JSON object');
  return v as JsonObject;
}

const decode = (b64: string | undefined): unknown => {
  if (b64 === undefined) return undefined;
  try {
    return JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
};

export class Catalog {
  constructor(
    readonly repositories: Repositories,
    private readonly marathon: MarathonPort,
  ) {}

  /** The package `name` (at `version`, else the newest) from the first repository that has it. */
  async find(name: string, version?: string): Promise<{ pkg: PackageDefinition; repository: Repository }> {
    let nameSeen = false;
    for (const { repository, packages } of await this.repositories.all()) {
      const same = packages.filter((p) => p.name === name);
      if (same.length === 0) continue;
      nameSeen = true;
      const pkg = version === undefined ? newest(same) : same.find((p) => p.version === version);
      if (pkg) return { pkg, repository };
    }
    if (nameSeen) throw new CosmosError('VersionNotFound', `Version [${version}] of package [${name}] not found`, 400, { packageName: name, packageVersion: version });
    throw new CosmosError('PackageNotFound', `Package [${name}] not found`, 400, { packageName: name });
  }

  async search(body: unknown): Promise<unknown> {
    const query = (field(body, 'query', false) ?? '').toLowerCase();
    // The first repository that has a name wins it, as in Cosmos' resolution order.
    const byName = new Map<string, { repository: number; list: PackageDefinition[] }>();
    (await this.repositories.all()).forEach(({ packages }, repository) => {
      for (const p of packages) {
        const entry = byName.get(p.name) ?? { repository, list: [] };
        if (entry.repository !== repository) continue;
        entry.list.push(p);
        byName.set(p.name, entry);
      }
    });
    const matches = (p: PackageDefinition): boolean => query === '' || p.name.includes(query) || p.description.toLowerCase().includes(query) || p.tags.some((t) => t.toLowerCase().includes(query));
    const packages = [...byName.values()]
      .map(({ list }) => ({ latest: newest(list) as PackageDefinition, list }))
      .filter(({ latest }) => matches(latest))
      .sort((a, b) => Number(b.latest.selected) - Number(a.latest.selected) || a.latest.name.localeCompare(b.latest.name))
      .map(({ latest, list }) => ({
        name: latest.name,
        currentVersion: latest.version,
        versions: Object.fromEntries(list.map((p) => [p.version, String(p.releaseVersion)])),
        description: latest.description,
        framework: latest.framework,
        tags: latest.tags,
        selected: latest.selected,
        ...(isObject(latest.resource?.['images']) ? { images: latest.resource['images'] } : {}),
      }));
    return { packages };
  }

  async describe(body: unknown): Promise<unknown> {
    const { pkg } = await this.find(field(body, 'packageName', true) as string, field(body, 'packageVersion', false));
    return { package: packageJson(pkg) };
  }

  async listVersions(body: unknown): Promise<unknown> {
    const name = field(body, 'packageName', true) as string;
    for (const { packages } of await this.repositories.all()) {
      const same = packages.filter((p) => p.name === name);
      if (same.length > 0) return { results: Object.fromEntries(same.map((p) => [p.version, String(p.releaseVersion)])) };
    }
    throw new CosmosError('PackageNotFound', `Package [${name}] not found`, 400, { packageName: name });
  }

  private async rendered(body: unknown): Promise<{ pkg: PackageDefinition; app: App }> {
    const { pkg, repository } = await this.find(field(body, 'packageName', true) as string, field(body, 'packageVersion', false));
    const appId = field(body, 'appId', false);
    const app = renderMarathonApp({ pkg, sourceUri: repository.uri, options: optionsOf(body), appId });
    if (app === undefined)
      throw new CosmosError('ServiceMarathonTemplateNotFound', `Package: [${pkg.name}] version: [${pkg.version}] does not have a Marathon template defined and can not be rendered`, 400, {
        packageName: pkg.name,
        packageVersion: pkg.version,
      });
    return { pkg, app: app as App };
  }

  async render(body: unknown): Promise<unknown> {
    return { marathonJson: (await this.rendered(body)).app };
  }

  async install(body: unknown): Promise<Record<string, unknown>> {
    const { pkg, app } = await this.rendered(body);
    const answer = await this.marathon.request('POST', '/v2/apps', app);
    if (answer.status === 409) throw new CosmosError('PackageAlreadyInstalled', 'Package is already installed', 409, { packageName: pkg.name, appId: app.id });
    if (answer.status >= 300) throw marathonError(answer, app.id);
    const created = answer.body as { id?: string };
    return {
      packageName: pkg.name,
      packageVersion: pkg.version,
      appId: created.id ?? app.id,
      ...(pkg.postInstallNotes === undefined ? {} : { postInstallNotes: pkg.postInstallNotes }),
    };
  }

  /** Installed packages: the apps with DCOS_PACKAGE_* labels (only those the caller may read). */
  private async installedApps(): Promise<App[]> {
    const answer = await this.marathon.request('GET', '/v2/apps');
    if (answer.status !== 200) throw marathonError(answer, '/');
    return ((answer.body as { apps?: App[] }).apps ?? []).filter((a) => typeof a.labels?.[LABELS.name] === 'string');
  }

  async list(body: unknown): Promise<unknown> {
    const name = field(body, 'packageName', false);
    const appId = field(body, 'appId', false);
    const apps = (await this.installedApps()).filter((a) => (name === undefined || a.labels?.[LABELS.name] === name) && (appId === undefined || a.id === normalizeAppId(appId)));
    return {
      packages: apps.map((a) => {
        const metadata = decode(a.labels?.[LABELS.metadata]);
        const packageDefinition = isObject(metadata) ? metadata : { name: a.labels?.[LABELS.name], version: a.labels?.[LABELS.version] };
        const images = isObject(metadata) ? metadata['images'] : undefined;
        return { appId: a.id, packageInformation: { packageDefinition, ...(images === undefined ? {} : { resourceDefinition: { images } }) } };
      }),
    };
  }

  async uninstall(body: unknown): Promise<unknown> {
    const name = field(body, 'packageName', true) as string;
    const appId = field(body, 'appId', false);
    const all = isObject(body) && body['all'] === true;
    const apps = (await this.installedApps()).filter((a) => a.labels?.[LABELS.name] === name && (appId === undefined || a.id === normalizeAppId(appId)));
    if (apps.length === 0) {
      if (appId !== undefined) throw new CosmosError('UninstallNonExistentAppForPackage', `Package [${name}] with id [${appId}] is not installed`, 400, { packageName: name, appId });
      throw new CosmosError('PackageNotInstalled', `Package [${name}] is not installed`, 400, { packageName: name });
    }
    if (apps.length > 1 && !all)
      throw new CosmosError('MultipleFrameworkIds', `Multiple apps named [${name}] are installed (${apps.map((a) => a.id).join(', ')}): give appId or all`, 400, {
        packageName: name,
        appIds: apps.map((a) => a.id),
      });
    const results = [];
    for (const a of apps) {
      const answer = await this.marathon.request('DELETE', `/v2/apps${a.id}?force=true`);
      if (answer.status >= 300 && answer.status !== 404) throw marathonError(answer, a.id);
      const metadata = decode(a.labels?.[LABELS.metadata]);
      const notes = isObject(metadata) && typeof metadata['postUninstallNotes'] === 'string' ? metadata['postUninstallNotes'] : undefined;
      results.push({ packageName: name, appId: a.id, packageVersion: a.labels?.[LABELS.version], ...(notes === undefined ? {} : { postUninstallNotes: notes }) });
    }
    return { results };
  }

  /** The installed app's package, its options, and what it may move to (Cosmos' /service/describe). */
  async serviceDescribe(body: unknown): Promise<unknown> {
    const { app, definition, userOptions } = await this.installed(field(body, 'appId', true) as string);
    const { pkg } = await this.find(definition.name, definition.version).catch(() => ({ pkg: definition }));
    const versions = (await this.repositories.all()).flatMap(({ packages }) => packages.filter((p) => p.name === pkg.name));
    return {
      package: packageJson(pkg),
      upgradesTo: versions.filter((p) => p.upgradesFrom?.includes(pkg.version) || p.upgradesFrom?.includes('*')).map((p) => p.version),
      downgradesTo: pkg.downgradesTo ?? [],
      resolvedOptions: resolveOptions(pkg, userOptions),
      userProvidedOptions: userOptions,
      appId: app.id,
    };
  }

  /**
   * Re-renders the installed app at `packageVersion` (default: its own) with `options` merged over
   * the ones it was installed with (or replacing them with `replace: true`) and PUTs it: Marathon
   * rolls it out as a normal deployment. A new version must list the old one in `upgradesFrom`.
   */
  async serviceUpdate(body: unknown): Promise<unknown> {
    const appId = field(body, 'appId', true) as string;
    const { app, definition, userOptions } = await this.installed(appId);
    const version = field(body, 'packageVersion', false) ?? definition.version;
    const { pkg, repository } = await this.find(definition.name, version);
    if (pkg.version !== definition.version && !(pkg.upgradesFrom?.includes(definition.version) || pkg.upgradesFrom?.includes('*') || definition.downgradesTo?.includes(pkg.version))) {
      throw new CosmosError('ServiceUpdateVersionNotAllowed', `Package [${pkg.name}] ${pkg.version} cannot be reached from ${definition.version} (upgradesFrom / downgradesTo)`, 400, {
        packageName: pkg.name,
        from: definition.version,
        to: pkg.version,
      });
    }
    const replace = isObject(body) && body['replace'] === true;
    const given = optionsOf(body);
    const options = replace ? (given ?? {}) : { ...userOptions, ...(given ?? {}) };
    const next = renderMarathonApp({ pkg, sourceUri: repository.uri, options, appId: app.id }) as App;
    const answer = await this.marathon.request('PUT', `/v2/apps${app.id}?partialUpdate=false`, next);
    if (answer.status >= 300) throw marathonError(answer, app.id);
    return { package: packageJson(pkg), resolvedOptions: resolveOptions(pkg, options), marathonDeploymentId: (answer.body as { deploymentId?: string }).deploymentId };
  }

  private async installed(appId: string): Promise<{ app: App; definition: PackageDefinition; userOptions: JsonObject; source: string }> {
    const id = normalizeAppId(appId);
    const answer = await this.marathon.request('GET', `/v2/apps${id}`);
    if (answer.status === 404) throw new CosmosError('MarathonAppNotFound', `Unable to locate service with marathon appId: '${id}'`, 404, { appId: id });
    if (answer.status !== 200) throw marathonError(answer, id);
    const app = (answer.body as { app: App }).app;
    const envelope = decode(app.labels?.[LABELS.definition]);
    const data = isObject(envelope) ? envelope['data'] : undefined;
    if (!isObject(data)) throw new CosmosError('ServiceNotPackage', `Service [${id}] was not installed from a package`, 400, { appId: id });
    const definition = parsePackage(data, '/labels/DCOS_PACKAGE_DEFINITION');
    const options = decode(app.labels?.[LABELS.options]);
    return { app, definition, userOptions: isObject(options) ? (options as JsonObject) : {}, source: app.labels?.[LABELS.source] ?? '' };
  }

  /** For the UI and the CLI: the notes and metadata of a package without its template. */
  static summary(pkg: PackageDefinition): JsonObject {
    return packageMetadata(pkg);
  }
}

function normalizeAppId(id: string): string {
  return `/${id.replace(/^\/+|\/+$/g, '')}`;
}

/** A refusal from Marathon, passed on with its status and body (a 422's details name the field). */
function marathonError(answer: { status: number; body: unknown }, appId: string): CosmosError {
  const message = isObject(answer.body) && typeof answer.body['message'] === 'string' ? answer.body['message'] : `HTTP ${answer.status}`;
  const status = answer.status >= 400 && answer.status < 500 ? answer.status : 502;
  // Marathon's details name fields of the app the package rendered (e.g. `/id`, from `appId`).
  const raw = isObject(answer.body) && Array.isArray(answer.body['details']) ? answer.body['details'] : [];
  const details = raw
    .filter((d): d is { path: string; errors: unknown[] } => isObject(d) && typeof d['path'] === 'string' && Array.isArray(d['errors']))
    .map((d) => ({ path: d.path, errors: d.errors.map(String) }));
  return new CosmosError(
    answer.status === 403 ? 'Forbidden' : 'MarathonBadResponse',
    `Marathon refused [${appId}]: ${message}`,
    status,
    { appId, marathon: answer.body as Record<string, unknown> },
    details.length > 0 ? details : undefined,
  );
}
