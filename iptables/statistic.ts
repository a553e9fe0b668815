// The `statistic` match's probability, as iptables-save prints it back.
// kube-proxy writes 1/n with 10 decimals (`%0.10f`); the kernel keeps
// lround(p · 2^31) and iptables-save prints that value over 2^31 with 11
// decimals, so 0.3333333333 reads back as 0.33333333349. We render the
// read-back form, so what we write is what iptables-save shows.

const TWO31 = 0x80000000n;

/** The kernel's 31-bit fixed-point value for a probability given as text. */
export function probabilityToKernel(text: string): number {
  return Math.round(Number(text) * 0x80000000);
}

/** `%.11f` of kernel / 2^31, exactly (ties to even, as printf does). */
export function kernelProbabilityText(kernel: number): string {
  const scaled = BigInt(kernel) * 10n ** 11n;
  let q = scaled / TWO31;
  const r = scaled % TWO31;
  if (r * 2n > TWO31 || (r * 2n === TWO31 && q % 2n === 1n)) q += 1n;
  const s = q.toString().padStart(12, "0");
  return `${s.slice(0, -11)}.${s.slice(-11)}`;
}

/** kube-proxy's computeProbability(n): 1/n with 10 decimals. */
export function kubeProxyProbability(n: number): string {
  return (1 / n).toFixed(10);
}

/** The probability text for "one of n", as iptables-save prints it (remembered: every service asks for 2..E). */
export function probabilityText(n: number): string {
  let t = probabilities.get(n);
  if (t === undefined) {
    t = kernelProbabilityText(probabilityToKernel(kubeProxyProbability(n)));
    if (probabilities.size < 10_000) probabilities.set(n, t);
  }
  return t;
}

const probabilities = new Map<number, string>();
