/**
 * Which rows of a fixed-row-height list to render: those in the viewport plus `overscan` either
 * side, as the half-open index range [first, last). Pure, so it is tested without a browser.
 */
export function visibleRange(scrollTop: number, viewport: number, rowHeight: number, count: number, overscan: number): { first: number; last: number } {
  if (count <= 0 || rowHeight <= 0) return { first: 0, last: 0 };
  const top = Math.max(0, scrollTop);
  const first = Math.min(count, Math.max(0, Math.floor(top / rowHeight) - overscan));
  const last = Math.min(count, Math.ceil((top + Math.max(0, viewport)) / rowHeight) + overscan);
  return { first, last: Math.max(first, last) };
}
