/**
 * Usage as pictures: CPU and memory of tasks, apps and nodes, and the cluster's allocation against
 * its capacity, from the master's `GET /master/usage` (src/master/usage-history.ts), drawn with
 * uPlot. uPlot because it is made for exactly this — time series in columnar arrays (what the
 * master serves), drawn on a canvas — is small (~50 KB, no dependencies) and fast with thousands
 * of points, and is well kept (MIT, steady releases since 2019).
 */
import { useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { get } from './api.ts';
import { cpus as fmtCpus, ErrorBox } from './components.tsx';
import { Link } from './router.tsx';
import { useTheme } from './theme.ts';

export interface Series {
  t: number[];
  [column: string]: Array<number | null>;
}

export interface TaskUsage {
  id: string;
  framework_id: string;
  agent_id: string;
  app_id: string;
  live: boolean;
  cpus: number | null;
  mem: number | null;
  series?: Series;
}

export interface UsageAnswer {
  interval_ms: number;
  capacity: number;
  cluster: Series;
  agents: Array<{ id: string; hostname: string | null; series: Series }>;
  apps: Array<{ id: string; series: Series }>;
  tasks: TaskUsage[];
}

/** `/master/usage` with `query` (app=, agent=), again every sampling interval. */
export function useUsage(query: string): { data: UsageAnswer | undefined; error: Error | undefined } {
  const [state, setState] = useState<{ data: UsageAnswer | undefined; error: Error | undefined }>({ data: undefined, error: undefined });
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = (): void => {
      get<UsageAnswer>(`/master/usage${query === '' ? '' : `?${query}`}`)
        .then((data) => {
          if (stopped) return;
          setState({ data, error: undefined });
          timer = setTimeout(load, Math.max(1000, data.interval_ms));
        })
        .catch((error: unknown) => {
          if (stopped) return;
          setState((s) => ({ ...s, error: error instanceof Error ? error : new Error(String(error)) }));
          timer = setTimeout(load, 5000);
        });
    };
    load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [query]);
  return state;
}

export const bytes = (n: number): string => {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(n >= 100 * 1024 ** 2 ? 0 : 1)} MiB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KiB`;
  return `${Math.round(n)} B`;
};
const POWERS_OF_TWO = Array.from({ length: 50 }, (_, i) => 2 ** i);
const cores = (n: number): string => `${fmtCpus(n)} cores`;

/** The palette, read from the theme's CSS variables (a canvas cannot use var()). */
function palette(): { text: string; grid: string; lines: string[] } {
  const css = getComputedStyle(document.documentElement);
  const v = (name: string, fallback: string): string => css.getPropertyValue(name).trim() || fallback;
  return { text: v('--muted', '#6b7385'), grid: v('--line', '#e2e5ea'), lines: [v('--accent', '#2f6fed'), v('--ok', '#1f8a4c'), v('--warn', '#a8660b'), v('--bad', '#c2372f')] };
}

export interface Line {
  label: string;
  values: Array<number | null>;
  /** Drawn dashed (capacity, limits). */
  dashed?: boolean;
}

/** The last non-null value of a column. */
export function latest(values: ReadonlyArray<number | null> | undefined): number | undefined {
  for (let i = (values?.length ?? 0) - 1; i >= 0; i--) {
    const v = values![i];
    if (v !== null && v !== undefined) return v;
  }
  return undefined;
}

/**
 * A time chart of `lines` over `t` (ms). The figure shown in the title is the first line's latest
 * value, so the chart says its number in words too (and a test can read it).
 */
export function UsageChart({ title, t, lines, format, height = 160, testId }: { title: string; t: number[]; lines: Line[]; format: (n: number) => string; height?: number; testId?: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data: uPlot.AlignedData = [t.map((ms) => ms / 1000), ...lines.map((l) => l.values)];
  const shape = lines.map((l) => l.label).join('\u0000');
  // Redrawn in the new palette when the theme changes.
  const theme = useTheme();

  // biome-ignore lint/correctness/useExhaustiveDependencies: rebuilt only when the lines change; new points go through setData below
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const colors = palette();
    const options: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        { stroke: colors.text, grid: { stroke: colors.grid, width: 1 }, ticks: { stroke: colors.grid } },
        {
          stroke: colors.text,
          grid: { stroke: colors.grid, width: 1 },
          ticks: { stroke: colors.grid },
          size: 70,
          values: (_u, ticks) => ticks.map(format),
          // Byte axes step in powers of two (1 GiB, 2 GiB, 4 GiB), not 1.9 GiB.
          ...(format === bytes ? { incrs: POWERS_OF_TWO } : {}),
        },
      ],
      series: [
        {},
        ...lines.map((l, i) => ({
          label: l.label,
          stroke: colors.lines[i % colors.lines.length],
          width: 1.5,
          ...(l.dashed ? { dash: [5, 4] } : { fill: `${colors.lines[i % colors.lines.length]}22` }),
          value: (_u: uPlot, v: number | null) => (v === null ? '—' : format(v)),
        })),
      ],
    };
    plot.current = new uPlot(options, data, el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [shape, height, theme]);

  useEffect(() => {
    plot.current?.setData(data);
  });

  const now = latest(lines[0]?.values);
  return (
    <figure className="chart" data-testid={testId} data-latest={now ?? ''}>
      <figcaption>
        <span>{title}</span>
        <span className="mono strong">{now === undefined ? '—' : format(now)}</span>
      </figcaption>
      <div ref={box} className="chart-canvas" role="img" aria-label={`${title} over time`} />
    </figure>
  );
}

/** A tiny chart for a table cell: one line, no axes. */
export function Sparkline({ values, t, label, format }: { values: Array<number | null>; t: number[]; label: string; format: (n: number) => string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data: uPlot.AlignedData = [t.map((ms) => ms / 1000), values];
  // biome-ignore lint/correctness/useExhaustiveDependencies: made once; new points go through setData below
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const colors = palette();
    plot.current = new uPlot(
      {
        width: 90,
        height: 24,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max : 1] } },
        axes: [{ show: false }, { show: false }],
        series: [{}, { stroke: colors.lines[0], width: 1, fill: `${colors.lines[0]}22` }],
      },
      data,
      el,
    );
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);
  useEffect(() => {
    plot.current?.setData(data);
  });
  const now = latest(values);
  return (
    <span className="spark" title={`${label}: ${now === undefined ? 'no figure yet' : format(now)}`}>
      <span ref={box} />
      <span className="mono small">{now === undefined ? '—' : format(now)}</span>
    </span>
  );
}

/** CPU and memory charts of one app (its tasks summed) and a row per task with sparklines. */
export function AppUsage({ appId }: { appId: string }) {
  const usage = useUsage(`app=${encodeURIComponent(appId)}`);
  const app = usage.data?.apps.find((a) => a.id === appId);
  const tasks = (usage.data?.tasks ?? []).filter((t) => t.app_id === appId);
  return (
    <section className="panel" aria-label="Resource usage">
      <h2>Resource usage</h2>
      <ErrorBox error={usage.error} />
      {app === undefined ? (
        <p className="muted">No usage reported yet: agents measure running tasks every few seconds.</p>
      ) : (
        <div className="charts">
          <UsageChart title="CPU" testId="app-cpu-chart" t={app.series.t} lines={[{ label: 'cores used', values: app.series['cpus'] ?? [] }]} format={fmtCpus} />
          <UsageChart title="Memory" testId="app-mem-chart" t={app.series.t} lines={[{ label: 'memory', values: app.series['mem'] ?? [] }]} format={bytes} />
        </div>
      )}
      <TaskUsageTable tasks={tasks} />
    </section>
  );
}

export function TaskUsageTable({ tasks, showApp = false }: { tasks: TaskUsage[]; showApp?: boolean }) {
  const live = tasks.filter((t) => t.live);
  if (live.length === 0) return null;
  return (
    <table className="usage-table" aria-label="Task usage">
      <thead>
        <tr>
          <th>Task</th>
          {showApp ? <th>App</th> : null}
          <th>CPU</th>
          <th>Memory</th>
        </tr>
      </thead>
      <tbody>
        {live.map((t) => (
          <tr key={t.id} data-testid="task-usage">
            <td className="mono ellipsis" title={t.id}>
              <Link to={`/tasks?task=${encodeURIComponent(t.id)}`}>{t.id}</Link>
            </td>
            {showApp ? (
              <td className="mono">
                <Link to={`/services${t.app_id}`}>{t.app_id}</Link>
              </td>
            ) : null}
            <td>{t.series ? <Sparkline label="CPU" t={t.series.t} values={t.series['cpus'] ?? []} format={cores} /> : fmtCpus(t.cpus ?? 0)}</td>
            <td>{t.series ? <Sparkline label="Memory" t={t.series.t} values={t.series['mem'] ?? []} format={bytes} /> : bytes(t.mem ?? 0)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The cluster: CPU and memory in use and allocated against capacity, over time. */
export function ClusterUsage() {
  const usage = useUsage('');
  const c = usage.data?.cluster;
  return (
    <section className="panel" aria-label="Cluster usage">
      <h2>Allocation and usage over time</h2>
      <ErrorBox error={usage.error} />
      {c === undefined || c.t.length === 0 ? (
        <p className="muted">No usage reported yet: agents report every few seconds.</p>
      ) : (
        <div className="charts">
          <UsageChart
            title="CPU allocated"
            testId="cluster-cpu-chart"
            t={c.t}
            format={fmtCpus}
            lines={[
              { label: 'allocated', values: c['cpus_allocated'] ?? [] },
              { label: 'used', values: c['cpus_used'] ?? [] },
              { label: 'capacity', values: c['cpus_total'] ?? [], dashed: true },
            ]}
          />
          <UsageChart
            title="Memory allocated"
            testId="cluster-mem-chart"
            t={c.t}
            format={bytes}
            lines={[
              { label: 'allocated', values: c['mem_allocated'] ?? [] },
              { label: 'used', values: c['mem_used'] ?? [] },
              { label: 'capacity', values: c['mem_total'] ?? [], dashed: true },
            ]}
          />
        </div>
      )}
    </section>
  );
}
