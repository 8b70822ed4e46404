/**
 * Graph (source NCHW semantics) → tf.LayersModel (NHWC), weights injected at construction.
 * NHWC exists only inside this folder: each graph value carries how its tfjs tensor is laid out
 * relative to the source's, and weight transforms follow from that.
 */
import * as tf from '@tensorflow/tfjs';
import { GraftError, UnsupportedError } from '../errors.js';
import type { Graph, GraphNode, Pair } from '../graph/graph.js';
import { toFloat32, type Tensor, type TensorMap } from '../tensor/tensor.js';
import { AxisToLastTranspose, oihwToDepthwise } from '../tensor/layout.js';
import { WeightBinder, type BoundWeight, type InjectMode } from './inject.js';
import { pooledLength as poolOutputSize } from './layers/pooling.js';
import {
  GraftGroupedConv2D,
  GraftLRN,
  GraftPooling2D,
  GraftScale,
  GraftWeightedSum,
  registerGraftLayers,
} from './layers/index.js';


type Symbolic = tf.SymbolicTensor;

/**
 * 'nhwc': a rank-4 source value (NCHW) held as NHWC. 'same': tfjs and source agree (rank 2).
 * 'flat-hwc': a rank-2 value flattened from NHWC, so its features are in H·W·C order where the
 * source has C·H·W; a Dense consuming it permutes its weight rows instead of the data.
 */
type Layout = { kind: 'nhwc' } | { kind: 'same' } | { kind: 'flat-hwc'; chw: [number, number, number] };

interface Value {
  tensor: Symbolic;
  layout: Layout;
}

export interface BuildOptions {
  mode?: InjectMode;
}

export interface BuiltModel {
  model: tf.LayersModel;
  /** Every tfjs weight with the source tensors it came from. */
  weights: BoundWeight[];
  /** Source tensor keys no layer used. */
  unusedTensors: string[];
  /** Graph value id → tfjs layer name producing it, and whether it is NHWC. */
  values: Record<string, { layer: string; layout: 'nhwc' | 'same' }>;
}

/** Builds the tfjs model for `graph`, binding every node parameter to its tensor in `tensors`. */
export function buildModel(graph: Graph, tensors: TensorMap, options: BuildOptions = {}): BuiltModel {
  registerGraftLayers();
  const builder = new ModelBuilder(graph, tensors, new WeightBinder(options.mode ?? 'values'));
  return builder.build();
}

class ModelBuilder {
  private readonly values = new Map<string, Value>();
  private readonly usedTensors = new Set<string>();
  private readonly layerNames = new Set<string>();
  private readonly valueLayers: BuiltModel['values'] = {};

  constructor(
    private readonly graph: Graph,
    private readonly tensors: TensorMap,
    private readonly binder: WeightBinder,
  ) {}

  build(): BuiltModel {
    const inputs: Symbolic[] = [];
    for (const input of this.graph.inputs) {
      const shape = input.shape.slice(1);
      const name = this.uniqueName(input.name);
      if (shape.length === 3) {
        const [c, h, w] = shape;
        const tensor = tf.input({ shape: [h, w, c], name });
        inputs.push(tensor);
        this.setValue(input.name, { tensor, layout: { kind: 'nhwc' } });
      } else {
        const tensor = tf.input({ shape, name });
        inputs.push(tensor);
        this.setValue(input.name, { tensor, layout: { kind: 'same' } });
      }
    }
    for (const node of this.graph.nodes) {
      try {
        this.addNode(node);
      } catch (error) {
        // Layers built so far already hold variables: free them, or a failed build leaks.
        for (const layer of this.layers) {
          try {
            layer.dispose();
          } catch {
            // A layer that never got built has nothing to free.
          }
        }
        const message = error instanceof Error ? error.message : String(error);
        if (error instanceof GraftError && message.includes(node.name)) throw error;
        throw new GraftError(`layer ${node.name} (${node.op}): ${message}`);
      }
    }
    const outputs = this.graph.outputs.map((id) => this.materialize(this.value(id), `${id}__chw`).tensor);
    const model = tf.model({ inputs, outputs, name: sanitize(this.graph.name || 'graft') });
    const unusedTensors = [...this.tensors.keys()].filter((key) => !this.usedTensors.has(key));
    return { model, weights: this.binder.bound, unusedTensors, values: this.valueLayers };
  }

  // ---- values and names ------------------------------------------------------------------

  private value(id: string): Value {
    const value = this.values.get(id);
    if (!value) throw new GraftError(`graph value ${id} is used before it is produced`);
    return value;
  }

  private setValue(id: string, value: Value): void {
    this.values.set(id, value);
    const layer = value.tensor.sourceLayer?.name ?? id;
    this.valueLayers[id] = { layer, layout: value.layout.kind === 'nhwc' ? 'nhwc' : 'same' };
  }

  private uniqueName(wanted: string): string {
    let name = sanitize(wanted);
    for (let i = 2; this.layerNames.has(name); i++) name = `${sanitize(wanted)}_${i}`;
    this.layerNames.add(name);
    return name;
  }

  private tensor(node: GraphNode, role: string, required = true): Tensor | undefined {
    const key = node.params[role];
    if (key === undefined) {
      if (required) throw new GraftError(`layer ${node.name} (${node.op}) has no ${role} parameter`);
      return undefined;
    }
    const tensor = this.tensors.get(key);
    if (!tensor) throw new GraftError(`layer ${node.name}: weight ${key} (${role}) is missing from the source`);
    this.usedTensors.add(key);
    return tensor;
  }

  private weight(name: string, shape: number[], keys: string[], make: () => Float32Array): BoundWeight {
    return { name, shape, sources: keys, make };
  }

  /** A weight made by moving the source's axis 0 last (see AxisToLastTranspose), streamable. */
  private movedWeight(name: string, shape: number[], keys: string[], source: Tensor, sourceShape: number[], restPerm: number[]): BoundWeight {
    const plan = () => new AxisToLastTranspose(toFloat32(source), sourceShape, restPerm);
    return { name, shape, sources: keys, make: () => plan().all(), chunks: () => plan().chunks() };
  }

  private keysOf(node: GraphNode, ...roles: string[]): string[] {
    return roles.map((r) => node.params[r]).filter((k): k is string => k !== undefined);
  }

  private readonly layers: tf.layers.Layer[] = [];

  private apply(layer: tf.layers.Layer, inputs: Symbolic | Symbolic[]): Symbolic {
    this.layers.push(layer);
    return layer.apply(inputs) as Symbolic;
  }

  /** A rank-2 value in H·W·C order → the source's C·H·W order (reshape, permute, flatten). */
  private materialize(value: Value, name: string): Value {
    if (value.layout.kind !== 'flat-hwc') return value;
    const [c, h, w] = value.layout.chw;
    let t = this.apply(tf.layers.reshape({ targetShape: [h, w, c], name: this.uniqueName(`${name}_reshape`) }), value.tensor);
    t = this.apply(tf.layers.permute({ dims: [3, 1, 2], name: this.uniqueName(`${name}_permute`) }), t);
    t = this.apply(tf.layers.flatten({ name: this.uniqueName(`${name}_flatten`) }), t);
    return { tensor: t, layout: { kind: 'same' } };
  }

  private spatial(value: Value, node: GraphNode): [number, number, number] {
    if (value.layout.kind !== 'nhwc') throw new GraftError(`layer ${node.name} (${node.op}) needs a 4-D (NCHW) input`);
    const [, h, w, c] = value.tensor.shape as number[];
    return [h, w, c];
  }

  // ---- nodes ------------------------------------------------------------------------------

  private addNode(node: GraphNode): void {
    const inputs = node.inputs.map((id) => this.value(id));
    const output = this.nodeOutput(node, inputs);
    const shape = output.tensor.shape;
    if (shape.some((d) => d !== null && d <= 0)) {
      throw new GraftError(`layer ${node.name} (${node.op}): the input is too small, the output would be [${shape.map((d) => d ?? 'N').join(', ')}] (check --input-shape)`);
    }
    if (node.outputs.length !== 1) throw new UnsupportedError(`layer ${node.name}: ${node.outputs.length} outputs`);
    this.setValue(node.outputs[0], output);
  }

  private nodeOutput(node: GraphNode, inputs: Value[]): Value {
    const [x] = inputs;
    switch (node.op) {
      case 'identity':
        return x;
      case 'conv2d':
        return this.conv2d(node, x);
      case 'deconv2d':
        return this.deconv2d(node, x);
      case 'dense':
        return this.dense(node, x);
      case 'pool2d':
        return this.pool2d(node, x);
      case 'adaptive_pool2d':
        return this.adaptivePool2d(node, x);
      case 'relu': {
        const layer =
          node.attrs.negativeSlope === 0
            ? tf.layers.reLU({ name: this.uniqueName(node.name) })
            : tf.layers.leakyReLU({ alpha: node.attrs.negativeSlope, name: this.uniqueName(node.name) });
        return { tensor: this.apply(layer, x.tensor), layout: x.layout };
      }
      case 'relu6':
        return { tensor: this.apply(tf.layers.reLU({ maxValue: 6, name: this.uniqueName(node.name) }), x.tensor), layout: x.layout };
      case 'sigmoid':
      case 'tanh':
        return {
          tensor: this.apply(tf.layers.activation({ activation: node.op, name: this.uniqueName(node.name) }), x.tensor),
          layout: x.layout,
        };
      case 'dropout':
        return { tensor: this.apply(tf.layers.dropout({ rate: node.attrs.rate, name: this.uniqueName(node.name) }), x.tensor), layout: x.layout };
      case 'prelu':
        return this.prelu(node, this.materialize(x, `${node.name}_in`));
      case 'lrn': {
        this.spatial(x, node);
        const { size, alpha, beta, k } = node.attrs;
        return { tensor: this.apply(new GraftLRN({ size, alpha, beta, k, name: this.uniqueName(node.name) }), x.tensor), layout: x.layout };
      }
      case 'batchnorm':
        return this.batchnorm(node, this.materialize(x, `${node.name}_in`));
      case 'scale':
        return this.scale(node, this.materialize(x, `${node.name}_in`));
      case 'softmax': {
        const value = this.materialize(x, `${node.name}_in`);
        const axis = this.axis(node.attrs.axis, value);
        return { tensor: this.apply(tf.layers.softmax({ axis, name: this.uniqueName(node.name) }), value.tensor), layout: value.layout };
      }
      case 'concat': {
        const values = this.alike(inputs, node);
        const axis = this.axis(node.attrs.axis, values[0]);
        const tensor = this.apply(tf.layers.concatenate({ axis, name: this.uniqueName(node.name) }), values.map((v) => v.tensor));
        return { tensor, layout: values[0].layout };
      }
      case 'eltwise':
        return this.eltwise(node, this.alike(inputs, node));
      case 'flatten':
        return this.flatten(node, x);
    }
  }

  /** Inputs of a merge must agree in layout: flat-hwc values are brought to C·H·W unless all share one. */
  private alike(inputs: Value[], node: GraphNode): Value[] {
    const first = inputs[0].layout;
    const same =
      first.kind === 'flat-hwc'
        ? inputs.every((v) => v.layout.kind === 'flat-hwc' && v.layout.chw.join() === first.chw.join())
        : inputs.every((v) => v.layout.kind === first.kind);
    if (same && first.kind !== 'flat-hwc') return inputs;
    return inputs.map((v, i) => this.materialize(v, `${node.name}_in${i}`));
  }

  /** A source axis (NCHW for rank 4) → the tfjs axis. */
  private axis(axis: number, value: Value): number {
    const rank = value.tensor.shape.length;
    const a = axis < 0 ? axis + rank : axis;
    if (value.layout.kind !== 'nhwc') return a;
    return [0, 3, 1, 2][a];
  }

  private conv2d(node: Extract<GraphNode, { op: 'conv2d' }>, x: Value): Value {
    const [, , inChannels] = this.spatial(x, node);
    const { filters, kernel, stride, pad, dilation, groups, bias } = node.attrs;
    const W = this.tensor(node, 'W')!;
    const b = bias ? this.tensor(node, 'b')! : undefined;
    const [kh, kw] = kernel;
    if (inChannels % groups !== 0 || filters % groups !== 0) {
      throw new GraftError(`layer ${node.name}: ${inChannels} input channels and ${filters} outputs do not split into ${groups} groups`);
    }
    expectShape(node, 'W', W, [filters, inChannels / groups, kh, kw]);
    if (b) expectShape(node, 'b', b, [filters]);
    const name = this.uniqueName(node.name);
    // tfjs has no gradient for dilated conv2d/depthwiseConv2d, so dilated kernels go to graft's
    // grouped layer (groups may be 1), which computes them from undilated convolutions.
    const dilated = dilation[0] > 1 || dilation[1] > 1;
    const plain = groups === 1 && !dilated;
    const depthwise = groups === inChannels && groups > 1 && !dilated;
    // The grouped layer knows only 'valid': it always gets explicit padding.
    const padding = this.padFor(node.name, x, kernel, stride, pad, dilation, plain || depthwise);
    const input = padding.input;
    const common = { strides: stride, dilationRate: dilation, padding: padding.mode, useBias: bias, name };
    const biasInit = b ? this.binder.inject(tf.initializers.zeros(), this.weight(`${name}/bias`, [filters], this.keysOf(node, 'b'), () => toFloat32(b))) : undefined;
    let layer: tf.layers.Layer;
    if (plain) {
      const kernelInitializer = this.binder.inject(
        tf.initializers.glorotUniform({}),
        this.movedWeight(`${name}/kernel`, [kh, kw, inChannels, filters], this.keysOf(node, 'W'), W, [...W.shape], [1, 2, 0]),
      );
      layer = tf.layers.conv2d({ ...common, filters, kernelSize: kernel, kernelInitializer, biasInitializer: biasInit });
    } else if (depthwise) {
      const multiplier = filters / inChannels;
      const depthwiseInitializer = this.binder.inject(
        tf.initializers.glorotUniform({}),
        this.weight(`${name}/depthwise_kernel`, [kh, kw, inChannels, multiplier], this.keysOf(node, 'W'), () =>
          oihwToDepthwise(toFloat32(W), W.shape, inChannels),
        ),
      );
      layer = tf.layers.depthwiseConv2d({ ...common, kernelSize: kernel, depthMultiplier: multiplier, depthwiseInitializer, biasInitializer: biasInit });
    } else {
      if (padding.mode !== 'valid') throw new GraftError(`internal: grouped conv ${name} needs explicit padding`);
      const kernelInitializer = this.binder.inject(
        tf.initializers.glorotUniform({}),
        this.movedWeight(`${name}/kernel`, [kh, kw, inChannels / groups, filters], this.keysOf(node, 'W'), W, [...W.shape], [1, 2, 0]),
      );
      layer = new GraftGroupedConv2D({
        filters,
        kernelSize: kernel,
        strides: stride,
        dilationRate: dilation,
        groups,
        useBias: bias,
        padding: 'valid',
        kernelInitializer,
        biasInitializer: biasInit,
        name,
      });
    }
    return { tensor: this.apply(layer, input.tensor), layout: { kind: 'nhwc' } };
  }

  /**
   * Source padding is symmetric and explicit; tfjs layers know 'valid' and 'same'. Stride-1 'same'
   * with an odd effective kernel is exactly symmetric; anything else gets a ZeroPadding2D in front.
   */
  private padFor(
    name: string,
    x: Value,
    kernel: Pair,
    stride: Pair,
    pad: Pair,
    dilation: Pair,
    allowSame = true,
  ): { mode: 'valid' | 'same'; input: Value } {
    if (pad[0] === 0 && pad[1] === 0) return { mode: 'valid', input: x };
    const effective = [dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)];
    if (
      allowSame &&
      stride[0] === 1 &&
      stride[1] === 1 &&
      effective[0] === 2 * pad[0] &&
      effective[1] === 2 * pad[1]
    ) {
      return { mode: 'same', input: x };
    }
    const padded = this.apply(
      tf.layers.zeroPadding2d({ padding: [[pad[0], pad[0]], [pad[1], pad[1]]], name: this.uniqueName(`${name}_pad`) }),
      x.tensor,
    );
    return { mode: 'valid', input: { tensor: padded, layout: { kind: 'nhwc' } } };
  }

  private deconv2d(node: Extract<GraphNode, { op: 'deconv2d' }>, x: Value): Value {
    const [h, w, inChannels] = this.spatial(x, node);
    const { filters, kernel, stride, pad, dilation, groups, bias } = node.attrs;
    if (groups !== 1) throw new UnsupportedError(`layer ${node.name}: Deconvolution with group ${groups} is not supported`);
    if (dilation[0] !== 1 || dilation[1] !== 1) throw new UnsupportedError(`layer ${node.name}: dilated Deconvolution is not supported`);
    const W = this.tensor(node, 'W')!;
    const b = bias ? this.tensor(node, 'b')! : undefined;
    expectShape(node, 'W', W, [inChannels, filters, kernel[0], kernel[1]]);
    if (b) expectShape(node, 'b', b, [filters]);
    const name = this.uniqueName(node.name);
    // tfjs 'valid' transposed conv gives in·s + max(k − s, 0); the source gives s·(in − 1) + k − 2p.
    const kernelInitializer = this.binder.inject(
      tf.initializers.glorotUniform({}),
      this.movedWeight(`${name}/kernel`, [kernel[0], kernel[1], filters, inChannels], this.keysOf(node, 'W'), W, [...W.shape], [1, 2, 0]),
    );
    const biasInitializer = b
      ? this.binder.inject(tf.initializers.zeros(), this.weight(`${name}/bias`, [filters], this.keysOf(node, 'b'), () => toFloat32(b)))
      : undefined;
    let t = this.apply(
      tf.layers.conv2dTranspose({ filters, kernelSize: kernel, strides: stride, padding: 'valid', useBias: bias, kernelInitializer, biasInitializer, name }),
      x.tensor,
    );
    const tfSize = [h * stride[0] + Math.max(kernel[0] - stride[0], 0), w * stride[1] + Math.max(kernel[1] - stride[1], 0)];
    const wanted = [stride[0] * (h - 1) + kernel[0] - 2 * pad[0], stride[1] * (w - 1) + kernel[1] - 2 * pad[1]];
    const cropEnd = [tfSize[0] - wanted[0] - pad[0], tfSize[1] - wanted[1] - pad[1]];
    if (pad[0] > 0 || pad[1] > 0 || cropEnd[0] > 0 || cropEnd[1] > 0) {
      t = this.apply(
        tf.layers.cropping2D({ cropping: [[pad[0], cropEnd[0]], [pad[1], cropEnd[1]]], name: this.uniqueName(`${node.name}_crop`) }),
        t,
      );
    }
    return { tensor: t, layout: { kind: 'nhwc' } };
  }

  private dense(node: Extract<GraphNode, { op: 'dense' }>, x: Value): Value {
    const { units, bias } = node.attrs;
    const W = this.tensor(node, 'W')!;
    const b = bias ? this.tensor(node, 'b')! : undefined;
    let input = x;
    let chw: [number, number, number] | undefined;
    if (x.layout.kind === 'nhwc') {
      const [h, w, c] = this.spatial(x, node);
      chw = [c, h, w];
      input = { tensor: this.apply(tf.layers.flatten({ name: this.uniqueName(`${node.name}_flatten`) }), x.tensor), layout: { kind: 'flat-hwc', chw } };
    } else if (x.layout.kind === 'flat-hwc') {
      chw = x.layout.chw;
    }
    const inFeatures = input.tensor.shape[input.tensor.shape.length - 1] as number;
    if (input.tensor.shape.length !== 2) throw new UnsupportedError(`layer ${node.name}: dense on a rank-${input.tensor.shape.length} input`);
    expectShape(node, 'W', W, [units, inFeatures]);
    if (b) expectShape(node, 'b', b, [units]);
    const name = this.uniqueName(node.name);
    // Rows of a weight that follows a flatten of NHWC data are permuted from C·H·W to H·W·C.
    const kernel = chw
      ? this.movedWeight(`${name}/kernel`, [inFeatures, units], this.keysOf(node, 'W'), W, [units, ...chw], [1, 2, 0])
      : this.movedWeight(`${name}/kernel`, [inFeatures, units], this.keysOf(node, 'W'), W, [...W.shape], [0]);
    const kernelInitializer = this.binder.inject(tf.initializers.glorotUniform({}), kernel);
    const biasInitializer = b
      ? this.binder.inject(tf.initializers.zeros(), this.weight(`${name}/bias`, [units], this.keysOf(node, 'b'), () => toFloat32(b)))
      : undefined;
    const layer = tf.layers.dense({ units, useBias: bias, kernelInitializer, biasInitializer, name });
    return { tensor: this.apply(layer, input.tensor), layout: { kind: 'same' } };
  }

  private pool2d(node: Extract<GraphNode, { op: 'pool2d' }>, x: Value): Value {
    const [h, w] = this.spatial(x, node);
    const { mode } = node.attrs;
    const kernel: Pair = node.attrs.global ? [h, w] : node.attrs.kernel;
    const stride: Pair = node.attrs.global ? [1, 1] : node.attrs.stride;
    const pad: Pair = node.attrs.global ? [0, 0] : node.attrs.pad;
    const rounding = node.attrs.global ? 'floor' : node.attrs.rounding;
    const name = this.uniqueName(node.name);
    const floorSize = [poolOutputSize(h, kernel[0], stride[0], pad[0], 'floor'), poolOutputSize(w, kernel[1], stride[1], pad[1], 'floor')];
    const size = [poolOutputSize(h, kernel[0], stride[0], pad[0], rounding), poolOutputSize(w, kernel[1], stride[1], pad[1], rounding)];
    const standard = pad[0] === 0 && pad[1] === 0 && size[0] === floorSize[0] && size[1] === floorSize[1];
    let layer: tf.layers.Layer;
    if (standard) {
      const args = { poolSize: kernel, strides: stride, padding: 'valid' as const, name };
      layer = mode === 'max' ? tf.layers.maxPooling2d(args) : tf.layers.averagePooling2d(args);
    } else {
      layer = new GraftPooling2D({ mode, poolSize: kernel, strides: stride, pad, rounding, avgDivisor: node.attrs.avgDivisor, name });
    }
    return { tensor: this.apply(layer, x.tensor), layout: { kind: 'nhwc' } };
  }

  private adaptivePool2d(node: Extract<GraphNode, { op: 'adaptive_pool2d' }>, x: Value): Value {
    const [h, w] = this.spatial(x, node);
    const [oh, ow] = node.attrs.output;
    if (h === oh && w === ow) return x;
    // PyTorch's adaptive windows are uniform exactly when the size divides: kernel = stride = in / out.
    if (h % oh !== 0 || w % ow !== 0) {
      throw new UnsupportedError(`layer ${node.name}: adaptive pooling from ${h}×${w} to ${oh}×${ow} has uneven windows`);
    }
    const kernel: Pair = [h / oh, w / ow];
    const args = { poolSize: kernel, strides: kernel, padding: 'valid' as const, name: this.uniqueName(node.name) };
    const layer = node.attrs.mode === 'max' ? tf.layers.maxPooling2d(args) : tf.layers.averagePooling2d(args);
    return { tensor: this.apply(layer, x.tensor), layout: { kind: 'nhwc' } };
  }

  private channels(x: Value): number {
    const shape = x.tensor.shape;
    return shape[shape.length - 1] as number;
  }

  private prelu(node: Extract<GraphNode, { op: 'prelu' }>, x: Value): Value {
    const slope = this.tensor(node, 'slope')!;
    const rank = x.tensor.shape.length;
    const channels = this.channels(x);
    const shared = node.attrs.channelShared;
    const count = slope.shape.reduce((a, b) => a * b, 1);
    if (count !== (shared ? 1 : channels)) {
      throw new GraftError(`layer ${node.name}: PReLU slope has ${count} values for ${shared ? 'a shared slope' : `${channels} channels`}`);
    }
    // alpha's shape is the input's (without batch) with shared axes set to 1.
    const sharedAxes = shared ? Array.from({ length: rank - 1 }, (_, i) => i + 1) : Array.from({ length: rank - 2 }, (_, i) => i + 1);
    const alphaShape = Array.from({ length: rank - 1 }, (_, i) => (sharedAxes.includes(i + 1) ? 1 : channels));
    const name = this.uniqueName(node.name);
    const alphaInitializer = this.binder.inject(tf.initializers.zeros(), this.weight(`${name}/alpha`, alphaShape, this.keysOf(node, 'slope'), () => toFloat32(slope)));
    const layer = tf.layers.prelu({ alphaInitializer, sharedAxes: sharedAxes.length ? sharedAxes : undefined, name });
    return { tensor: this.apply(layer, x.tensor), layout: x.layout };
  }

  private batchnorm(node: Extract<GraphNode, { op: 'batchnorm' }>, x: Value): Value {
    const channels = this.channels(x);
    const { eps, scale, center } = node.attrs;
    const mean = this.tensor(node, 'mean')!;
    const variance = this.tensor(node, 'variance')!;
    const factorTensor = this.tensor(node, 'scaleFactor', false);
    const gamma = scale ? this.tensor(node, 'gamma')! : undefined;
    const beta = center ? this.tensor(node, 'beta')! : undefined;
    for (const [role, t] of [['mean', mean], ['variance', variance], ['gamma', gamma], ['beta', beta]] as const) {
      if (t) expectShape(node, role, t, [channels]);
    }
    // Caffe keeps running sums scaled by a factor (its third blob); 0 means the statistics are 0.
    let factor = 1;
    if (factorTensor) {
      const f = toFloat32(factorTensor)[0];
      factor = f === 0 ? 0 : 1 / f;
    }
    const scaled = (t: Tensor) => () => {
      const values = toFloat32(t);
      if (factor === 1) return values;
      const out = new Float32Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = values[i] * factor;
      return out;
    };
    const name = this.uniqueName(node.name);
    const statsKeys = (role: string) => this.keysOf(node, role, 'scaleFactor');
    const layer = tf.layers.batchNormalization({
      axis: -1,
      epsilon: eps,
      scale,
      center,
      movingMeanInitializer: this.binder.inject(tf.initializers.zeros(), this.weight(`${name}/moving_mean`, [channels], statsKeys('mean'), scaled(mean))),
      movingVarianceInitializer: this.binder.inject(tf.initializers.ones(), this.weight(`${name}/moving_variance`, [channels], statsKeys('variance'), scaled(variance))),
      gammaInitializer: gamma ? this.binder.inject(tf.initializers.ones(), this.weight(`${name}/gamma`, [channels], this.keysOf(node, 'gamma'), () => toFloat32(gamma))) : undefined,
      betaInitializer: beta ? this.binder.inject(tf.initializers.zeros(), this.weight(`${name}/beta`, [channels], this.keysOf(node, 'beta'), () => toFloat32(beta))) : undefined,
      name,
    });
    return { tensor: this.apply(layer, x.tensor), layout: x.layout };
  }

  private scale(node: Extract<GraphNode, { op: 'scale' }>, x: Value): Value {
    const channels = this.channels(x);
    const gamma = this.tensor(node, 'gamma')!;
    const beta = node.attrs.bias ? this.tensor(node, 'beta')! : undefined;
    expectShape(node, 'gamma', gamma, [channels]);
    if (beta) expectShape(node, 'beta', beta, [channels]);
    const name = this.uniqueName(node.name);
    const layer = new GraftScale({
      useBias: node.attrs.bias,
      gammaInitializer: this.binder.inject(tf.initializers.ones(), this.weight(`${name}/gamma`, [channels], this.keysOf(node, 'gamma'), () => toFloat32(gamma))),
      betaInitializer: beta
        ? this.binder.inject(tf.initializers.zeros(), this.weight(`${name}/beta`, [channels], this.keysOf(node, 'beta'), () => toFloat32(beta)))
        : undefined,
      name,
    });
    return { tensor: this.apply(layer, x.tensor), layout: x.layout };
  }

  private eltwise(node: Extract<GraphNode, { op: 'eltwise' }>, inputs: Value[]): Value {
    const name = this.uniqueName(node.name);
    const tensors = inputs.map((v) => v.tensor);
    const { operation, coeffs } = node.attrs;
    let layer: tf.layers.Layer;
    if (operation === 'sum') {
      layer = coeffs && coeffs.some((c) => c !== 1) ? new GraftWeightedSum({ coeffs, name }) : tf.layers.add({ name });
    } else if (operation === 'prod') {
      layer = tf.layers.multiply({ name });
    } else {
      layer = tf.layers.maximum({ name });
    }
    return { tensor: this.apply(layer, tensors), layout: inputs[0].layout };
  }

  private flatten(node: Extract<GraphNode, { op: 'flatten' }>, x: Value): Value {
    const axis = node.attrs.axis < 0 ? node.attrs.axis + x.tensor.shape.length : node.attrs.axis;
    if (axis !== 1) throw new UnsupportedError(`layer ${node.name}: Flatten from axis ${node.attrs.axis} is not supported`);
    if (x.layout.kind !== 'nhwc') return x;
    const [h, w, c] = this.spatial(x, node);
    const tensor = this.apply(tf.layers.flatten({ name: this.uniqueName(node.name) }), x.tensor);
    return { tensor, layout: { kind: 'flat-hwc', chw: [c, h, w] } };
  }
}

function expectShape(node: GraphNode, role: string, tensor: Tensor, shape: number[]): void {
  if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) {
    throw new GraftError(
      `layer ${node.name}: ${role} (${node.params[role]}) has shape [${tensor.shape.join(', ')}], expected [${shape.join(', ')}]`,
    );
  }
}

/** tfjs names must start with a letter or digit and hold only [-A-Za-z0-9._/]. */
export function sanitize(name: string): string {
  let s = name.replace(/[^-A-Za-z0-9._/]/g, '_');
  if (!/^[A-Za-z0-9]/.test(s)) s = `l${s}`;
  return s;
}
