import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Type from 'typebox';
import { DroverError } from '../errors/errors.ts';
import { compileValidator, escapePointer } from './validation.ts';

const App = compileValidator(
  Type.Object(
    {
      id: Type.String({ minLength: 1 }),
      cpus: Type.Optional(Type.Number({ minimum: 0.001 })),
      container: Type.Optional(Type.Object({ portMappings: Type.Array(Type.Object({ containerPort: Type.Integer({ minimum: 0 }) })) })),
    },
    { additionalProperties: false },
  ),
);

function validationError(fn: () => unknown): DroverError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DroverError);
    return e;
  }
  assert.fail('expected a validation error');
}

describe('compileValidator', () => {
  test('a valid value passes through unchanged and typed', () => {
    const app = App.validate({ id: '/web', cpus: 0.5 });
    assert.equal(app.id, '/web');
    assert.deepEqual(App.details({ id: '/web' }), []);
  });

  test('every failing path is reported in the Marathon shape', () => {
    const e = validationError(() => App.validate({ cpus: 0, container: { portMappings: [{ containerPort: 80 }, { containerPort: -1 }] }, extra: true }));
    assert.equal(e.code, 'DROVER_ERR_VALIDATION');
    assert.equal(e.status, 422);
    const body = JSON.parse(JSON.stringify(e)) as { message: string; details: Array<{ path: string; errors: string[] }> };
    assert.equal(body.message, 'Object is not valid');
    const byPath = Object.fromEntries(body.details.map((d) => [d.path, d.errors]));
    assert.deepEqual(byPath['/id'], ['is required']);
    assert.deepEqual(byPath['/extra'], ['unknown property']);
    assert.deepEqual(byPath['/cpus'], ['must be >= 0.001']);
    assert.deepEqual(byPath['/container/portMappings/1/containerPort'], ['must be >= 0']);
    assert.equal(byPath['/container/portMappings/0/containerPort'], undefined, 'the valid element is not blamed');
  });

  test('a wrong root type is reported at "/"', () => {
    const e = validationError(() => App.validate('not an object'));
    assert.deepEqual(e.details, [{ path: '/', errors: ['must be object'] }]);
  });

  test('JSON pointer segments are escaped', () => {
    assert.equal(escapePointer('a/b~c'), 'a~1b~0c');
  });
});

test('an enum failure names the allowed values', () => {
  const Kind = compileValidator(Type.Object({ kind: Type.Enum(['SCALAR', 'RANGES', 'SET']) }));
  assert.deepEqual(Kind.details({ kind: 'TEXT' }), [{ path: '/kind', errors: ['must be one of: SCALAR, RANGES, SET'] }]);
});
