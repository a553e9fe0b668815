/** The scenario `felix demo` runs without --scenario: a directory under examples/. */
export const DEFAULT_SCENARIO = "default-deny";
