// The sizes of the synthetic clusters (bench/scale.ts): a spec, the named presets
// and the node under test.

export type PresetName = "small" | "medium" | "large" | "xl";

export interface ScaleSpec {
  readonly nodes: number;
  readonly pods: number;
  /** Pods on `node-0`, the node under test. */
  readonly localPods: number;
  readonly namespaces: number;
  readonly serviceAccounts: number;
  readonly policies: number;
  readonly services: number;
  readonly endpointsPerService: number;
}

export const PRESETS: Readonly<Record<PresetName, ScaleSpec>> = {
  small: {
    nodes: 5,
    pods: 100,
    localPods: 20,
    namespaces: 5,
    serviceAccounts: 10,
    policies: 20,
    services: 10,
    endpointsPerService: 3,
  },
  medium: {
    nodes: 20,
    pods: 2_000,
    localPods: 100,
    namespaces: 20,
    serviceAccounts: 60,
    policies: 400,
    services: 1_000,
    endpointsPerService: 10,
  },
  large: {
    nodes: 100,
    pods: 10_000,
    localPods: 200,
    namespaces: 100,
    serviceAccounts: 300,
    policies: 2_000,
    services: 5_000,
    endpointsPerService: 10,
  },
  xl: {
    nodes: 500,
    pods: 50_000,
    localPods: 250,
    namespaces: 500,
    serviceAccounts: 1_500,
    policies: 10_000,
    services: 20_000,
    endpointsPerService: 10,
  },
};

export function isPresetName(s: string): s is PresetName {
  return Object.hasOwn(PRESETS, s);
}

export const LOCAL_NODE = "node-0";
