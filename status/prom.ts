// prom-client's metric classes, loaded without its index: the index also
// loads the cluster aggregator, the pushgateway (http, https) and the default
// process metrics, ~25 ms of every start, and `felix --once` serves no metrics
// (the daemon loads the index for collectDefaultMetrics when it serves them).
// test/status/prom.test.ts checks these are the very classes the index exports.

import { createRequire } from "node:module";
import type * as Prom from "prom-client";

const load = createRequire(import.meta.url);

export const Counter: typeof Prom.Counter = load("prom-client/lib/counter.js");
export const Gauge: typeof Prom.Gauge = load("prom-client/lib/gauge.js");
export const Histogram: typeof Prom.Histogram = load("prom-client/lib/histogram.js");
export const Registry: typeof Prom.Registry = load("prom-client/lib/registry.js");
export type Counter<T extends string = string> = Prom.Counter<T>;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export type Histogram<T extends string = string> = Prom.Histogram<T>;
export type Registry = Prom.Registry;
