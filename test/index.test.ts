/**
 * The package's entry points as a user imports them (by name, through package.json `exports`):
 * the library API the README documents, and the browser-safe `graft/layers`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

test('graft exports the library API: read, convert, predict, train, evaluate, serve', async () => {
  const graft = await import('graft');
  for (const name of [
    'readCaffeModel', 'readPyTorchFile', 'readChainerNpz', 'pickReader', 'convertModel', 'buildModel', 'loadModelDirectory',
    'writeModelDirectory', 'predictImages', 'predictArray', 'inputSpecFor', 'inspectPath', 'useBackend', 'backendInfo',
    'describeBackend', 'trainModel', 'evaluateModel', 'startServer', 'registerGraftLayers', 'imageToInput',
  ]) {
    assert.equal(typeof (graft as Record<string, unknown>)[name], 'function', name);
  }
  const error = new graft.FormatError('x.caffemodel', 12, 'truncated blob');
  assert.ok(error instanceof graft.GraftError);
  assert.equal(error.message, 'x.caffemodel at byte 12: truncated blob');
});

test('graft/layers registers the custom layers with tf.serialization', async () => {
  const tf = await import('@tensorflow/tfjs');
  const layers = await import('graft/layers');
  layers.registerGraftLayers();
  for (const cls of layers.GRAFT_LAYER_CLASSES) {
    assert.equal(tf.serialization.SerializationMap.getMap().classNameMap[cls.className]?.[0], cls, cls.className);
  }
});
