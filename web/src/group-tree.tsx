/**
 * Marathon's groups as a tree: `/team/a/web` sits in `/team` and `/team/a`. Groups are the app
 * ids' folders (Drover keeps no separate group objects in the UI's view); each node counts the
 * services below it, and picking one narrows the list to it.
 */
import { useMemo } from 'react';

export interface GroupNode {
  path: string;
  name: string;
  count: number;
  children: GroupNode[];
}

/** Pure: the tree of the folders of `ids` (services directly under `/` count at the root only). */
export function groupTree(ids: readonly string[]): GroupNode {
  const root: GroupNode = { path: '/', name: 'All services', count: 0, children: [] };
  for (const id of ids) {
    root.count++;
    const parts = id.split('/').filter(Boolean).slice(0, -1);
    let node = root;
    for (const part of parts) {
      const path = `${node.path === '/' ? '' : node.path}/${part}`;
      let child = node.children.find((c) => c.path === path);
      if (child === undefined) {
        child = { path, name: part, count: 0, children: [] };
        node.children.push(child);
      }
      child.count++;
      node = child;
    }
  }
  const sort = (n: GroupNode): void => {
    n.children.sort((a, b) => a.name.localeCompare(b.name));
    n.children.forEach(sort);
  };
  sort(root);
  return root;
}

export function GroupTree({ ids, selected, onSelect }: { ids: readonly string[]; selected: string; onSelect: (path: string) => void }) {
  const tree = useMemo(() => groupTree(ids), [ids]);
  const render = (node: GroupNode, depth: number) => (
    <li key={node.path}>
      <button
        type="button"
        className={`tree-item${node.path === selected ? ' active' : ''}`}
        style={{ paddingLeft: 8 + depth * 14 }}
        aria-current={node.path === selected ? 'true' : undefined}
        onClick={() => onSelect(node.path)}
      >
        <span className={depth === 0 ? undefined : 'mono'}>{depth === 0 ? node.name : `${node.name}/`}</span>
        <span className="muted small">{node.count}</span>
      </button>
      {node.children.length > 0 ? <ul>{node.children.map((c) => render(c, depth + 1))}</ul> : null}
    </li>
  );
  return (
    <nav className="group-tree panel" aria-label="Groups">
      <ul>{render(tree, 0)}</ul>
    </nav>
  );
}
