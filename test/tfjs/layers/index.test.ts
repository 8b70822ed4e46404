import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { GRAFT_LAYER_CLASSES, registerGraftLayers } from '../../../src/tfjs/layers/index.js';

test('importing registers nothing; registerGraftLayers registers every class, repeatably', () => {
  const registry = tf.serialization.SerializationMap.getMap().classNameMap;
  const names = GRAFT_LAYER_CLASSES.map((cls) => cls.className);
  assert.deepEqual(names, ['GraftGroupedConv2D', 'GraftLRN', 'GraftPooling2D', 'GraftScale', 'GraftWeightedSum']);
  for (const name of names) assert.equal(registry[name], undefined, `${name} registered at import`);
  registerGraftLayers();
  registerGraftLayers();
  for (const cls of GRAFT_LAYER_CLASSES) assert.equal(registry[cls.className]?.[0], cls);
});

test('the layers module imports nothing Node-specific', async () => {
  // It ships to browsers (package export "./layers"): only tfjs and graft's own modules.
  const { readFile, readdir } = await import('node:fs/promises');
  const dir = new URL('../../../src/tfjs/layers/', import.meta.url);
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.js'))) {
    const source = await readFile(new URL(file, dir), 'utf8');
    for (const [, spec] of source.matchAll(/(?:import|from)\s*['"]([^'"]+)['"]/g)) {
      // errors.ts and graph/shapes.ts are plain TypeScript with no imports of their own beyond errors.
      const pure = ['../../errors.js', '../../graph/shapes.js'];
      assert.ok(spec === '@tensorflow/tfjs' || spec.startsWith('./') || pure.includes(spec), `${file} imports ${spec}`);
    }
  }
});
