// Which local endpoints claim each workload interface name. The name is
// `cali` + 44 bits of sha1(`<namespace>.<pod>`), so two pods can collide (a
// birthday search finds a pair in minutes). An interface with two claimants is
// programmed as neither pod's (chains that drop, no routes): one pod must
// never run the other's policy. The refcount also keeps an interface's chains
// until its last claimant goes, so dispatch never jumps to a deleted chain.

export class IfaceOwners {
  private readonly owners = new Map<string, Set<string>>();
  private readonly ifaceOf = new Map<string, string>();

  /** Records that `key` now claims `iface` (undefined: none); returns the interfaces whose claimants changed. */
  move(key: string, iface: string | undefined): string[] {
    const old = this.ifaceOf.get(key);
    if (old === iface) return iface === undefined ? [] : [iface];
    const touched: string[] = [];
    if (old !== undefined) {
      const s = this.owners.get(old)!;
      s.delete(key);
      if (s.size === 0) this.owners.delete(old);
      this.ifaceOf.delete(key);
      touched.push(old);
    }
    if (iface !== undefined) {
      let s = this.owners.get(iface);
      if (!s) {
        s = new Set();
        this.owners.set(iface, s);
      }
      s.add(key);
      this.ifaceOf.set(key, iface);
      touched.push(iface);
    }
    return touched;
  }

  /** The endpoint keys claiming `iface`, sorted. */
  claimants(iface: string): string[] {
    return [...(this.owners.get(iface) ?? [])].sort();
  }
}
