/**
 * One view of a net's layers whatever their vintage: `layer` (LayerParameter, string types) or the
 * pre-2015 `layers` (V1LayerParameter, enum types), and Caffe's phase rules to pick the layers of the
 * inference (TEST) net out of a train/val net.
 */
import { caffeSchema, isSet, toInt, type LayerMsg, type NetMsg, type NetStateRuleMsg } from './schema.js';

export interface CaffeLayer {
  name: string;
  /** The current type string (`Convolution`); V1 enum types are translated. */
  type: string;
  bottom: string[];
  top: string[];
  /** The message itself: its `*_param` fields and `transform_param`. */
  message: LayerMsg;
}

/** V1 LayerType names whose current type string is not simply their CamelCase form. */
const V1_TYPE_NAMES: Record<string, string> = {
  NONE: '',
  ABSVAL: 'AbsVal',
  ARGMAX: 'ArgMax',
  BNLL: 'BNLL',
  HDF5_DATA: 'HDF5Data',
  HDF5_OUTPUT: 'HDF5Output',
  IM2COL: 'Im2col',
  INNER_PRODUCT: 'InnerProduct',
  LRN: 'LRN',
  MVN: 'MVN',
  RELU: 'ReLU',
  SOFTMAX_LOSS: 'SoftmaxWithLoss',
  TANH: 'TanH',
};

function v1TypeName(enumName: string): string {
  if (enumName in V1_TYPE_NAMES) return V1_TYPE_NAMES[enumName];
  // CONVOLUTION → Convolution, DUMMY_DATA → DummyData, EUCLIDEAN_LOSS → EuclideanLoss.
  return enumName
    .split('_')
    .map((word) => word[0] + word.slice(1).toLowerCase())
    .join('');
}

export function netLayers(net: NetMsg): CaffeLayer[] {
  const { v1LayerTypes } = caffeSchema();
  const legacy = net.layer.length === 0;
  const messages = legacy ? net.layers : net.layer;
  return messages.map((message) => {
    let type: string;
    if (legacy) {
      const enumName = v1LayerTypes[message.type as number];
      type = enumName === undefined ? `V1 layer type ${String(message.type)}` : v1TypeName(enumName);
    } else {
      type = String(message.type ?? '');
    }
    return { name: String(message.name ?? ''), type, bottom: message.bottom, top: message.top, message };
  });
}

/** The inference state Caffe's `Net` uses for deployment. */
export const TEST_STATE = { phase: 1, level: 0, stages: [] as string[] };
export type NetState = typeof TEST_STATE;

// Same rules as Caffe's Net::StateMeetsRule: every condition the rule sets must hold.
function stateMeetsRule(state: NetState, rule: NetStateRuleMsg): boolean {
  if (isSet(rule, 'phase') && rule.phase !== state.phase) return false;
  if (isSet(rule, 'min_level') && state.level < toInt(rule.min_level)) return false;
  if (isSet(rule, 'max_level') && state.level > toInt(rule.max_level)) return false;
  if (rule.stage.some((stage) => !state.stages.includes(stage))) return false;
  if (rule.not_stage.some((stage) => state.stages.includes(stage))) return false;
  return true;
}

/** Caffe's Net::FilterNet: `include` rules (any one suffices) win over `exclude` rules. */
export function inState(layer: CaffeLayer, state: NetState = TEST_STATE): boolean {
  const { include, exclude } = layer.message;
  if (include.length > 0) return include.some((rule) => stateMeetsRule(state, rule));
  return !exclude.some((rule) => stateMeetsRule(state, rule));
}
