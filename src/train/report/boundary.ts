/**
 * A classifier's decision boundary over a 2-D input, as the R Keras seed draws it (points coloured by
 * class, the boundary as a line) plus each class's region tinted, darker where the model is confident.
 *
 * The caller evaluates the model on a grid (decisionGridPoints gives the coordinates) and passes the
 * probabilities. Regions and the boundary are Vega isocontours of per-class margins, so they are smooth
 * polygons rather than a mosaic of grid cells, and the PNG costs the same at any grid resolution.
 */
import type { Spec } from 'vega';
import { baseSpec, writeVegaPng } from './render.js';

export interface DecisionBoundaryOptions {
  xRange: [number, number];
  yRange: [number, number];
  /** Grid cells per axis; the grid has resolution × resolution cells. */
  resolution: number;
  /**
   * The model's class probabilities at each cell centre (see decisionGridPoints), row-major
   * [resolution (y, from yRange[0] up) × resolution (x) × classes]. A binary model with one sigmoid
   * output may pass resolution² values, read as the probability of classNames[1].
   */
  probabilities: Float32Array;
  classNames: string[];
  /** Labelled points drawn on top, label indexing classNames; large sets are thinned to MAX_PLOTTED_POINTS. */
  points: { x: number; y: number; label: number }[];
  xLabel?: string;
  yLabel?: string;
  title?: string;
}

export const BOUNDARY_WIDTH = 600;
export const BOUNDARY_HEIGHT = 520;
/** Beyond this many points the scatter is a solid blob anyway, and the SVG grows large and slow. */
export const MAX_PLOTTED_POINTS = 5000;
/** Probability from which a region is tinted darker: "the model is sure here". */
export const CONFIDENT_PROBABILITY = 0.9;

/** Tableau 10, the palette matplotlib users know; cycles past ten classes. */
const CLASS_COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/**
 * The input coordinates at which to evaluate the model: cell centres, row-major from (xRange[0],
 * yRange[0]), as [x, y] pairs, in the order plotDecisionBoundary expects the probabilities.
 */
export function decisionGridPoints(xRange: [number, number], yRange: [number, number], resolution: number): Float32Array {
  checkResolution(resolution);
  const grid = new Float32Array(resolution * resolution * 2);
  const dx = (xRange[1] - xRange[0]) / resolution;
  const dy = (yRange[1] - yRange[0]) / resolution;
  for (let row = 0; row < resolution; row++) {
    for (let column = 0; column < resolution; column++) {
      const i = (row * resolution + column) * 2;
      grid[i] = xRange[0] + (column + 0.5) * dx;
      grid[i + 1] = yRange[0] + (row + 0.5) * dy;
    }
  }
  return grid;
}

/** Writes the decision-boundary PNG to `file`. */
export async function plotDecisionBoundary(options: DecisionBoundaryOptions, file: string): Promise<void> {
  await writeVegaPng(decisionBoundarySpec(options), file);
}

/** The Vega spec behind plotDecisionBoundary. */
export function decisionBoundarySpec(options: DecisionBoundaryOptions): Spec {
  const { xRange, yRange, resolution, classNames } = options;
  checkResolution(resolution);
  if (classNames.length < 2) throw new RangeError(`a decision boundary needs at least 2 classes, got ${classNames.length}`);
  if (!(xRange[1] > xRange[0]) || !(yRange[1] > yRange[0])) {
    throw new RangeError(`empty plot range x ${xRange.join('..')}, y ${yRange.join('..')}`);
  }
  const probabilities = classProbabilities(options);
  const paddedSize = resolution + 2;

  return {
    ...baseSpec(BOUNDARY_WIDTH, BOUNDARY_HEIGHT),
    title: { text: options.title ?? 'decision boundary', anchor: 'middle' },
    data: [
      { name: 'grids', values: contourGrids(probabilities, classNames, resolution) },
      {
        name: 'regions',
        source: 'grids',
        transform: [
          {
            type: 'isocontour',
            field: 'grid',
            thresholds: [0],
            // Grid units → pixels. The grid carries one replicated cell on every side (see contourGrids),
            // placed just outside the plot; y is flipped because the grid's first row is the bottom.
            scale: { signal: `[width / ${resolution}, -height / ${resolution}]` },
            translate: { signal: `[-width / ${resolution}, height + height / ${resolution}]` },
          },
        ],
      },
      { name: 'boundaries', source: 'regions', transform: [{ type: 'filter', expr: "datum.kind === 'region'" }] },
      { name: 'points', values: plottedPoints(options) },
    ],
    scales: [
      { name: 'x', type: 'linear', domain: xRange, range: 'width', zero: false, nice: false },
      { name: 'y', type: 'linear', domain: yRange, range: 'height', zero: false, nice: false },
      { name: 'color', type: 'ordinal', domain: classNames, range: classNames.map((_, i) => CLASS_COLORS[i % CLASS_COLORS.length]) },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: options.xLabel ?? 'x', grid: false },
      { orient: 'left', scale: 'y', title: options.yLabel ?? 'y', grid: false },
    ],
    legends: [{ fill: 'color', title: 'class', symbolType: 'circle', orient: 'right', symbolStrokeColor: 'white' }],
    marks: [
      {
        // Clip to the plot: contour edges along the padded border and out-of-range points stay outside.
        type: 'group',
        encode: { enter: { width: { signal: 'width' }, height: { signal: 'height' }, clip: { value: true } } },
        marks: [
          {
            type: 'shape',
            from: { data: 'regions' },
            encode: { enter: { fill: { scale: 'color', field: 'class' }, fillOpacity: { value: 0.2 } } },
            transform: [{ type: 'geoshape', field: 'datum.contour' }],
          },
          {
            type: 'shape',
            from: { data: 'boundaries' },
            encode: { enter: { stroke: { value: '#333333' }, strokeWidth: { value: 2 }, fill: { value: 'transparent' } } },
            transform: [{ type: 'geoshape', field: 'datum.contour' }],
          },
          {
            type: 'symbol',
            from: { data: 'points' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'x' },
                y: { scale: 'y', field: 'y' },
                fill: { scale: 'color', field: 'class' },
                stroke: { value: 'white' },
                strokeWidth: { value: 0.75 },
                size: { value: pointArea(Math.min(options.points.length, MAX_PLOTTED_POINTS)) },
              },
            },
          },
        ],
      },
      {
        // The plot frame, drawn over the tinted regions.
        type: 'rect',
        encode: { enter: { width: { signal: 'width' }, height: { signal: 'height' }, stroke: { value: '#888888' }, fill: { value: 'transparent' } } },
      },
    ],
  };
}

function checkResolution(resolution: number): void {
  if (!Number.isInteger(resolution) || resolution < 2) throw new RangeError(`grid resolution must be an integer ≥ 2, got ${resolution}`);
}

/** Probabilities as [cells × classes], expanding a single sigmoid output to two classes. */
function classProbabilities(options: DecisionBoundaryOptions): Float32Array {
  const cells = options.resolution * options.resolution;
  const classes = options.classNames.length;
  const given = options.probabilities;
  if (given.length === cells * classes) return given;
  if (classes === 2 && given.length === cells) {
    const expanded = new Float32Array(cells * 2);
    for (let i = 0; i < cells; i++) {
      expanded[2 * i] = 1 - given[i];
      expanded[2 * i + 1] = given[i];
    }
    return expanded;
  }
  throw new RangeError(
    `expected ${cells * classes} probabilities (${options.resolution}² cells × ${classes} classes), got ${given.length}`,
  );
}

interface ContourGrid {
  class: string;
  /** 'region': where the class wins (margin ≥ 0); 'confident': where its probability ≥ CONFIDENT_PROBABILITY. */
  kind: 'region' | 'confident';
  grid: { width: number; height: number; values: Float64Array };
}

/**
 * Two grids per class whose 0-isocontours are its region and its confident core. The margin (own
 * probability minus the best other class) is ≥ 0 exactly where the class is the prediction, so region
 * borders are the decision boundary for any number of classes. Each grid is padded by one replicated
 * cell per side: contour polygons then close outside the visible plot, and the boundary line is not
 * doubled along the plot's edges.
 */
function contourGrids(probabilities: Float32Array, classNames: string[], resolution: number): ContourGrid[] {
  const classes = classNames.length;
  const size = resolution + 2;
  const grids: ContourGrid[] = [];
  for (let k = 0; k < classes; k++) {
    const margin = new Float64Array(size * size);
    const confidence = new Float64Array(size * size);
    for (let row = 0; row < size; row++) {
      const sourceRow = Math.min(Math.max(row - 1, 0), resolution - 1);
      for (let column = 0; column < size; column++) {
        const sourceColumn = Math.min(Math.max(column - 1, 0), resolution - 1);
        const base = (sourceRow * resolution + sourceColumn) * classes;
        let bestOther = -Infinity;
        for (let j = 0; j < classes; j++) if (j !== k) bestOther = Math.max(bestOther, probabilities[base + j]);
        margin[row * size + column] = probabilities[base + k] - bestOther;
        confidence[row * size + column] = probabilities[base + k] - CONFIDENT_PROBABILITY;
      }
    }
    const name = classNames[k];
    grids.push({ class: name, kind: 'region', grid: { width: size, height: size, values: margin } });
    grids.push({ class: name, kind: 'confident', grid: { width: size, height: size, values: confidence } });
  }
  return grids;
}

/** The points to draw, thinned evenly (deterministically) past MAX_PLOTTED_POINTS. */
function plottedPoints(options: DecisionBoundaryOptions): { x: number; y: number; class: string }[] {
  const { points, classNames } = options;
  const stride = Math.max(1, points.length / MAX_PLOTTED_POINTS);
  const plotted: { x: number; y: number; class: string }[] = [];
  for (let i = 0; i < points.length && plotted.length < MAX_PLOTTED_POINTS; i = Math.floor(plotted.length * stride)) {
    const { x, y, label } = points[i];
    const name = classNames[label];
    if (name === undefined) throw new RangeError(`point ${i} has label ${label}, but there are ${classNames.length} classes`);
    plotted.push({ x, y, class: name });
  }
  return plotted;
}

/** Symbol area in px²: large dots for a few points, small ones when thousands would overlap. */
function pointArea(count: number): number {
  return Math.min(64, Math.max(9, 12000 / Math.max(count, 1)));
}
