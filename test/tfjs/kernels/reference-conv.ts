/**
 * Both gradients of a 2-D convolution (plain or depthwise, NHWC/HWIO, any stride, dilation and
 * padding) by the definition, in float64: the reference where the cpu backend cannot serve, as
 * its depthwise backprop kernels ignore dilation (tfjs-backend-cpu 4.22
 * DepthwiseConv2dNativeBackpropFilter/Input step through the taps undilated).
 *
 *   y[n, i, j, o] = Σ_{u, v, c} x[n, i·sh + u·dh − pt, j·sw + v·dw − pl, c] · w[u, v, c, ·]
 * so dx and dw collect dy[n, i, j, o] times the other factor of each product.
 */
import type * as tf from '@tensorflow/tfjs';

export interface ConvGradients {
  dx: Float64Array;
  dw: Float64Array;
}

export function referenceConvGradients(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  dy: ArrayLike<number>,
  info: tf.backend_util.Conv2DInfo,
  depthwise: boolean,
): ConvGradients {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const multiplier = outChannels / inChannels;
  const dx = new Float64Array(batchSize * inHeight * inWidth * inChannels);
  const dw = new Float64Array(filterHeight * filterWidth * inChannels * (depthwise ? multiplier : outChannels));
  for (let n = 0; n < batchSize; n++) {
    for (let i = 0; i < outHeight; i++) {
      for (let j = 0; j < outWidth; j++) {
        for (let u = 0; u < filterHeight; u++) {
          const r = i * strideHeight + u * dilationHeight - info.padInfo.top;
          if (r < 0 || r >= inHeight) continue;
          for (let v = 0; v < filterWidth; v++) {
            const c = j * strideWidth + v * dilationWidth - info.padInfo.left;
            if (c < 0 || c >= inWidth) continue;
            for (let o = 0; o < outChannels; o++) {
              const g = dy[((n * outHeight + i) * outWidth + j) * outChannels + o];
              const channels = depthwise ? [Math.floor(o / multiplier)] : Array.from({ length: inChannels }, (_, k) => k);
              for (const ci of channels) {
                const xi = ((n * inHeight + r) * inWidth + c) * inChannels + ci;
                const wi = depthwise
                  ? ((u * filterWidth + v) * inChannels + ci) * multiplier + (o % multiplier)
                  : ((u * filterWidth + v) * inChannels + ci) * outChannels + o;
                dx[xi] += g * w[wi];
                dw[wi] += g * x[xi];
              }
            }
          }
        }
      }
    }
  }
  return { dx, dw };
}
