// Moved to model/tables.ts (backend-neutral); kept so existing imports compile.
export * from "../model/tables.js";
