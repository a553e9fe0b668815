// Moved to model/k8s.ts (the ground floor); kept so existing imports compile.
export * from "../../model/k8s.js";
