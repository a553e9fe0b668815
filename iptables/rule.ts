// Moved to model/rule.ts (the backend-neutral rule model); kept so existing imports compile.
export * from "../model/rule.js";
