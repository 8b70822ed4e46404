/** The PNG reports: training curves (Chainer's PlotReport) and 2-D decision boundaries. */
export { plotCurves, curvesSpec, type CurvesOptions } from './curves.js';
export {
  plotDecisionBoundary,
  decisionBoundarySpec,
  decisionGridPoints,
  type DecisionBoundaryOptions,
} from './boundary.js';
