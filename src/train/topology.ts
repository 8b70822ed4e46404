/**
 * Walking and re-wiring a functional tfjs model. Surgery (a new head, a cut) and feature caching
 * rebuild parts of a model by applying its own layer objects to new symbolic tensors, so weights
 * stay shared with the original.
 */
import * as tf from '@tensorflow/tfjs';
import { GraftError } from '../errors.js';

type Symbolic = tf.SymbolicTensor;

export interface LayerCall {
  layer: tf.layers.Layer;
  inputs: Symbolic[];
  outputs: Symbolic[];
}

/**
 * Each layer's call inside `model`, in topological order. A layer applied again elsewhere (by an
 * earlier rebuild) has several inbound nodes; the model's own is the one in `containerNodes`.
 */
export function layerCalls(model: tf.LayersModel): LayerCall[] {
  const calls: LayerCall[] = [];
  for (const layer of model.layers) {
    const index = layer.inboundNodes.findIndex((_, i) => model.containerNodes.has(`${layer.name}_ib-${i}`));
    if (index < 0) throw new GraftError(`layer ${layer.name} has no call inside model ${model.name}`);
    const node = layer.inboundNodes[index];
    calls.push({ layer, inputs: node.inputTensors, outputs: node.outputTensors });
  }
  return calls;
}

/**
 * Applies the layers of `model` that come after `from` to `replacement` (a new symbolic tensor of
 * the same shape), returning the new counterparts of `outputs`. Every layer after the cut must
 * depend only on tensors produced after it (an articulation point; see `articulationPoints`).
 */
export function replayFrom(model: tf.LayersModel, from: Symbolic, replacement: Symbolic, outputs: Symbolic[]): Symbolic[] {
  const mapped = new Map<number, Symbolic>([[from.id, replacement]]);
  for (const call of layerCalls(model)) {
    if (call.inputs.length === 0 || !call.inputs.every((t) => mapped.has(t.id))) continue;
    if (call.outputs.some((t) => mapped.has(t.id))) continue;
    const inputs = call.inputs.map((t) => mapped.get(t.id)!);
    const result = call.layer.apply(inputs.length === 1 ? inputs[0] : inputs) as Symbolic | Symbolic[];
    const results = Array.isArray(result) ? result : [result];
    call.outputs.forEach((t, i) => mapped.set(t.id, results[i]));
  }
  return outputs.map((t) => {
    const out = mapped.get(t.id);
    if (!out) throw new GraftError(`output ${t.name} does not follow from ${from.name}: the model cannot be cut there`);
    return out;
  });
}

/**
 * Indices i into layerCalls(model) after which exactly one tensor is alive (produced at or
 * before i, consumed after i, or a model output): the places a model can be cut in two.
 */
export function articulationPoints(model: tf.LayersModel): { index: number; tensor: Symbolic }[] {
  const calls = layerCalls(model);
  const lastUse = new Map<number, number>();
  calls.forEach((call, i) => call.inputs.forEach((t) => lastUse.set(t.id, i)));
  for (const output of model.outputs) lastUse.set(output.id, calls.length);
  const points: { index: number; tensor: Symbolic }[] = [];
  const alive = new Map<number, Symbolic>();
  calls.forEach((call, i) => {
    for (const t of call.inputs) if (lastUse.get(t.id) === i) alive.delete(t.id);
    for (const t of call.outputs) if ((lastUse.get(t.id) ?? -1) > i) alive.set(t.id, t);
    if (alive.size === 1) points.push({ index: i, tensor: [...alive.values()][0] });
  });
  return points;
}
