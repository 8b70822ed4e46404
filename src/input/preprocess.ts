/**
 * Image → model input, shared by `graft predict`, training and the browser page, so every path
 * feeds a model identical numbers. Pure typed-array code: no tfjs, no Node.
 *
 * x[h, w, c] = (pixel · scale − mean[c]) / std[c], pixels resized bilinearly (half-pixel centres,
 * as OpenCV's INTER_LINEAR and tf.image.resizeBilinear(halfPixelCenters)) and laid out HWC in
 * `channelOrder`.
 */

export interface Pixels {
  /** Row-major, `channels` interleaved values per pixel (RGB, RGBA, gray or gray+alpha). */
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

export interface InputSpec {
  height: number;
  width: number;
  channelOrder: 'RGB' | 'BGR' | 'GRAY';
  scale: number;
  mean: number[];
  std: number[];
}

/** Returns [height, width, C] float32 data (C = 1 for GRAY, else 3). */
export function imageToInput(pixels: Pixels, spec: InputSpec): Float32Array {
  const rgb = toRgbOrGray(pixels, spec.channelOrder === 'GRAY');
  const channels = spec.channelOrder === 'GRAY' ? 1 : 3;
  const resized = resizeBilinear(rgb, pixels.width, pixels.height, channels, spec.width, spec.height);
  const out = new Float32Array(resized.length);
  const order = spec.channelOrder === 'BGR' ? [2, 1, 0] : channels === 1 ? [0] : [0, 1, 2];
  const mean = expand(spec.mean, channels, 0);
  const std = expand(spec.std, channels, 1);
  for (let p = 0; p < spec.width * spec.height; p++) {
    for (let c = 0; c < channels; c++) {
      out[p * channels + c] = (resized[p * channels + order[c]] * spec.scale - mean[c]) / std[c];
    }
  }
  return out;
}

function expand(values: number[], channels: number, fallback: number): number[] {
  if (values.length === 0) return new Array(channels).fill(fallback);
  if (values.length === 1) return new Array(channels).fill(values[0]);
  if (values.length !== channels) throw new RangeError(`${values.length} values given for ${channels} channels`);
  return values;
}

/** Drops alpha; gray uses ITU-R 601 luma (PIL's 'L' and OpenCV), exact for R = G = B. */
function toRgbOrGray(pixels: Pixels, gray: boolean): Float32Array {
  const { data, width, height, channels } = pixels;
  const n = width * height;
  const out = new Float32Array(n * (gray ? 1 : 3));
  for (let p = 0; p < n; p++) {
    const i = p * channels;
    let r: number, g: number, b: number;
    if (channels <= 2) r = g = b = data[i];
    else {
      r = data[i];
      g = data[i + 1];
      b = data[i + 2];
    }
    if (gray) out[p] = r === g && g === b ? r : (r * 299 + g * 587 + b * 114) / 1000;
    else {
      out[p * 3] = r;
      out[p * 3 + 1] = g;
      out[p * 3 + 2] = b;
    }
  }
  return out;
}

export function resizeBilinear(
  data: Float32Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
): Float32Array {
  if (width === outWidth && height === outHeight) return data;
  const out = new Float32Array(outWidth * outHeight * channels);
  const sy = height / outHeight;
  const sx = width / outWidth;
  for (let y = 0; y < outHeight; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, height - 1);
    const wy = fy - y0;
    for (let x = 0; x < outWidth; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, width - 1);
      const wx = fx - x0;
      for (let c = 0; c < channels; c++) {
        const a = data[(y0 * width + x0) * channels + c];
        const b = data[(y0 * width + x1) * channels + c];
        const d = data[(y1 * width + x0) * channels + c];
        const e = data[(y1 * width + x1) * channels + c];
        out[(y * outWidth + x) * channels + c] = (a * (1 - wx) + b * wx) * (1 - wy) + (d * (1 - wx) + e * wx) * wy;
      }
    }
  }
  return out;
}
