// Splits one of our rule statements into tokens: words, "quoted strings"
// (kept with their quotes), and `{ }` and a list's `, ` on their own (a
// comma inside a word, as in `ct state established,related`, stays in it).
// Our renderer separates everything else by single spaces.

import { NetlinkUnsupported } from "./elements.js";

export function tokenize(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === " ") {
      i++;
    } else if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) throw new NetlinkUnsupported("an unclosed quote");
      out.push(text.slice(i, end + 1));
      i = end + 1;
    } else if (c === "{" || c === "}" || c === ",") {
      out.push(c);
      i++;
    } else {
      let j = i;
      while (j < text.length && !' "{}'.includes(text[j]) && !(text[j] === "," && text[j + 1] === " ")) j++;
      out.push(text.slice(i, j));
      i = j;
    }
  }
  return out;
}
