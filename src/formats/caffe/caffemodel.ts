/**
 * The binary .caffemodel: a serialized NetParameter whose layers carry their blobs. Decoding keeps
 * every weight in the file buffer (see blob.ts) and turns every failure into a FormatError that
 * names the file and the byte offset.
 */
import protobuf from 'protobufjs';
import { FormatError, GraftError } from '../../errors.js';
import { float32Tensor, sizeOf, type TensorMap } from '../../tensor/tensor.js';
import { blobDims, blobValueCount, blobValues } from './blob.js';
import { readFileWithProgress, type ProgressCallback } from '../../util/files.js';
import { caffeSchema, type LayerMsg, type NetMsg } from './schema.js';

export interface Caffemodel {
  net: NetMsg;
  /** `<layer>/<blob index>` → float32 tensor in the blob's declared shape. */
  tensors: TensorMap;
  /** Layers in file order (`layer` or V1 `layers`), blobs included. */
  layers: LayerMsg[];
}

export async function readCaffemodel(file: string, onProgress?: ProgressCallback): Promise<Caffemodel> {
  return decodeCaffemodel(readFileWithProgress(file, onProgress), file);
}

/** `bytes` becomes the backing store of the tensors and is modified (payloads aligned in place). */
export function decodeCaffemodel(bytes: Uint8Array, file: string): Caffemodel {
  const net = decodeNet(bytes, file);
  const layers = net.layer.length > 0 ? net.layer : net.layers;
  if (net.layer.length > 0 && net.layers.length > 0) {
    throw new FormatError(file, undefined, 'the net has both `layer` and legacy `layers` entries');
  }
  if (layers.length === 0) {
    throw new FormatError(file, bytes.byteLength, 'the NetParameter ends without any layer (not a Caffe model, or truncated)');
  }
  return { net, layers, tensors: layerTensors(layers, file) };
}

function decodeNet(bytes: Uint8Array, file: string): NetMsg {
  const { net } = caffeSchema();
  const reader = protobuf.Reader.create(bytes);
  try {
    return net.decode(reader) as unknown as NetMsg;
  } catch (error) {
    if (error instanceof GraftError) throw error;
    const message = (error as Error).message ?? String(error);
    const truncated = /index out of range|runs past/.test(message);
    throw new FormatError(
      file,
      reader.pos,
      truncated ? `truncated or corrupt protobuf (${message})` : `not a valid Caffe NetParameter (${message})`,
    );
  }
}

function layerTensors(layers: LayerMsg[], file: string): TensorMap {
  const tensors: TensorMap = new Map();
  const counts = new Map<string, number>();
  for (const layer of layers) {
    const name = layer.name ?? '';
    if (layer.blobs.length === 0) continue;
    // A train/val net may repeat a layer name; Caffe copies weights layer by layer, so the last wins.
    for (let i = 0; i < (counts.get(name) ?? 0); i++) tensors.delete(`${name}/${i}`);
    counts.set(name, layer.blobs.length);
    layer.blobs.forEach((blob, index) => {
      const key = `${name}/${index}`;
      const count = blobValueCount(blob);
      // A blob with neither shape nor values is empty; keep its index so later blobs keep theirs.
      const dims = blobDims(blob) ?? (count === 0 ? [0] : null);
      if (dims === null) {
        throw new FormatError(file, blob.offset, `layer '${name}' blob ${index} has ${count} values but no shape`);
      }
      if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
        throw new FormatError(file, blob.offset, `layer '${name}' blob ${index} has an invalid shape [${dims.join(', ')}]`);
      }
      if (sizeOf(dims) !== count) {
        throw new FormatError(
          file,
          blob.offset,
          `layer '${name}' blob ${index}: shape [${dims.join(', ')}] needs ${sizeOf(dims)} values, the file holds ${count}`,
        );
      }
      tensors.set(key, float32Tensor(dims, blobValues(blob)));
    });
  }
  return tensors;
}
