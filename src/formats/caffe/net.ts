/**
 * The layers of a Caffe TEST net → the framework-neutral graph. Caffe names data by blob, and a
 * layer may overwrite its bottom blob (in place); the graph names each value once, so every write
 * of a blob gets a fresh SSA id and `Graph.blobs` records where each blob name ended up.
 */
import { FormatError } from '../../errors.js';
import type { BatchNormNode, Graph, GraphInput, GraphNode, ScaleNode } from '../../graph/graph.js';
import type { TensorMap } from '../../tensor/tensor.js';
import { DATA_LAYER_TYPES } from './input.js';
import type { CaffeLayer } from './layers.js';
import { layerNode } from './ops.js';

export interface NetSpec {
  name: string;
  /** Layers already filtered to the TEST state, in file order. */
  layers: CaffeLayer[];
  /** The net's inputs; their names are blob names (from `input`, Input layers or a data layer). */
  inputs: GraphInput[];
  tensors: TensorMap;
  structureFile: string;
  weightsFile: string;
}

export interface NetGraph {
  graph: Graph;
  /** Training-only layers left out, as `name (Type)`. */
  dropped: string[];
}

/** Layers that compute losses or metrics, or consume/produce nothing at inference. */
export function isTrainingOnly(type: string): boolean {
  return DATA_LAYER_TYPES.has(type) || type.endsWith('Loss') || type === 'Accuracy' || type === 'Silence';
}

export function buildNetGraph(spec: NetSpec): NetGraph {
  const values = new BlobValues(spec.structureFile);
  for (const input of spec.inputs) values.define(input.name, 'input');
  const nodes: GraphNode[] = [];
  const dropped: string[] = [];
  const names = new Set<string>();
  for (const layer of spec.layers) {
    if (isTrainingOnly(layer.type)) {
      dropped.push(`${layer.name} (${layer.type})`);
      continue;
    }
    if (layer.type === 'Input') continue;
    if (!layer.name) throw new FormatError(spec.structureFile, undefined, `a ${layer.type} layer has no name`);
    if (names.has(layer.name)) throw new FormatError(spec.structureFile, undefined, `two layers are named '${layer.name}'`);
    names.add(layer.name);
    if (layer.type === 'Split') {
      const source = values.read(layer.bottom[0], layer);
      for (const top of layer.top) values.alias(top, source);
      continue;
    }
    const inputs = layer.bottom.map((bottom) => values.read(bottom, layer));
    const outputs = layer.top.map((top) => values.define(top, layer.name));
    nodes.push(
      layerNode({ layer, inputs, outputs, tensors: spec.tensors, structureFile: spec.structureFile, weightsFile: spec.weightsFile }),
    );
  }
  const blobs = values.finalIds();
  const merged = mergeBatchNormScale(nodes, blobs);
  if (merged.length === 0) throw new FormatError(spec.structureFile, undefined, 'the net has no layers to convert');
  const graph: Graph = { name: spec.name, inputs: spec.inputs, outputs: unconsumed(merged), nodes: merged, blobs };
  return { graph, dropped };
}

/** Blob name → current SSA id, handing out a new id for every write. */
class BlobValues {
  private current = new Map<string, string>();
  private used = new Set<string>();

  constructor(private readonly file: string) {}

  define(blob: string, writer: string): string {
    let id = this.used.has(blob) ? `${blob}@${writer}` : blob;
    for (let n = 2; this.used.has(id); n++) id = `${blob}@${writer}#${n}`;
    this.used.add(id);
    this.current.set(blob, id);
    return id;
  }

  alias(blob: string, id: string): void {
    this.current.set(blob, id);
  }

  read(blob: string | undefined, layer: CaffeLayer): string {
    const id = blob === undefined ? undefined : this.current.get(blob);
    if (id === undefined) {
      const what = blob === undefined ? 'a bottom' : `blob '${blob}'`;
      throw new FormatError(this.file, undefined, `layer '${layer.name}' (${layer.type}) reads ${what}, which no earlier layer or input produces`);
    }
    return id;
  }

  finalIds(): Record<string, string> {
    return Object.fromEntries(this.current);
  }
}

/**
 * Caffe splits batch normalization in two layers: BatchNorm (statistics only) and a Scale holding
 * gamma and beta. A Scale that directly follows and alone consumes a BatchNorm's output folds into it.
 */
function mergeBatchNormScale(nodes: GraphNode[], blobs: Record<string, string>): GraphNode[] {
  const consumers = consumerCounts(nodes);
  const out: GraphNode[] = [];
  for (let i = 0; i < nodes.length; i++) {
    const bn = nodes[i];
    const next = nodes[i + 1];
    if (
      bn.op === 'batchnorm' &&
      !bn.attrs.scale &&
      next?.op === 'scale' &&
      next.inputs.length === 1 &&
      next.inputs[0] === bn.outputs[0] &&
      consumers.get(bn.outputs[0]) === 1
    ) {
      out.push(mergedBatchNorm(bn, next));
      // A blob name left pointing at the BatchNorm's own output now names a value that no longer
      // exists (its only reader was the Scale); drop it rather than point it at scaled values.
      for (const [blob, id] of Object.entries(blobs)) if (id === bn.outputs[0]) delete blobs[blob];
      i++;
    } else {
      out.push(bn);
    }
  }
  return out;
}

function mergedBatchNorm(bn: BatchNormNode, scale: ScaleNode): BatchNormNode {
  return {
    name: bn.name,
    op: 'batchnorm',
    inputs: bn.inputs,
    outputs: scale.outputs,
    attrs: { eps: bn.attrs.eps, scale: true, center: scale.attrs.bias },
    params: { ...bn.params, ...scale.params },
  };
}

function consumerCounts(nodes: GraphNode[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const node of nodes) for (const input of node.inputs) counts.set(input, (counts.get(input) ?? 0) + 1);
  return counts;
}

function unconsumed(nodes: GraphNode[]): string[] {
  const consumers = consumerCounts(nodes);
  return nodes.flatMap((node) => node.outputs.filter((id) => !consumers.has(id)));
}
