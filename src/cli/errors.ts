// Exit codes shared by the commands: 0 done, 1 could not do it (or, for
// `felix-dump diff --live`, out of sync), 2 bad flags, configuration or input.

import { type Command, CommanderError } from "commander";

/** Bad flags, configuration or input: exit 2. */
export class UsageError extends Error {}

/** The command could not do its job (not root, a tool missing, the kernel refused): exit 1. */
export class RuntimeError extends Error {}

/** Exit 1 without a message (the command printed its own output). */
export class SilentFailure extends Error {}

/** Parses and runs `program`, mapping errors to exit codes with a one-line message. */
export async function runProgram(name: string, program: Command, argv: string[]): Promise<number> {
  try {
    await program.exitOverride().parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are not errors; commander has printed its message.
      return e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof SilentFailure) return 1;
    if (e instanceof UsageError || e instanceof RuntimeError) {
      process.stderr.write(`${name}: ${e.message}\n`);
      return e instanceof UsageError ? 2 : 1;
    }
    throw e;
  }
}
