/**
 * `--arch spec.json`: a documented layer-list format for custom models whose weights bind by
 * state-dict key (PyTorch names) or Chainer link path. Being written: see the PyTorch issue.
 */
import { UnsupportedError } from '../errors.js';
import type { SourceFormat } from '../formats/source.js';
import type { Architecture } from './architectures/registry.js';

export async function readArchitectureSpec(file: string, format: SourceFormat): Promise<Architecture> {
  throw new UnsupportedError(`${file}: --arch spec files are not supported yet (${format})`);
}
