/**
 * Chainer's PlotReport for graft: `main/<key>` and `validation/main/<key>` against the epoch, one line
 * per series with a dot per epoch (so a one-epoch run still shows something), axis titles and a legend
 * named by the log keys, as Chainer's PlotReport names them.
 */
import type { Spec } from 'vega';
import { baseSpec, writeVegaPng } from './render.js';
import { trainKey, validationKey, type CurveKey, type EpochRecord } from './types.js';

export interface CurvesOptions {
  /** The plot title; default "loss" / "accuracy" (Chainer's PlotReport leaves it out; it helps in a folder of PNGs). */
  title?: string;
}

export const CURVES_WIDTH = 640;
export const CURVES_HEIGHT = 420;

interface Point {
  epoch: number;
  series: string;
  value: number;
}

/** Writes DIR/loss.png or DIR/accuracy.png style curves for `key` to `file`. */
export async function plotCurves(records: readonly EpochRecord[], key: CurveKey, file: string): Promise<void> {
  await writeVegaPng(curvesSpec(records, key), file);
}

/** The Vega spec behind plotCurves. */
export function curvesSpec(records: readonly EpochRecord[], key: CurveKey, options: CurvesOptions = {}): Spec {
  const seriesKeys = [trainKey(key), validationKey(key)];
  const points: Point[] = [];
  for (const record of records) {
    for (const series of seriesKeys) {
      const value = record[series];
      // A diverged (NaN) value or a skipped validation leaves a gap rather than breaking the scale.
      if (typeof value === 'number' && Number.isFinite(value) && Number.isFinite(record.epoch)) {
        points.push({ epoch: record.epoch, series, value });
      }
    }
  }
  const present = seriesKeys.filter((series) => points.some((p) => p.series === series));

  return {
    ...baseSpec(CURVES_WIDTH, CURVES_HEIGHT),
    title: { text: options.title ?? key, anchor: 'middle' },
    data: [{ name: 'points', values: points }],
    scales: [
      { name: 'x', type: 'linear', domain: epochDomain(points), range: 'width', zero: false, nice: false },
      { name: 'y', type: 'linear', domain: valueDomain(points, key), range: 'height', zero: false, nice: true },
      // Both series keep their colours whether or not validation ran, so plots of different runs compare.
      { name: 'color', type: 'ordinal', domain: seriesKeys, range: ['#1f77b4', '#ff7f0e'] },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: 'epoch', grid: true, tickMinStep: 1, format: 'd' },
      { orient: 'left', scale: 'y', title: key, grid: true },
    ],
    legends:
      present.length > 0
        ? [
            {
              stroke: 'color',
              values: present,
              symbolType: 'stroke',
              symbolStrokeWidth: 2.5,
              orient: 'bottom',
              direction: 'horizontal',
              columnPadding: 24,
            },
          ]
        : [],
    marks: [
      {
        type: 'group',
        from: { facet: { name: 'series_points', data: 'points', groupby: 'series' } },
        marks: [
          {
            type: 'line',
            from: { data: 'series_points' },
            sort: { field: 'datum.epoch' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'epoch' },
                y: { scale: 'y', field: 'value' },
                stroke: { scale: 'color', field: 'series' },
                strokeWidth: { value: 2 },
              },
            },
          },
          {
            type: 'symbol',
            from: { data: 'series_points' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'epoch' },
                y: { scale: 'y', field: 'value' },
                fill: { scale: 'color', field: 'series' },
                size: { value: 28 },
              },
            },
          },
        ],
      },
    ],
  };
}

/** Epochs shown: all of them, and at least one epoch wide (a lone epoch would give an empty domain). */
function epochDomain(points: readonly Point[]): [number, number] {
  if (points.length === 0) return [0, 1];
  const epochs = points.map((p) => p.epoch);
  const lo = Math.min(...epochs);
  const hi = Math.max(...epochs);
  return hi - lo >= 1 ? [lo, hi] : [lo - 0.5, lo + 0.5];
}

/** Values shown: their range, widened when flat so the line sits mid-plot; accuracy stays within [0, 1]. */
function valueDomain(points: readonly Point[], key: CurveKey): [number, number] {
  if (points.length === 0) return [0, 1];
  const values = points.map((p) => p.value);
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi - lo < 1e-9) {
    const spread = Math.max(Math.abs(lo) * 0.1, 0.05);
    lo -= spread;
    hi += spread;
  }
  if (key === 'accuracy') {
    lo = Math.max(lo, 0);
    hi = Math.min(hi, 1);
  }
  return [lo, hi];
}
