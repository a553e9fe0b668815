// Moved to model/resource.ts (the ground floor); kept so existing imports compile.
export * from "../../model/resource.js";
