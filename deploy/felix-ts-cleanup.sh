#!/bin/bash
# felix-ts-cleanup: remove what felix-ts programmed into the current network
# namespace, after the agent has been stopped for good (uninstall).
#
#   felix-ts-cleanup [--dry-run] [--routes] [--force]
#
# What is ours is recognised exactly as the agent recognises it, nothing more:
#   - iptables/ip6tables, both the legacy and the nft backend, every table:
#     chains named cali-*; rules in other chains (INPUT, FORWARD, ...) that
#     carry a "cali:<hash>" comment or jump/goto a cali-* chain;
#   - IP sets named cali4* / cali6*;
#   - with --routes: main-table routes with protocol 80 (IPv4 and IPv6) and
#     our devices vxlan.calico and cali-ipvs0 (their neighbour/FDB entries and
#     bound service addresses go with them).
# Everybody else's rules (kube-proxy, docker, a host firewall) stay exactly
# where they are: for each table one `iptables-restore --noflush` transaction
# deletes our rules from the built-in chains (-D with the rule as saved),
# empties our chains, then deletes them. Nothing is flushed wholesale and
# nothing is saved and re-loaded, so a rule another program adds meanwhile
# is never lost.
#
# Routes are left alone by default: they are what delivers packets to the
# pods that are still running (and between nodes); remove them only when the
# pod network itself goes away. Per-interface sysctls vanish with the cali*
# interfaces; net.ipv4.ip_forward is left on (kube-proxy and CNIs need it).
#
# WARNING: Calico's own Felix uses the very same names. Never run this on a
# node where calico-node (or felix-ts) is still running or still wanted. As a
# guard the script refuses to run while something listens on TCP port 9099
# (Felix's health port) unless --force is given.
#
# Exit status: 0 when everything of ours is gone, 1 when something could not
# be removed (it says what), 2 on bad usage or when the guard trips.

set -u
export LC_ALL=C

dry_run=0
routes=0
force=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    --routes) routes=1 ;;
    --force) force=1 ;;
    -h | --help)
      sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"
      exit 0
      ;;
    *)
      echo "felix-ts-cleanup: unknown argument $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "felix-ts-cleanup: needs root (CAP_NET_ADMIN)" >&2
  exit 2
fi

if [ "$force" = 0 ] && command -v ss >/dev/null &&
  [ -n "$(ss -Hltn 'sport = :9099' 2>/dev/null)" ]; then
  echo "felix-ts-cleanup: something listens on port 9099 (a Felix health port): felix-ts or calico-node" >&2
  echo "  still runs here; stop it first (kubectl -n kube-system delete daemonset felix-ts), or pass --force" >&2
  exit 2
fi

failed=0
log() { echo "felix-ts-cleanup: $*" >&2; }

# Restore input that removes our rules and chains, from iptables-save output.
plan() {
  awk '
    function flush_table() {
      if (table == "" || (ndel == 0 && nchains == 0)) return
      print "*" table
      for (i = 1; i <= ndel; i++) print del[i]
      for (i = 1; i <= nchains; i++) print ":" chains[i] " - [0:0]"
      for (i = 1; i <= nchains; i++) print "-X " chains[i]
      print "COMMIT"
    }
    /^#/ { next }
    /^\*/ { table = substr($0, 2); ndel = 0; nchains = 0; next }
    /^:/ {
      name = substr($1, 2)
      if (name ~ /^cali-/) chains[++nchains] = name
      next
    }
    /^-A / {
      chain = $2
      if (chain ~ /^cali-/) next            # emptied with its chain
      if ($0 ~ /--comment "?cali:/ || $0 ~ / -[jg] cali-/) {
        del[++ndel] = "-D " substr($0, 4)
      }
      next
    }
    /^COMMIT/ { flush_table(); table = "" }
  '
}

for family in 4 6; do
  base=iptables
  [ "$family" = 6 ] && base=ip6tables
  for mode in legacy nft; do
    save="$base-$mode-save"
    restore="$base-$mode-restore"
    command -v "$save" >/dev/null || continue
    # A backend whose kernel side is absent fails or prints nothing: skip it.
    if ! dump="$("$save" 2>/dev/null)"; then continue; fi
    input="$(printf '%s\n' "$dump" | plan)"
    if [ -z "$input" ]; then
      log "$base ($mode): nothing of ours"
      continue
    fi
    summary="$(printf '%s\n' "$input" | awk '/^-D/{d++} /^-X/{x++} END{printf "%d rules in built-in chains, %d cali- chains", d, x}')"
    if [ "$dry_run" = 1 ]; then
      log "$base ($mode): would remove $summary:"
      printf '%s\n' "$input"
      continue
    fi
    if err="$(printf '%s\n' "$input" | "$restore" --noflush --wait 10 2>&1)"; then
      log "$base ($mode): removed $summary"
    else
      log "$base ($mode): $restore failed: $err"
      failed=1
    fi
  done
done

# IP sets last: the kernel refuses to destroy a set a rule still references.
if command -v ipset >/dev/null; then
  sets="$(ipset list -n 2>/dev/null | grep -E '^cali[46]' || true)"
  n=0
  for s in $sets; do
    if [ "$dry_run" = 1 ]; then
      log "would destroy ip set $s"
    elif err="$(ipset destroy "$s" 2>&1)"; then
      n=$((n + 1))
    else
      log "ip set $s: $err"
      failed=1
    fi
  done
  [ "$dry_run" = 1 ] || log "ip sets: destroyed $n"
fi

if [ "$routes" = 1 ]; then
  for v in -4 -6; do
    [ "$v" = -6 ] && [ ! -e /proc/net/if_inet6 ] && continue # IPv6 disabled in the kernel
    if [ "$dry_run" = 1 ]; then
      ip "$v" route show proto 80 | sed "s/^/felix-ts-cleanup: would delete route ($v): /" >&2
    elif ! err="$(ip "$v" route flush proto 80 2>&1)"; then
      case "$err" in
        *"FIB table does not exist"*) ;; # no routes at all in this namespace
        *)
          log "routes ($v): $err"
          failed=1
          ;;
      esac
    fi
  done
  [ "$dry_run" = 1 ] || log "routes with protocol 80: flushed"
  for dev in vxlan.calico cali-ipvs0; do
    ip link show "$dev" >/dev/null 2>&1 || continue
    if [ "$dry_run" = 1 ]; then
      log "would delete device $dev"
    elif ! err="$(ip link del "$dev" 2>&1)"; then
      log "device $dev: $err"
      failed=1
    else
      log "device $dev: deleted"
    fi
  done
fi

exit "$failed"
