// Moved to model/names.ts (backend-neutral); kept so existing imports compile.
export * from "../model/names.js";
