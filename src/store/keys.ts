/**
 * Key order and prefix bounds, shared by every backend so that all of them sort exactly as etcd
 * does: by the UTF-8 bytes of the key (which is Unicode code point order).
 */

/**
 * Compares two strings in UTF-8 byte order. JavaScript's `<` compares UTF-16 code units, which
 * disagrees with byte order for astral characters (surrogates, 0xD800–0xDFFF) versus
 * 0xE000–0xFFFF; only that case needs fixing up, so ASCII keys take the fast path.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let ca = a.charCodeAt(i);
    let cb = b.charCodeAt(i);
    if (ca === cb) continue;
    if (ca >= 0xd800 && cb >= 0xd800) {
      // Move surrogates above 0xE000–0xFFFF, as their code points (≥ 0x10000) are.
      ca = ca >= 0xe000 ? ca - 0x800 : ca + 0x2000;
      cb = cb >= 0xe000 ? cb - 0x800 : cb + 0x2000;
    }
    return ca - cb;
  }
  return a.length - b.length;
}

/**
 * The smallest string greater than every string starting with `prefix` (exclusive upper bound of
 * a prefix range), or undefined when there is none (empty prefix, or only U+10FFFF characters).
 */
export function prefixEnd(prefix: string): string | undefined {
  const points = Array.from(prefix);
  while (points.length > 0) {
    const last = points.pop() as string;
    let code = (last.codePointAt(0) as number) + 1;
    if (code === 0xd800) code = 0xe000; // lone surrogates are not valid key characters
    if (code <= 0x10ffff) return points.join('') + String.fromCodePoint(code);
  }
  return undefined;
}

/** Byte-level prefix end for etcd's range_end: all-0xff (or empty) prefixes mean "to the end". */
export function prefixEndBytes(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
