/**
 * The registry's metrics in Marathon's `/metrics` JSON (its RAML `NewMetrics`, written by
 * MetricsConversion.scala: `version`, `counters`, `gauges`, `histograms`, `meters`, `timers`),
 * beside the same registry in Prometheus' text at `/metrics/prometheus`, as Marathon serves both.
 *
 * - Names: a metric named `marathon_…` (the services framework's, src/frameworks/services/metrics.ts)
 *   goes under Marathon's dotted name (`marathon.apps.active.gauge`); the others keep their
 *   Prometheus name. A labelled series adds its label values: `drover_master_status_updates_total.TASK_RUNNING`.
 * - Counters `{count}`, gauges `{value}` (NaN as 0, as Marathon does).
 * - Histograms: count and mean are exact (from `_count` and `_sum`); min, max, the percentiles
 *   and stddev are estimated from the buckets (linear within a bucket, as Prometheus'
 *   histogram_quantile; a value past the last bound counts as that bound), since prom-client
 *   keeps buckets, not samples. Durations are in seconds, as Marathon's timers.
 * - Meters and timers: none (prom-client has no moving rates); both keys are present and empty.
 */
import type { Registry } from 'prom-client';

export const MARATHON_METRICS_VERSION = '4.0.0';

interface Series {
  value: number;
  metricName?: string;
  labels: Record<string, string | number>;
}
interface MetricJson {
  name: string;
  type: string;
  values: Series[];
}

export interface HistogramJson {
  count: number;
  min: number;
  mean: number;
  max: number;
  p50: number;
  p75: number;
  p95: number;
  p98: number;
  p99: number;
  p999: number;
  stddev: number;
}

export interface MarathonMetricsJson {
  version: string;
  counters: Record<string, { count: number }>;
  gauges: Record<string, { value: number }>;
  histograms: Record<string, HistogramJson>;
  meters: Record<string, never>;
  timers: Record<string, never>;
}

const jsonName = (name: string): string => (name.startsWith('marathon_') ? name.replace(/_/g, '.') : name);

function seriesName(name: string, labels: Record<string, string | number>, skip?: string): string {
  const values = Object.entries(labels)
    .filter(([k]) => k !== skip)
    .map(([, v]) => String(v));
  return values.length === 0 ? jsonName(name) : `${jsonName(name)}.${values.join('.')}`;
}

const finite = (v: number): number => (Number.isFinite(v) ? v : 0);

/** One histogram series from its cumulative buckets (`le` → count), its sum and count. */
export function histogramFromBuckets(buckets: ReadonlyArray<{ le: number; count: number }>, sum: number, count: number): HistogramJson {
  const finiteBuckets = buckets.filter((b) => Number.isFinite(b.le)).sort((a, b) => a.le - b.le);
  const quantile = (q: number): number => {
    if (count === 0) return 0;
    const rank = q * count;
    let lower = 0;
    let below = 0;
    for (const b of finiteBuckets) {
      if (b.count >= rank && b.count > below) return lower + ((b.le - lower) * (rank - below)) / (b.count - below);
      lower = b.le;
      below = b.count;
    }
    return lower;
  };
  // Variance from bucket midpoints (the part past the last bound at that bound).
  const mean = count === 0 ? 0 : sum / count;
  let variance = 0;
  let lower = 0;
  let below = 0;
  for (const b of finiteBuckets) {
    const n = b.count - below;
    if (n > 0) variance += n * ((lower + b.le) / 2 - mean) ** 2;
    lower = b.le;
    below = b.count;
  }
  if (count > below) variance += (count - below) * (lower - mean) ** 2;
  const firstUsed = finiteBuckets.findIndex((b) => b.count > 0);
  // The lower bound of the first bucket used (past the last bound: that bound).
  const min = count === 0 || firstUsed === 0 ? 0 : firstUsed === -1 ? lower : finiteBuckets[firstUsed - 1]!.le;
  return {
    count,
    min,
    mean: finite(mean),
    max: count === 0 ? 0 : quantile(1),
    p50: quantile(0.5),
    p75: quantile(0.75),
    p95: quantile(0.95),
    p98: quantile(0.98),
    p99: quantile(0.99),
    p999: quantile(0.999),
    stddev: count === 0 ? 0 : finite(Math.sqrt(variance / count)),
  };
}

export function marathonMetricsFrom(metrics: readonly MetricJson[]): MarathonMetricsJson {
  const out: MarathonMetricsJson = { version: MARATHON_METRICS_VERSION, counters: {}, gauges: {}, histograms: {}, meters: {}, timers: {} };
  for (const metric of metrics) {
    if (metric.type === 'counter') {
      for (const s of metric.values) out.counters[seriesName(metric.name, s.labels)] = { count: finite(s.value) };
    } else if (metric.type === 'gauge') {
      for (const s of metric.values) out.gauges[seriesName(metric.name, s.labels)] = { value: finite(s.value) };
    } else if (metric.type === 'histogram') {
      const bySeries = new Map<string, { buckets: Array<{ le: number; count: number }>; sum: number; count: number }>();
      for (const s of metric.values) {
        const key = seriesName(metric.name, s.labels, 'le');
        const entry = bySeries.get(key) ?? { buckets: [], sum: 0, count: 0 };
        bySeries.set(key, entry);
        if (s.metricName?.endsWith('_bucket')) entry.buckets.push({ le: s.labels['le'] === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels['le']), count: s.value });
        else if (s.metricName?.endsWith('_sum')) entry.sum = s.value;
        else if (s.metricName?.endsWith('_count')) entry.count = s.value;
      }
      for (const [key, h] of bySeries) out.histograms[key] = histogramFromBuckets(h.buckets, h.sum, h.count);
    }
  }
  return out;
}

export async function marathonMetricsJson(registry: Registry): Promise<MarathonMetricsJson> {
  return marathonMetricsFrom((await registry.getMetricsAsJSON()) as unknown as MetricJson[]);
}

/**
 * Whether an Accept header asks for Prometheus' text rather than JSON: a Prometheus scraper
 * names `application/openmetrics-text` or `text/plain` and never JSON. Anything else (none,
 * `*\/*`, `application/json`) gets Marathon's JSON. Read only up to 1,024 characters.
 */
export function wantsPrometheusText(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  const head = accept.slice(0, 1024).toLowerCase();
  if (head.includes('application/json')) return false;
  return head.includes('application/openmetrics-text') || head.includes('text/plain');
}
