/**
 * A small DSL for writing architecture definitions (torchvision's, Chainer's zoo, `--arch
 * spec.json`) as code that reads like the framework's own module: each call adds one graph node,
 * names its parameters the framework's way, tracks NCHW shapes, and records the parameter keys and
 * shapes a weights file must hold — which is how a file's architecture is recognised.
 */
import { GraftError } from '../../errors.js';
import type { Graph, GraphNode, Pair } from '../graph.js';
import { convOutputLength, deconvOutputLength, pair, poolOutputLength, spatialOutput } from '../shapes.js';

/** How a framework names a layer's parameters: `<prefix><separator><name>`. */
export interface ParamNaming {
  separator: string;
  weight: string;
  bias: string;
  mean: string;
  variance: string;
  gamma: string;
  beta: string;
  /** PReLU slope. */
  slope: string;
  /** Keys a layer holds that are not inference parameters (PyTorch's num_batches_tracked). */
  batchNormExtras: string[];
}

export const TORCH_NAMING: ParamNaming = {
  separator: '.',
  weight: 'weight',
  bias: 'bias',
  mean: 'running_mean',
  variance: 'running_var',
  gamma: 'weight',
  beta: 'bias',
  slope: 'weight',
  batchNormExtras: ['num_batches_tracked'],
};

export const CHAINER_NAMING: ParamNaming = {
  separator: '/',
  weight: 'W',
  bias: 'b',
  mean: 'avg_mean',
  variance: 'avg_var',
  gamma: 'gamma',
  beta: 'beta',
  slope: 'W',
  batchNormExtras: ['N'],
};

export interface ConvOptions {
  filters: number;
  kernel: number | Pair;
  stride?: number | Pair;
  pad?: number | Pair;
  dilation?: number | Pair;
  groups?: number;
  bias?: boolean;
}

export interface PoolOptions {
  kernel: number | Pair;
  stride?: number | Pair;
  pad?: number | Pair;
  rounding?: 'floor' | 'ceil' | 'cover_all';
  avgDivisor?: 'padded' | 'valid' | 'window';
}

export interface ExpectedParam {
  shape: number[];
  /** A key the file may hold or lack (BatchNorm counters). */
  optional?: boolean;
}

export class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  /** Every parameter key the architecture binds, with its shape (source layout). */
  readonly expected = new Map<string, ExpectedParam>();
  private readonly shapes = new Map<string, number[]>();
  private readonly names = new Set<string>();
  private counter = 0;
  readonly input = 'input';

  constructor(
    readonly name: string,
    readonly inputShape: number[],
    readonly naming: ParamNaming,
  ) {
    this.shapes.set(this.input, inputShape);
  }

  shapeOf(value: string): number[] {
    const shape = this.shapes.get(value);
    if (!shape) throw new GraftError(`architecture ${this.name}: unknown value ${value}`);
    return shape;
  }

  key(prefix: string, name: string): string {
    return prefix ? `${prefix}${this.naming.separator}${name}` : name;
  }

  private param(key: string, shape: number[], optional = false): string {
    if (this.expected.has(key)) throw new GraftError(`architecture ${this.name}: parameter ${key} is bound twice`);
    this.expected.set(key, { shape, ...(optional ? { optional } : {}) });
    return key;
  }

  private nodeName(wanted: string | undefined, op: string): string {
    let name = wanted ?? `${op}_${++this.counter}`;
    while (this.names.has(name)) name = `${wanted ?? op}_${++this.counter}`;
    this.names.add(name);
    return name;
  }

  private add(node: Omit<GraphNode, 'outputs' | 'name'> & { name?: string }, shape: number[], op: string): string {
    const name = this.nodeName(node.name, op);
    const output = name;
    this.nodes.push({ ...node, name, outputs: [output] } as GraphNode);
    this.shapes.set(output, shape);
    return output;
  }

  conv2d(prefix: string, x: string, options: ConvOptions): string {
    const shape = this.shapeOf(x);
    const kernel = pair(options.kernel, 1);
    const stride = pair(options.stride, 1);
    const pad = pair(options.pad, 0);
    const dilation = pair(options.dilation, 1);
    const groups = options.groups ?? 1;
    const bias = options.bias ?? true;
    const inChannels = shape[1];
    const params: Record<string, string> = {
      W: this.param(this.key(prefix, this.naming.weight), [options.filters, inChannels / groups, kernel[0], kernel[1]]),
    };
    if (bias) params.b = this.param(this.key(prefix, this.naming.bias), [options.filters]);
    const out = spatialOutput(shape, options.filters, (size, axis) => convOutputLength(size, kernel[axis], stride[axis], pad[axis], dilation[axis]));
    return this.add(
      { name: prefix, op: 'conv2d', inputs: [x], attrs: { filters: options.filters, kernel, stride, pad, dilation, groups, bias }, params },
      out,
      'conv',
    );
  }

  deconv2d(prefix: string, x: string, options: ConvOptions): string {
    const shape = this.shapeOf(x);
    const kernel = pair(options.kernel, 1);
    const stride = pair(options.stride, 1);
    const pad = pair(options.pad, 0);
    const dilation = pair(options.dilation, 1);
    const groups = options.groups ?? 1;
    const bias = options.bias ?? true;
    const params: Record<string, string> = {
      W: this.param(this.key(prefix, this.naming.weight), [shape[1], options.filters / groups, kernel[0], kernel[1]]),
    };
    if (bias) params.b = this.param(this.key(prefix, this.naming.bias), [options.filters]);
    const out = spatialOutput(shape, options.filters, (size, axis) => deconvOutputLength(size, kernel[axis], stride[axis], pad[axis], dilation[axis]));
    return this.add(
      { name: prefix, op: 'deconv2d', inputs: [x], attrs: { filters: options.filters, kernel, stride, pad, dilation, groups, bias }, params },
      out,
      'deconv',
    );
  }

  /** Fully connected; a spatial input is flattened in C·H·W order first (as the graph's dense does). */
  dense(prefix: string, x: string, units: number, bias = true): string {
    const shape = this.shapeOf(x);
    const inFeatures = shape.slice(1).reduce((a, b) => a * b, 1);
    const params: Record<string, string> = { W: this.param(this.key(prefix, this.naming.weight), [units, inFeatures]) };
    if (bias) params.b = this.param(this.key(prefix, this.naming.bias), [units]);
    return this.add({ name: prefix, op: 'dense', inputs: [x], attrs: { units, bias }, params }, [shape[0], units], 'dense');
  }

  batchnorm(prefix: string, x: string, eps: number, affine = true): string {
    const channels = this.shapeOf(x)[1];
    const params: Record<string, string> = {
      mean: this.param(this.key(prefix, this.naming.mean), [channels]),
      variance: this.param(this.key(prefix, this.naming.variance), [channels]),
    };
    if (affine) {
      params.gamma = this.param(this.key(prefix, this.naming.gamma), [channels]);
      params.beta = this.param(this.key(prefix, this.naming.beta), [channels]);
    }
    for (const extra of this.naming.batchNormExtras) this.param(this.key(prefix, extra), [], true);
    return this.add(
      { name: prefix, op: 'batchnorm', inputs: [x], attrs: { eps, scale: affine, center: affine }, params },
      this.shapeOf(x),
      'bn',
    );
  }

  prelu(prefix: string, x: string, channelShared: boolean): string {
    const channels = this.shapeOf(x)[1];
    const params = { slope: this.param(this.key(prefix, this.naming.slope), [channelShared ? 1 : channels]) };
    return this.add({ name: prefix, op: 'prelu', inputs: [x], attrs: { channelShared }, params }, this.shapeOf(x), 'prelu');
  }

  relu(x: string, name?: string, negativeSlope = 0): string {
    return this.add({ name, op: 'relu', inputs: [x], attrs: { negativeSlope }, params: {} }, this.shapeOf(x), 'relu');
  }

  activation(op: 'sigmoid' | 'tanh' | 'relu6', x: string, name?: string): string {
    return this.add({ name, op, inputs: [x], attrs: {}, params: {} }, this.shapeOf(x), op);
  }

  pool(mode: 'max' | 'avg', x: string, options: PoolOptions, name?: string): string {
    const kernel = pair(options.kernel, 1);
    const stride = pair(options.stride ?? options.kernel, 1);
    const pad = pair(options.pad, 0);
    const rounding = options.rounding ?? 'floor';
    const shape = this.shapeOf(x);
    const out = spatialOutput(shape, shape[1], (size, axis) => poolOutputLength(size, kernel[axis], stride[axis], pad[axis], rounding));
    return this.add(
      {
        name,
        op: 'pool2d',
        inputs: [x],
        attrs: { mode, kernel, stride, pad, global: false, rounding, avgDivisor: options.avgDivisor ?? 'padded' },
        params: {},
      },
      out,
      `${mode}pool`,
    );
  }

  /** Average or max over all of H×W, keeping NCHW rank ([N, C, 1, 1]). */
  globalPool(mode: 'max' | 'avg', x: string, name?: string): string {
    const shape = this.shapeOf(x);
    return this.add(
      {
        name,
        op: 'pool2d',
        inputs: [x],
        attrs: { mode, kernel: [shape[2], shape[3]], stride: [1, 1], pad: [0, 0], global: true, rounding: 'floor', avgDivisor: 'padded' },
        params: {},
      },
      [shape[0], shape[1], 1, 1],
      `global${mode}pool`,
    );
  }

  adaptivePool(mode: 'max' | 'avg', x: string, output: Pair, name?: string): string {
    const shape = this.shapeOf(x);
    return this.add({ name, op: 'adaptive_pool2d', inputs: [x], attrs: { mode, output }, params: {} }, [shape[0], shape[1], ...output], 'adaptivepool');
  }

  lrn(x: string, options: { size: number; alpha: number; beta: number; k: number }, name?: string): string {
    return this.add({ name, op: 'lrn', inputs: [x], attrs: options, params: {} }, this.shapeOf(x), 'lrn');
  }

  dropout(x: string, rate: number, name?: string): string {
    return this.add({ name, op: 'dropout', inputs: [x], attrs: { rate }, params: {} }, this.shapeOf(x), 'dropout');
  }

  flatten(x: string, name?: string): string {
    const shape = this.shapeOf(x);
    return this.add({ name, op: 'flatten', inputs: [x], attrs: { axis: 1 }, params: {} }, [shape[0], shape.slice(1).reduce((a, b) => a * b, 1)], 'flatten');
  }

  add2(a: string, b: string, name?: string): string {
    return this.add({ name, op: 'eltwise', inputs: [a, b], attrs: { operation: 'sum' }, params: {} }, this.shapeOf(a), 'add');
  }

  concat(xs: string[], name?: string): string {
    const shapes = xs.map((x) => this.shapeOf(x));
    const out = [...shapes[0]];
    out[1] = shapes.reduce((sum, s) => sum + s[1], 0);
    return this.add({ name, op: 'concat', inputs: xs, attrs: { axis: 1 }, params: {} }, out, 'concat');
  }

  softmax(x: string, name?: string): string {
    return this.add({ name, op: 'softmax', inputs: [x], attrs: { axis: 1 }, params: {} }, this.shapeOf(x), 'softmax');
  }

  build(outputs: string[]): Graph {
    const blobs: Record<string, string> = {};
    for (const node of this.nodes) blobs[node.name] = node.outputs[0];
    return {
      name: this.name,
      inputs: [{ name: this.input, shape: this.inputShape }],
      outputs,
      nodes: this.nodes,
      blobs,
    };
  }
}
