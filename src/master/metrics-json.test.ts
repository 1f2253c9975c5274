import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { histogramFromBuckets, marathonMetricsJson, wantsPrometheusText } from './metrics-json.ts';

test('a registry in Marathon’s /metrics JSON: counters, gauges, histograms, dotted marathon names', async () => {
  const registry = new Registry();
  new Counter({ name: 'drover_x_total', help: 'x', labelNames: ['state'], registers: [registry] }).inc({ state: 'TASK_RUNNING' }, 3);
  new Gauge({ name: 'marathon_apps_active_gauge', help: 'apps', registers: [registry] }).set(7);
  new Gauge({ name: 'drover_nan', help: 'nan', registers: [registry] }).set(Number.NaN);
  const h = new Histogram({ name: 'drover_cycle_seconds', help: 'h', buckets: [0.1, 1, 10], registers: [registry] });
  for (const v of [0.05, 0.05, 0.5, 5]) h.observe(v);
  const json = await marathonMetricsJson(registry);
  assert.equal(json.version, '4.0.0');
  assert.deepEqual(json.counters, { 'drover_x_total.TASK_RUNNING': { count: 3 } });
  assert.deepEqual(json.gauges, { 'marathon.apps.active.gauge': { value: 7 }, drover_nan: { value: 0 } });
  assert.deepEqual(json.meters, {});
  assert.deepEqual(json.timers, {});
  const cycle = json.histograms['drover_cycle_seconds']!;
  assert.equal(cycle.count, 4);
  assert.equal(cycle.mean, 5.6 / 4);
  assert.equal(cycle.min, 0);
  assert.equal(cycle.p50, 0.1, 'half the samples are in the first bucket');
  assert.ok(cycle.p75 > 0.1 && cycle.p75 <= 1);
  assert.ok(cycle.p99 > 1 && cycle.p99 <= 10);
  assert.equal(cycle.max, 10);
});

test('histogram estimates: empty, and values past the last bound', () => {
  assert.deepEqual(histogramFromBuckets([{ le: 1, count: 0 }], 0, 0), { count: 0, min: 0, mean: 0, max: 0, p50: 0, p75: 0, p95: 0, p98: 0, p99: 0, p999: 0, stddev: 0 });
  const over = histogramFromBuckets(
    [
      { le: 1, count: 0 },
      { le: 2, count: 0 },
      { le: Number.POSITIVE_INFINITY, count: 2 },
    ],
    10,
    2,
  );
  assert.equal(over.max, 2);
  assert.equal(over.min, 2);
  assert.equal(over.mean, 5);
});

test('Prometheus scrapers get text, everything else JSON', () => {
  assert.equal(wantsPrometheusText('application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'), true);
  assert.equal(wantsPrometheusText('text/plain'), true);
  assert.equal(wantsPrometheusText(undefined), false);
  assert.equal(wantsPrometheusText('*/*'), false);
  assert.equal(wantsPrometheusText('application/json, text/plain, */*'), false);
  assert.equal(wantsPrometheusText(`${'x'.repeat(2000)}text/plain`), false, 'only the first 1,024 characters are read');
});
