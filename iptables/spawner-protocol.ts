// Messages between the agent and its spawn helper (spawner.ts, spawner-child.ts).

export type ToHelper =
  | { op: "spawn"; id: number; cmd: string; args: readonly string[]; env?: NodeJS.ProcessEnv }
  | { op: "write"; id: number; data: Buffer }
  | { op: "end"; id: number }
  | { op: "kill"; id: number; signal: NodeJS.Signals };

export type FromHelper =
  | { op: "ready"; id: 0 }
  | { op: "out"; id: number; fd: 1 | 2; data: Buffer | Uint8Array }
  | { op: "written"; id: number }
  | { op: "error"; id: number; code?: string; message: string }
  | { op: "close"; id: number; code: number | null; signal: NodeJS.Signals | null };
