import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import type { Spec } from 'vega';
import { curvesSpec, plotCurves } from '../../../src/train/report/curves.js';
import { decisionBoundarySpec, decisionGridPoints, plotDecisionBoundary, type DecisionBoundaryOptions } from '../../../src/train/report/boundary.js';
import { svgToPng, vegaToSvg } from '../../../src/train/report/render.js';
import { textWidthEm } from '../../../src/train/report/text-metrics.js';
import type { EpochRecord } from '../../../src/train/report/types.js';

interface Pixels {
  width: number;
  height: number;
  /** RGB, row-major. */
  data: Buffer;
}

async function decode(png: Buffer | string): Promise<Pixels> {
  const { data, info } = await sharp(png).flatten({ background: '#ffffff' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  return { width: info.width, height: info.height, data };
}

function distinctColours({ data }: Pixels): number {
  const colours = new Set<number>();
  for (let i = 0; i < data.length; i += 3) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  return colours.size;
}

function pixel({ width, data }: Pixels, x: number, y: number): [number, number, number] {
  const i = (Math.round(y) * width + Math.round(x)) * 3;
  return [data[i], data[i + 1], data[i + 2]];
}

/** Coordinates of the pixels that differ between two renders of one size. */
function differingPixels(a: Pixels, b: Pixels): { x: number; y: number }[] {
  assert.deepEqual([a.width, a.height], [b.width, b.height]);
  const found: { x: number; y: number }[] = [];
  for (let i = 0; i < a.data.length; i += 3) {
    if (a.data[i] !== b.data[i] || a.data[i + 1] !== b.data[i + 1] || a.data[i + 2] !== b.data[i + 2]) {
      const p = i / 3;
      found.push({ x: p % a.width, y: Math.floor(p / a.width) });
    }
  }
  return found;
}

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'graft-plot-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const records: EpochRecord[] = Array.from({ length: 8 }, (_, i) => {
  const epoch = i + 1;
  const record: EpochRecord = {
    epoch,
    iteration: epoch * 50,
    'main/loss': 0.7 * Math.exp(-epoch / 3),
    'main/accuracy': 1 - 0.5 * Math.exp(-epoch / 3),
    elapsed_time: epoch * 2,
  };
  // Validation every other epoch, to show gaps are handled.
  if (epoch % 2 === 1) {
    record['validation/main/loss'] = 0.75 * Math.exp(-epoch / 4) + 0.05;
    record['validation/main/accuracy'] = 0.95 - 0.45 * Math.exp(-epoch / 3);
  }
  return record;
});

test('loss.png and accuracy.png: fixed size, real colour content, curves and legend named by the log keys', async () => {
  await withTempDir(async (dir) => {
    await plotCurves(records, 'loss', path.join(dir, 'loss.png'));
    await plotCurves(records, 'accuracy', path.join(dir, 'accuracy.png'));
    assert.deepEqual((await readdir(dir)).sort(), ['accuracy.png', 'loss.png']);
    for (const name of ['loss.png', 'accuracy.png']) {
      const image = await decode(path.join(dir, name));
      assert.deepEqual([image.width, image.height], [1280, 840], name);
      // Two coloured series, grid lines and anti-aliased text give hundreds of colours; a blank or
      // failed render has a handful.
      assert.ok(distinctColours(image) > 100, `${name}: ${distinctColours(image)} colours`);
    }
  });
  const svg = await vegaToSvg(curvesSpec(records, 'accuracy'));
  for (const text of ['>accuracy<', '>epoch<', '>main/accuracy<', '>validation/main/accuracy<']) assert.ok(svg.includes(text), text);
  // Measured with the real font, long legend labels are not cut short with an ellipsis.
  assert.ok(!svg.includes('…'));
});

test('axis titles really render, from the shipped font alone (system fonts are never loaded)', async () => {
  const spec = curvesSpec(records, 'loss');
  // Same layout, titles invisible: only the title pixels may change.
  const hiddenTitles = { ...spec, axes: spec.axes!.map((axis) => ({ ...axis, titleOpacity: 0 })) } as Spec;
  const svg = await vegaToSvg(spec);
  const withTitles = await decode(await svgToPng(svg));
  const withoutTitles = await decode(await svgToPng(await vegaToSvg(hiddenTitles)));
  const { width, height } = withTitles;

  const changed = differingPixels(withTitles, withoutTitles);
  const yTitle = changed.filter((p) => p.x < width * 0.06);
  const xTitle = changed.filter((p) => p.y > height * 0.82 && p.y < height * 0.92);
  assert.ok(yTitle.length > 100, `y-axis title drew ${yTitle.length} pixels`);
  assert.ok(xTitle.length > 100, `x-axis title drew ${xTitle.length} pixels`);
  assert.equal(yTitle.length + xTitle.length, changed.length, 'pixels changed outside the axis-title areas');
  // The titles sit where titles belong: centred along their axes.
  const middle = (values: number[]) => (Math.min(...values) + Math.max(...values)) / 2;
  assert.ok(Math.abs(middle(xTitle.map((p) => p.x)) / width - 0.55) < 0.1);
  assert.ok(Math.abs(middle(yTitle.map((p) => p.y)) / height - 0.45) < 0.1);

  // With no font files at all, resvg draws no text: the x-axis title's box stays blank, so what the
  // titles drew above came from DejaVu Sans, not from fonts this machine happens to have.
  const noFonts = await decode(await svgToPng(svg, { fontFiles: [] }));
  const box = {
    left: Math.min(...xTitle.map((p) => p.x)),
    right: Math.max(...xTitle.map((p) => p.x)),
    top: Math.min(...xTitle.map((p) => p.y)),
    bottom: Math.max(...xTitle.map((p) => p.y)),
  };
  for (let y = box.top; y <= box.bottom; y++) {
    for (let x = box.left; x <= box.right; x++) assert.deepEqual(pixel(noFonts, x, y), [255, 255, 255], `ink at ${x},${y} without fonts`);
  }
  assert.ok(differingPixels(withTitles, noFonts).length > changed.length, 'tick labels and legend need the font too');
});

test('curves cope with one epoch, no validation at all, NaN losses and no records', async () => {
  const one: EpochRecord = { epoch: 1, iteration: 10, 'main/loss': Number.NaN, 'main/accuracy': 0.5, elapsed_time: 1 };
  for (const input of [[one], [], [one, { ...one, epoch: 2, 'main/loss': 0.3 }]]) {
    const image = await decode(await svgToPng(await vegaToSvg(curvesSpec(input, 'loss'))));
    assert.deepEqual([image.width, image.height], [1280, 840]);
  }
  const svg = await vegaToSvg(curvesSpec([one], 'accuracy'));
  assert.ok(svg.includes('>main/accuracy<'));
  assert.ok(!svg.includes('>validation/main/accuracy<'), 'no legend entry for a series that never ran');
});

/** Class 0 ("top-right") in the quadrant x > 0, y > 0, class 1 elsewhere, on a 40×40 grid over [-2, 2]². */
function quadrantOptions(): DecisionBoundaryOptions {
  const resolution = 40;
  const grid = decisionGridPoints([-2, 2], [-2, 2], resolution);
  const probabilities = new Float32Array(resolution * resolution * 2);
  for (let i = 0; i < resolution * resolution; i++) {
    const inside = grid[2 * i] > 0 && grid[2 * i + 1] > 0;
    probabilities[2 * i] = inside ? 0.97 : 0.03;
    probabilities[2 * i + 1] = 1 - probabilities[2 * i];
  }
  return { xRange: [-2, 2], yRange: [-2, 2], resolution, probabilities, classNames: ['top-right', 'rest'], points: [] };
}

const isBluish = ([r, , b]: number[]) => b > r + 20;
const isOrangish = ([r, , b]: number[]) => r > b + 20;

test('the decision boundary puts each class region where its grid cells are (x right, y up)', async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, 'boundary.png');
    const points = [
      { x: 1, y: 1, label: 0 },
      { x: -1, y: -1, label: 1 },
    ];
    await plotDecisionBoundary({ ...quadrantOptions(), points, xLabel: 'x1', yLabel: 'x2', title: 'quadrant' }, file);
    const image = await decode(file);
    assert.deepEqual([image.width, image.height], [1200, 1040]);
    assert.ok(distinctColours(image) > 100);
    // The plot area spans roughly x 8%–82%, y 7%–90% of the image; probe well inside each quadrant.
    const at = (fx: number, fy: number) => pixel(image, image.width * fx, image.height * fy);
    assert.ok(isBluish(at(0.68, 0.2)), `top-right should be class 0 (blue), is ${at(0.68, 0.2)}`);
    assert.ok(isOrangish(at(0.2, 0.2)), `top-left should be class 1 (orange), is ${at(0.2, 0.2)}`);
    assert.ok(isOrangish(at(0.68, 0.8)), `bottom-right should be class 1 (orange), is ${at(0.68, 0.8)}`);
    assert.ok(isOrangish(at(0.2, 0.8)));
  });
  const svg = await vegaToSvg(decisionBoundarySpec({ ...quadrantOptions(), xLabel: 'x1', yLabel: 'x2' }));
  for (const text of ['>x1<', '>x2<', '>top-right<', '>rest<', '>decision boundary<']) assert.ok(svg.includes(text), text);
});

test('a single sigmoid output draws the same picture as two softmax probabilities', async () => {
  const two = quadrantOptions();
  const sigmoid = new Float32Array(two.resolution ** 2).map((_, i) => two.probabilities[2 * i + 1]);
  const a = await svgToPng(await vegaToSvg(decisionBoundarySpec(two)));
  const b = await svgToPng(await vegaToSvg(decisionBoundarySpec({ ...two, probabilities: sigmoid })));
  assert.equal(differingPixels(await decode(a), await decode(b)).length, 0);
});

test('decision grid points are cell centres, x fastest, from the bottom-left corner', () => {
  const grid = decisionGridPoints([0, 4], [10, 12], 2);
  assert.deepEqual(Array.from(grid), [1, 10.5, 3, 10.5, 1, 11.5, 3, 11.5]);
  assert.throws(() => decisionGridPoints([0, 1], [0, 1], 1), /resolution/);
});

test('mismatched probabilities, labels or ranges are reported, not drawn', () => {
  const options = quadrantOptions();
  assert.throws(() => decisionBoundarySpec({ ...options, probabilities: new Float32Array(7) }), /expected 3200 probabilities/);
  assert.throws(() => decisionBoundarySpec({ ...options, points: [{ x: 0, y: 0, label: 2 }] }), /label 2, but there are 2 classes/);
  assert.throws(() => decisionBoundarySpec({ ...options, xRange: [1, 1] }), /empty plot range/);
  assert.throws(() => decisionBoundarySpec({ ...options, classNames: ['only'] }), /at least 2 classes/);
});

test('many points are thinned to a few thousand, evenly', async () => {
  const options = quadrantOptions();
  const points = Array.from({ length: 20000 }, (_, i) => ({ x: (i % 200) / 50 - 2, y: Math.floor(i / 200) / 25 - 2, label: i < 10000 ? 0 : 1 }));
  const spec = decisionBoundarySpec({ ...options, points });
  const plotted = (spec.data!.find((d) => d.name === 'points') as { values: { class: string }[] }).values;
  assert.equal(plotted.length, 5000);
  assert.equal(plotted.filter((p) => p.class === 'top-right').length, 2500);
});

test('text is measured with the plot font, not guessed', () => {
  const regular = textWidthEm('validation/main/accuracy');
  // DejaVu Sans averages about 0.6 em a character here; Vega's guess is 0.8 em.
  assert.ok(regular > 0.5 * 24 && regular < 0.7 * 24, String(regular));
  assert.ok(textWidthEm('validation/main/accuracy', true) > regular);
  assert.ok(textWidthEm('WWW') > textWidthEm('iii'));
});
