/**
 * The catalog's pure parts against real Universe packages (test/fixtures/universe/repo, copied from
 * the universe repository): repository indexes v3/v4/v5 as gen_universe.py builds them, checked
 * with Universe's own repo schemas; rendering checked against golden Marathon JSON written by hand
 * from Cosmos' rules (test/fixtures/universe/golden); invalid options; the built-in repository.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import AjvDraft04 from 'ajv-draft-04';
import { CosmosError } from '../src/catalog/errors.ts';
import { type PackageDefinition, templateOf } from '../src/catalog/package-definition.ts';
import { deepMerge, defaultsOf, renderMarathonApp, renderTemplate, resolveOptions } from '../src/catalog/render.ts';
import { BUILTIN_DIR } from '../src/catalog/repositories.ts';
import { loadPackageTree, parseRepositoryIndex } from '../src/catalog/repository-index.ts';
import { parseApp } from '../src/frameworks/services/app.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'universe');
const PACKAGES = join(FIXTURES, 'repo', 'packages');

/** Universe's gen_universe.py, as a test would write it: package.json + releaseVersion + config + resource + base64 template. */
function indexOf(dirs: string[]): { packages: Array<Record<string, unknown>> } {
  const read = (dir: string, file: string): unknown => {
    try {
      return JSON.parse(readFileSync(join(PACKAGES, dir, file), 'utf8'));
    } catch {
      return undefined;
    }
  };
  return {
    packages: dirs.map((dir) => {
      const out: Record<string, unknown> = { ...(read(dir, 'package.json') as object), releaseVersion: Number(dir.split('/')[2]) };
      const config = read(dir, 'config.json');
      const resource = read(dir, 'resource.json');
      if (config !== undefined) out['config'] = config;
      if (resource !== undefined) out['resource'] = resource;
      out['marathon'] = { v2AppMustacheTemplate: readFileSync(join(PACKAGES, dir, 'marathon.json.mustache')).toString('base64') };
      return out;
    }),
  };
}

const ALL = ['C/chronos/7', 'M/marathon-lb/45', 'N/nginx/6', 'R/redis/2', 'T/time-server/0'];
const schemaValidator = (version: string) => {
  const ajv = new AjvDraft04.default({ allErrors: true, strict: false, validateFormats: false });
  ajv.addSchema(JSON.parse(readFileSync(join(FIXTURES, 'schema', 'vX-repo-definitions.json'), 'utf8')), 'vX-repo-definitions.json');
  return ajv.compile(JSON.parse(readFileSync(join(FIXTURES, 'schema', `${version}-repo-schema.json`), 'utf8')));
};

function cosmosError(f: () => unknown): CosmosError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof CosmosError, `expected a CosmosError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

describe('repository indexes (v3, v4, v5) and package trees', () => {
  test("an index of every fixture package is valid v4 and v5 by Universe's schemas, and parses to the same packages as the tree", async () => {
    const index = indexOf(ALL);
    for (const version of ['v4', 'v5'] as const) {
      const validate = schemaValidator(version);
      assert.equal(validate(index), true, JSON.stringify(validate.errors?.slice(0, 3)));
      const parsed = parseRepositoryIndex(index, version);
      assert.deepEqual(
        parsed.map((p) => [p.name, p.version, p.releaseVersion, p.packagingVersion]),
        [
          ['chronos', '2.5.1', 7, '4.0'],
          ['marathon-lb', '1.15.0', 45, '4.0'],
          ['nginx', '1.10.3', 6, '2.0'],
          ['redis', '4.0-0.0.1', 2, '3.0'],
          ['time-server', '1.0.0', 0, '4.0'],
        ],
      );
    }
    const tree = await loadPackageTree(FIXTURES);
    const fromIndex = parseRepositoryIndex(index, 'v5');
    assert.deepEqual(tree, fromIndex);
  });

  test("v3 holds packaging 2.0 and 3.0 only: Universe's schema and the parser both refuse chronos (4.0), naming the field", () => {
    const ok = indexOf(['N/nginx/6', 'R/redis/2']);
    assert.equal(schemaValidator('v3')(ok), true);
    assert.equal(parseRepositoryIndex(ok, 'v3').length, 2);
    const withChronos = indexOf(['N/nginx/6', 'C/chronos/7']);
    assert.equal(schemaValidator('v3')(withChronos), false);
    const e = cosmosError(() => parseRepositoryIndex(withChronos, 'v3'));
    assert.equal(e.status, 400);
    assert.deepEqual(((e.data?.['errors'] ?? []) as Array<{ path: string }>)[0]?.path, '/packages/1/packagingVersion');
  });

  test('bad packages are refused with the path of the field', () => {
    const index = indexOf(['N/nginx/6']);
    const cases: Array<[string, (p: Record<string, unknown>) => void, string]> = [
      ['no name', (p) => delete p['name'], '/packages/0/name'],
      ['a name with a slash', (p) => (p['name'] = '../etc'), '/packages/0/name'],
      ['tags not strings', (p) => (p['tags'] = [1]), '/packages/0/tags'],
      ['2.0 without a template', (p) => delete p['marathon'], '/packages/0/marathon'],
      ['a template that is not base64', (p) => (p['marathon'] = { v2AppMustacheTemplate: '{{x}}' }), '/packages/0/marathon/v2AppMustacheTemplate'],
      ['upgradesFrom in 2.0', (p) => (p['upgradesFrom'] = ['1']), '/packages/0/upgradesFrom'],
    ];
    for (const [what, change, path] of cases) {
      const copy = structuredClone(index);
      change(copy.packages[0] as Record<string, unknown>);
      const e = cosmosError(() => parseRepositoryIndex(copy));
      assert.equal(((e.data?.['errors'] ?? []) as Array<{ path: string }>)[0]?.path, path, what);
    }
    assert.equal(cosmosError(() => parseRepositoryIndex({ packages: 'x' })).status, 400);
    assert.equal(cosmosError(() => parseRepositoryIndex([])).status, 400);
  });
});

describe("rendering by Cosmos' rules: golden Marathon JSON written by hand", async () => {
  const packages = new Map((await loadPackageTree(FIXTURES)).map((p) => [`${p.name}`, p]));
  const goldens = readdirSync(join(FIXTURES, 'golden')).filter((f) => f.endsWith('.json'));
  test('there is a golden file for every fixture package', () => {
    const covered = new Set(goldens.map((g) => (JSON.parse(readFileSync(join(FIXTURES, 'golden', g), 'utf8')) as { package: string }).package));
    assert.deepEqual([...covered].sort(), ALL);
  });
  for (const file of goldens) {
    test(file, () => {
      const golden = JSON.parse(readFileSync(join(FIXTURES, 'golden', file), 'utf8')) as {
        package: string;
        options: Record<string, never> | null;
        app: Record<string, unknown> & { labels: Record<string, unknown> };
      };
      const pkg = packages.get(golden.package.split('/')[1] as string) as PackageDefinition;
      const appId = file.includes('app-id') ? (golden.app['id'] as string) : undefined;
      const app = renderMarathonApp({ pkg, sourceUri: 'test:fixtures', options: golden.options ?? undefined, appId }) as Record<string, unknown> & { labels: Record<string, string> };
      // The base64 JSON labels are compared decoded (their bytes are a printer's choice); the stored
      // package is checked for its envelope and identity.
      const decode = (v: string | undefined) => JSON.parse(Buffer.from(v ?? '', 'base64').toString('utf8'));
      const definition = decode(app.labels['DCOS_PACKAGE_DEFINITION']);
      assert.equal(definition.metadata['Content-Type'], 'application/vnd.dcos.universe.package+json;charset=utf-8;version=v4');
      assert.equal(definition.data.name, pkg.name);
      assert.equal(definition.data.version, pkg.version);
      assert.equal(definition.data.marathon.v2AppMustacheTemplate, pkg.marathon?.v2AppMustacheTemplate);
      const { DCOS_PACKAGE_DEFINITION: _d, ...labels } = app.labels;
      const actual = { ...app, labels: { ...labels, DCOS_PACKAGE_METADATA: decode(labels['DCOS_PACKAGE_METADATA']), DCOS_PACKAGE_OPTIONS: decode(labels['DCOS_PACKAGE_OPTIONS']) } };
      assert.deepEqual(actual, golden.app);
    });
  }
});

describe('options', async () => {
  const packages = new Map((await loadPackageTree(FIXTURES)).map((p) => [p.name, p]));
  const nginx = packages.get('nginx') as PackageDefinition;

  test('defaults come from the schema, nested; user options deep-merge over them; arrays are replaced', () => {
    assert.deepEqual(defaultsOf(packages.get('redis')?.config), { service: { name: 'redis' }, redis: { cpus: 1, mem: 1024 } });
    assert.deepEqual(deepMerge({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, e: 2 }), { a: { b: 1, c: [3] }, d: 1, e: 2 });
    assert.equal(resolveOptions(nginx, { nginx: { cpus: 4 } })['nginx']?.['cpus' as never], 4);
  });

  const invalid: Array<[string, Record<string, unknown>, string, string, string]> = [
    ['below minimum', { nginx: { cpus: 0 } }, '/properties/nginx/properties/cpus', '/nginx/cpus', 'minimum'],
    ['wrong type', { nginx: { instances: 'two' } }, '/properties/nginx/properties/instances', '/nginx/instances', 'type'],
    ['not an integer', { nginx: { instances: 1.5 } }, '/properties/nginx/properties/instances', '/nginx/instances', 'type'],
  ];
  for (const [what, options, schemaPointer, instancePointer, keyword] of invalid) {
    test(`invalid options (${what}) → JsonSchemaMismatch 400 with the schema path`, () => {
      const e = cosmosError(() => renderMarathonApp({ pkg: nginx, sourceUri: 'x', options: options as never }));
      assert.equal(e.type, 'JsonSchemaMismatch');
      assert.equal(e.status, 400);
      const errors = e.data?.['errors'] as Array<{ schema: { pointer: string }; instance: { pointer: string }; keyword: string }>;
      assert.ok(
        errors.some((x) => x.schema.pointer === schemaPointer && x.instance.pointer === instancePointer && x.keyword === keyword),
        JSON.stringify(errors),
      );
    });
  }

  test('a required option removed by an explicit null, and additionalProperties (chronos) are refused', () => {
    const chronos = packages.get('chronos') as PackageDefinition;
    const e = cosmosError(() => resolveOptions(chronos, { chronos: { 'no-such-flag': 1 } }));
    assert.ok(((e.data?.['errors'] ?? []) as Array<{ keyword: string; schema: { pointer: string } }>).some((x) => x.keyword === 'additionalProperties' && x.schema.pointer === '/properties/chronos'));
    const f = cosmosError(() => resolveOptions(chronos, { chronos: { id: null } }));
    assert.ok(((f.data?.['errors'] ?? []) as Array<{ instance: { pointer: string } }>).some((x) => x.instance.pointer === '/chronos/id'));
  });

  test('a package without config.json takes no options (OptionsNotAllowed)', () => {
    const { config: _c, ...bare } = nginx;
    assert.equal(cosmosError(() => resolveOptions(bare, { x: 1 })).type, 'OptionsNotAllowed');
    assert.deepEqual(resolveOptions(bare, undefined), {});
  });

  test('a schema pattern is matched in linear time: a catastrophic pattern does not hang, and patterns still work', () => {
    const pkg: PackageDefinition = { ...nginx, config: { type: 'object', properties: { a: { type: 'string', pattern: '^(a+)+$' }, b: { type: 'string', pattern: '[0-9]' } } } };
    assert.deepEqual(resolveOptions(pkg, { a: `${'a'.repeat(5000)}` }), { a: 'a'.repeat(5000) });
    assert.equal(cosmosError(() => resolveOptions(pkg, { a: `${'a'.repeat(5000)}!` })).type, 'JsonSchemaMismatch');
    assert.equal(cosmosError(() => resolveOptions(pkg, { b: 'none' })).type, 'JsonSchemaMismatch');
    assert.deepEqual(resolveOptions(pkg, { b: 'x1y' }), { b: 'x1y' });
  });
});

describe('mustache as Cosmos runs it', () => {
  test('no HTML escaping; strings JSON-escaped; array elements keep their quotes; 0 is truthy, "" and false and [] are not', () => {
    const t = '{"a":"{{s}}","b":"{{{s}}}","c":[{{#list}}{{.}},{{/list}}"end"],"z":"{{#zero}}zero{{/zero}}{{#empty}}E{{/empty}}{{#no}}N{{/no}}{{#none}}L{{/none}}","n":{{n}},"d":{{d}}}';
    const out = renderTemplate(t, { s: 'a "quoted" <b>&amp;</b>\n', list: ['x"y', 'z'], zero: 0, empty: '', no: false, none: [], n: 1.0, d: 0.25 });
    assert.deepEqual(out, { a: 'a "quoted" <b>&amp;</b>\n', b: 'a "quoted" <b>&amp;</b>\n', c: ['x"y', 'z', 'end'], z: 'zero', n: 1, d: 0.25 });
  });

  test('a template that does not render to a JSON object is refused', () => {
    assert.equal(cosmosError(() => renderTemplate('[1]', {})).type, 'MarathonTemplateMustBeJsonObject');
    assert.equal(cosmosError(() => renderTemplate('{"a": {{x}}', {})).type, 'JsonParsingError');
  });
});

describe('the built-in repository', async () => {
  const builtin = await loadPackageTree(BUILTIN_DIR);
  test('holds nginx, redis, marathon-lb and a framework package', () => {
    assert.deepEqual(builtin.map((p) => p.name).sort(), ['hello-framework', 'marathon-lb', 'nginx', 'redis']);
    assert.equal(builtin.find((p) => p.name === 'hello-framework')?.framework, true);
  });
  for (const p of builtin) {
    test(`${p.name}: renders with its defaults into an app Drover's /v2 validation accepts`, () => {
      const app = renderMarathonApp({ pkg: p, sourceUri: 'builtin:universe' });
      assert.doesNotThrow(() => parseApp(app, new Date()));
    });
  }
  test('marathon-lb with every section on is still a valid app (drover lb on 80/443, a token from a secret)', () => {
    const p = builtin.find((x) => x.name === 'marathon-lb') as PackageDefinition;
    const app = renderMarathonApp({ pkg: p, sourceUri: 'builtin:universe', options: { 'marathon-lb': { 'bind-http-https': true, 'token-secret': 'lb/token', user: 'root' } } });
    const parsed = parseApp(app, new Date());
    assert.deepEqual(
      parsed.portDefinitions?.map((d) => d.port),
      [9090, 9091, 80, 443],
    );
    assert.match(parsed.cmd ?? '', /^exec drover lb .*--http-port 80 --https-port 443/);
  });
  test("hello-framework's template carries scheduler.js verbatim (the readable source beside it)", () => {
    const p = builtin.find((x) => x.name === 'hello-framework') as PackageDefinition;
    const app = renderMarathonApp({ pkg: p, sourceUri: 'builtin:universe' }) as { env: Record<string, string> };
    assert.equal(app.env['HELLO_SCHEDULER_JS'], readFileSync(join(BUILTIN_DIR, 'packages', 'H', 'hello-framework', '0', 'scheduler.js'), 'utf8'));
    assert.ok(templateOf(p)?.includes('"HELLO_SCHEDULER_JS": "'));
  });
});

describe('the fixture packages on Drover', async () => {
  const packages = await loadPackageTree(FIXTURES);
  // What Drover's /v2 validation refuses in each real package's app (with its default options):
  // the list the issue's closing note names. A path leaving this list means Drover gained it.
  const refused: Record<string, string[]> = {
    chronos: [],
    'time-server': [],
    // `maintainer` is not an app field: ignored, as Marathon ignores unknown fields. `docker run`
    // parameters are refused (no Docker daemon).
    'marathon-lb': ['/container/docker/parameters'],
    // BRIDGE networking with port mappings runs (CNI; test/image-bridge.test.ts).
    nginx: [],
    redis: [],
  };
  for (const p of packages) {
    test(`${p.name}: ${refused[p.name]?.length ? `refused at ${refused[p.name]?.join(', ')}` : 'a valid Drover app'}`, () => {
      const app = renderMarathonApp({ pkg: p, sourceUri: 'test:fixtures' });
      let paths: string[] = [];
      try {
        parseApp(app, new Date());
      } catch (e) {
        paths = ((e as { details?: Array<{ path: string }> }).details ?? []).map((d) => d.path);
        assert.ok(paths.length > 0, String(e));
      }
      assert.deepEqual(paths, refused[p.name]);
    });
  }
});
