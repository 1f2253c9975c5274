/**
 * Agent attributes, Mesos' `--attributes` syntax: `rack:r1;zone:a;level:2;ids:[1-4];tags:{a,b}`.
 * Each value becomes Mesos attribute JSON: a number is SCALAR, `[a-b,…]` RANGES, `{x,y}` SET,
 * anything else TEXT. Constraints (`hostname`, `rack`…) match on these.
 */
import { DroverError } from '../errors/errors.ts';
import type { AttributeJson } from '../protocol/mesos/agent-link.ts';
import { rangesFromText } from '../resources/range-set.ts';

const SCALAR = /^-?\d+(\.\d+)?$/;
const NAME = /^[A-Za-z0-9_.\-/]+$/;

export function parseAttributes(text: string): AttributeJson[] {
  const attributes: AttributeJson[] = [];
  const seen = new Set<string>();
  let offset = 0;
  for (const segment of text.split(';')) {
    const position = offset;
    offset += segment.length + 1;
    const item = segment.trim();
    if (item === '') continue;
    const fail = (reason: string): never => {
      throw new DroverError('CONFIG', `invalid attribute '${item}' at position ${position}: ${reason}`);
    };
    const colon = item.indexOf(':');
    if (colon < 0) fail(`expected 'name:value'`);
    const name = item.slice(0, colon).trim();
    const value = item.slice(colon + 1).trim();
    if (name === '') fail('empty name');
    if (!NAME.test(name)) fail(`name '${name}' may only contain letters, digits and _ . - /`);
    if (value === '') fail(`missing value for '${name}'`);
    // Constraints look attributes up by name; two values under one name would be ambiguous.
    if (seen.has(name)) fail(`'${name}' is given more than once`);
    seen.add(name);
    attributes.push(attributeFromText(name, value, fail));
  }
  return attributes;
}

function attributeFromText(name: string, value: string, fail: (reason: string) => never): AttributeJson {
  if (SCALAR.test(value)) return { name, type: 'SCALAR', scalar: { value: Number(value) } };
  if (value.startsWith('[')) {
    const ranges = rangesFromText(value);
    if (typeof ranges === 'string') fail(ranges);
    else return { name, type: 'RANGES', ranges: { range: ranges.toArray().map(([begin, end]) => ({ begin, end })) } };
  }
  if (value.startsWith('{')) {
    if (!value.endsWith('}')) fail(`unterminated '{' in '${value}'`);
    const items = value
      .slice(1, -1)
      .split(',')
      .map((s) => s.trim());
    if (items.some((s) => s === '')) fail(`empty item in '${value}'`);
    return { name, type: 'SET', set: { item: [...new Set(items)] } };
  }
  return { name, type: 'TEXT', text: { value } };
}
