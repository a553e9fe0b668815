// The bench's progress lines, on stderr so that stdout holds only the report.

export const progress = (msg: string) => process.stderr.write(`· ${msg}\n`);
