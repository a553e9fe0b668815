// The last line of defence against injection into `nft -f` input. One nft
// script holds many commands: a newline, or a `;` outside a quoted string,
// starts the next one (`flush ruleset`), and an unbalanced `}` closes the
// block a rule sits in. Names and comments arrive validated from the graph;
// this refuses the text anyway rather than hand the kernel a second command.

export class UnsafeNftTextError extends Error {
  constructor(message: string) {
    super(`refusing nft input: ${message}`);
    this.name = "UnsafeNftTextError";
  }
}

/**
 * nft's NFT_NAME_MAXLEN is 256 with the NUL; our names are short tokens. `/`
 * is an nft identifier character: the all-interfaces host endpoint's chains
 * (`filter-cali-fh-/all`) use it because no interface name can hold one.
 */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_./-]{0,254}$/;

export function isSafeNftName(name: string): boolean {
  return NAME.test(name);
}

export function assertSafeNftName(name: string): void {
  if (!NAME.test(name)) throw new UnsafeNftTextError(`name ${JSON.stringify(name)} is not one safe token`);
}

/** A set element read back from the kernel that we may write in a `delete element` (addresses, ports, protocols). */
export function isSafeNftElement(e: string): boolean {
  return /^[0-9A-Za-z:./-]+( \. [0-9A-Za-z:./-]+)*$/.test(e);
}

/**
 * Throws unless `text` is one rule statement: no newline or NUL, quotes
 * closed, and outside quotes no `;` or `#` and braces that balance.
 */
export function assertSafeNftRule(text: string): void {
  let quoted = false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\n" || c === "\r" || c === "\0") throw unsafe(text, "a line break or NUL");
    if (c === '"') quoted = !quoted;
    else if (quoted) continue;
    else if (c === ";" || c === "#") throw unsafe(text, `a ${c} outside quotes`);
    else if (c === "{") depth++;
    else if (c === "}" && --depth < 0) throw unsafe(text, "an unmatched }");
  }
  if (quoted || depth !== 0) throw unsafe(text, "an unclosed quote or brace");
}

function unsafe(text: string, what: string): UnsafeNftTextError {
  return new UnsafeNftTextError(`rule ${JSON.stringify(text.slice(0, 200))} holds ${what}`);
}
