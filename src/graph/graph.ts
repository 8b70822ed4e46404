/**
 * The framework-neutral layer graph, in the source's own NCHW semantics. Readers (formats/) and
 * architecture definitions produce it; the tfjs builder consumes it. Values are SSA: every node
 * output id is written once (a Caffe in-place layer gets a fresh id; `Graph.blobs` maps the
 * source's blob names to their final ids).
 */

/** [height, width] */
export type Pair = [number, number];

interface NodeBase<Op extends string, Attrs> {
  /** The source's layer name; becomes the tfjs layer name. Unique within a graph. */
  name: string;
  op: Op;
  inputs: string[];
  outputs: string[];
  attrs: Attrs;
  /** Parameter role (`W`, `b`, `mean`...) → key in the source TensorMap. */
  params: Record<string, string>;
}

/** W: [O, I/groups, kh, kw], b: [O]. */
export type Conv2dNode = NodeBase<'conv2d', {
  filters: number;
  kernel: Pair;
  stride: Pair;
  /** Symmetric zero padding per side. */
  pad: Pair;
  dilation: Pair;
  groups: number;
  bias: boolean;
}>;

/** Transposed convolution. W: [I, O/groups, kh, kw], b: [O]. Output = stride·(in−1) + dilation·(k−1) + 1 − 2·pad. */
export type Deconv2dNode = NodeBase<'deconv2d', {
  filters: number;
  kernel: Pair;
  stride: Pair;
  pad: Pair;
  dilation: Pair;
  groups: number;
  bias: boolean;
}>;

/**
 * Fully connected. W: [out, in], b: [out]. A spatial input (rank 4) is flattened first in C·H·W
 * order, as Caffe's InnerProduct does implicitly.
 */
export type DenseNode = NodeBase<'dense', { units: number; bias: boolean }>;

/**
 * rounding: 'floor' = standard; 'ceil' = Caffe and PyTorch ceil_mode: out = ceil((in + 2p − k)/s) + 1,
 * minus one when the last window would start at or past in + p; 'cover_all' = Chainer:
 * out = floor((in + 2p − k + s − 1)/s) + 1.
 * avgDivisor (avg only): 'padded' counts padding but not the overhang past in + p (Caffe, PyTorch
 * count_include_pad); 'valid' counts real elements only; 'window' always k·k (Chainer).
 */
export type Pool2dNode = NodeBase<'pool2d', {
  mode: 'max' | 'avg';
  kernel: Pair;
  stride: Pair;
  pad: Pair;
  global: boolean;
  rounding: 'floor' | 'ceil' | 'cover_all';
  avgDivisor: 'padded' | 'valid' | 'window';
}>;

/** PyTorch AdaptiveAvgPool2d / AdaptiveMaxPool2d. */
export type AdaptivePool2dNode = NodeBase<'adaptive_pool2d', { mode: 'max' | 'avg'; output: Pair }>;

export type ReluNode = NodeBase<'relu', { negativeSlope: number }>;
/** slope: [C], or [1] when shared across channels. */
export type PreluNode = NodeBase<'prelu', { channelShared: boolean }>;
export type ActivationNode = NodeBase<'sigmoid' | 'tanh' | 'relu6', Record<string, never>>;

/**
 * Across-channel local response normalization: y = x / (k + alpha · Σ_window x²)^beta over `size`
 * channels centred on each. Caffe's and PyTorch's alpha must be divided by size before it gets here.
 */
export type LrnNode = NodeBase<'lrn', { size: number; alpha: number; beta: number; k: number }>;

/** Inference batch norm on axis 1. params: mean, variance, and gamma/beta when present. */
export type BatchNormNode = NodeBase<'batchnorm', { eps: number; scale: boolean; center: boolean }>;

/** Per-channel (axis 1) y = x · gamma (+ beta). params: gamma, beta when bias. */
export type ScaleNode = NodeBase<'scale', { bias: boolean }>;

export type DropoutNode = NodeBase<'dropout', { rate: number }>;
/** axis in the source's layout (1 = channels for NCHW). */
export type SoftmaxNode = NodeBase<'softmax', { axis: number }>;
export type ConcatNode = NodeBase<'concat', { axis: number }>;
export type EltwiseNode = NodeBase<'eltwise', { operation: 'sum' | 'prod' | 'max'; coeffs?: number[] }>;
/** Flattens axes [axis, end) in the source's (C·H·W) order. */
export type FlattenNode = NodeBase<'flatten', { axis: number }>;
export type IdentityNode = NodeBase<'identity', Record<string, never>>;

export type GraphNode =
  | Conv2dNode
  | Deconv2dNode
  | DenseNode
  | Pool2dNode
  | AdaptivePool2dNode
  | ReluNode
  | PreluNode
  | ActivationNode
  | LrnNode
  | BatchNormNode
  | ScaleNode
  | DropoutNode
  | SoftmaxNode
  | ConcatNode
  | EltwiseNode
  | FlattenNode
  | IdentityNode;

export type Op = GraphNode['op'];

export interface GraphInput {
  /** SSA id of the input value. */
  name: string;
  /** Source layout, batch first (NCHW for images, [N, features] for tabular). */
  shape: number[];
}

export interface Graph {
  name: string;
  inputs: GraphInput[];
  /** SSA ids of the model outputs. */
  outputs: string[];
  /** Nodes in topological order. */
  nodes: GraphNode[];
  /** Source blob name → SSA id of its final value (Caffe in-place layers rewrite blobs). */
  blobs: Record<string, string>;
}
