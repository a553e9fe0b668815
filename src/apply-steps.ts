// Where one apply's time goes: each step's wall time, logged with the apply (`stepsMs`).

/** Times the steps of one apply. */
export class Steps {
  readonly ms: Record<string, number> = {};
  private t = performance.now();
  /** Closes the step that ran since the last mark. */
  mark(step: string): void {
    const now = performance.now();
    this.ms[step] = +(now - this.t).toFixed(1);
    this.t = now;
  }
}
