/**
 * Vega spec → SVG → PNG, with text that renders on a machine without any fonts installed.
 *
 * Vega's SVG renderer needs no canvas, and resvg (a Rust renderer shipped as a prebuilt binary inside its
 * npm package) rasterizes the SVG. resvg is told to ignore the system's fonts and use only DejaVu Sans
 * from the `dejavu-fonts-ttf` npm package, so a PNG looks the same on a developer's desktop and on a bare
 * CI machine, where sharp/librsvg would find no font and silently drop every label.
 *
 * vega is imported on first use: it takes a few hundred milliseconds to load, and a training run that
 * only logs should not pay for it.
 */
import { createRequire } from 'node:module';
import type { Spec } from 'vega';
import { writeFileAtomically } from './write-atomic.js';

export const PLOT_FONT_FAMILY = 'DejaVu Sans';

const require = createRequire(import.meta.url);
/** Regular for labels, bold for titles (otherwise resvg would fake bold, or not bold at all). */
export const PLOT_FONT_FILES: readonly string[] = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((name) =>
  require.resolve(`dejavu-fonts-ttf/ttf/${name}`),
);

/** PNG pixels per SVG pixel: 2 keeps lines and text crisp on high-density screens and in slides. */
export const PNG_SCALE = 2;

type VegaModule = typeof import('vega');
let vegaModule: Promise<VegaModule> | undefined;
const loadVega = () =>
  (vegaModule ??= Promise.all([import('vega'), import('./text-metrics.js')]).then(([vega, metrics]) => {
    // vega's typings leave out textMetrics, the hook for a host's own text measurement.
    metrics.installTextMetrics((vega as unknown as { textMetrics: Parameters<typeof metrics.installTextMetrics>[0] }).textMetrics);
    return vega;
  }));

/** Renders a Vega spec to SVG text (no canvas involved). */
export async function vegaToSvg(spec: Spec): Promise<string> {
  const vega = await loadVega();
  // Vega's warnings (an empty extent, say) would interleave with the training log; errors still throw.
  const view = new vega.View(vega.parse(spec), { renderer: 'none', logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface RasterOptions {
  /** Font files resvg may use; tests pass [] to show what a render without fonts looks like. */
  fontFiles?: readonly string[];
  scale?: number;
}

/** Rasterizes SVG text to PNG bytes using only the given font files, never the system's. */
export async function svgToPng(svg: string, options: RasterOptions = {}): Promise<Buffer> {
  const { Resvg } = await import('@resvg/resvg-js');
  const resvg = new Resvg(svg, {
    font: {
      loadSystemFonts: false,
      fontFiles: [...(options.fontFiles ?? PLOT_FONT_FILES)],
      defaultFontFamily: PLOT_FONT_FAMILY,
      sansSerifFamily: PLOT_FONT_FAMILY,
    },
    fitTo: { mode: 'zoom', value: options.scale ?? PNG_SCALE },
    background: 'white',
  });
  return resvg.render().asPng();
}

/** Renders a spec to a PNG file (written atomically: a viewer never sees half an image). */
export async function writeVegaPng(spec: Spec, file: string): Promise<void> {
  await writeFileAtomically(file, await svgToPng(await vegaToSvg(spec)));
}

/**
 * Settings every graft plot shares: the shipped font everywhere, white background, and a fixed overall
 * size (autosize 'fit'), so a PNG's dimensions do not depend on how long the labels are.
 */
export function baseSpec(width: number, height: number): Pick<Spec, 'width' | 'height' | 'padding' | 'autosize' | 'background' | 'config'> {
  return {
    width,
    height,
    padding: 12,
    autosize: { type: 'fit', contains: 'padding' },
    background: 'white',
    config: {
      text: { font: PLOT_FONT_FAMILY },
      title: { font: PLOT_FONT_FAMILY, fontSize: 15 },
      axis: { labelFont: PLOT_FONT_FAMILY, titleFont: PLOT_FONT_FAMILY, labelFontSize: 11, titleFontSize: 13 },
      legend: { labelFont: PLOT_FONT_FAMILY, titleFont: PLOT_FONT_FAMILY, labelFontSize: 12, labelLimit: 400 },
    },
  };
}
