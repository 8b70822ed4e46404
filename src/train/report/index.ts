/**
 * What `graft finetune` writes while it trains, in Chainer's forms: log.json (LogReport), a text line per
 * epoch (PrintReport), loss.png / accuracy.png (PlotReport), a progress bar on a terminal, and a
 * decision-boundary PNG for 2-D inputs. Plain Node: nothing here touches tfjs.
 */
export type { EpochRecord, CurveKey } from './types.js';
export { LogReport, LOG_FILE_NAME, formatLog, parseLog } from './log.js';
export { printReportHeader, printReportRow, PRINT_REPORT_COLUMNS } from './print.js';
export { epochProgress, type EpochProgress } from './progress.js';
export * from './plot.js';
