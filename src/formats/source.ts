import type { TensorMap } from '../tensor/tensor.js';
import type { Graph } from '../graph/graph.js';

/** How the source framework expects an image: x = (pixel · scale − mean[c]) / std[c], channels in `channelOrder`. */
export interface InputConvention {
  channelOrder?: 'RGB' | 'BGR' | 'GRAY';
  /** Multiplies 0..255 pixel values first. */
  scale?: number;
  /** Per channel, in scaled units, in `channelOrder`. */
  mean?: number[];
  std?: number[];
}

export type SourceFormat = 'caffe' | 'pytorch' | 'chainer';

/** What a reader returns: every tensor of the file, and the layer graph when the file has one. */
export interface SourceModel {
  format: SourceFormat;
  /** The weights file (and the structure file, when separate). */
  path: string;
  structurePath?: string;
  /** Hex sha256 of the weights file, when the reader hashed it while reading. */
  sha256?: string;
  tensors: TensorMap;
  graph?: Graph;
  input?: InputConvention;
  warnings: string[];
}

/** One module per format implements this; the registry asks each `match` and opens with the surest. */
export interface FormatReader<Options = unknown> {
  format: SourceFormat;
  /** 0 (not mine) .. 1 (certain), from the file's first bytes and its path. */
  match(head: Uint8Array, path: string): number;
  open(path: string, options?: Options): Promise<SourceModel>;
}
