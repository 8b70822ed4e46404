/** PNG/JPEG (and whatever else libvips reads) → raw pixels at native size, in Node, via sharp. */
import sharp from 'sharp';
import { FormatError } from '../errors.js';
import type { Pixels } from './preprocess.js';

export async function decodeImageFile(file: string): Promise<Pixels> {
  try {
    const { data, info } = await sharp(file).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels < 1 || info.channels > 4) throw new Error(`${info.channels} channels`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: info.channels as Pixels['channels'] };
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    throw new FormatError(file, undefined, `cannot decode image (${message})`);
  }
}
