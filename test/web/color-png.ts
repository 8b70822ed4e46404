/**
 * The colour test image of the browser tests: a 120×90 gradient with a disc, so that resizing,
 * channel order and mean/std all change the numbers a page computes.
 */
import sharp from 'sharp';

export async function writeColorPng(file: string): Promise<void> {
  const width = 120;
  const height = 90;
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = Math.round((x * 255) / (width - 1));
      data[i + 1] = Math.round((y * 255) / (height - 1));
      data[i + 2] = (x - 60) ** 2 + (y - 45) ** 2 < 900 ? 230 : 40;
    }
  }
  await sharp(data, { raw: { width, height, channels: 3 } }).png().toFile(file);
}
