// The rxjs pieces felix-ts uses, each from its own module. `import … from "rxjs"`
// loads rxjs's whole index, some 220 modules (~70 ms of CPU at every start of
// felix and felix-dump); these load ~30 (~20 ms). The classes and functions are
// the very ones the index exports (the same files), so values from either side
// mix. rxjs exports these paths ("./internal/*"); a major upgrade that moves
// them fails the build here, in one place.

export { firstValueFrom } from "rxjs/internal/firstValueFrom";
export { Observable } from "rxjs/internal/Observable";
export { auditTime } from "rxjs/internal/operators/auditTime";
export { filter } from "rxjs/internal/operators/filter";
export { Subject } from "rxjs/internal/Subject";
export type { Subscription } from "rxjs/internal/Subscription";
