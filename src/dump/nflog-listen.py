#!/usr/bin/env python3
# Listens on one NFLOG group of the current network namespace (netlink,
# NETLINK_NETFILTER) and prints each logged packet as one JSON line:
# {"prefix", "family", "src", "dst", "protocol", "sport", "dport", "indev", "outdev"}.
# Used by `felix-dump drops --live`; needs CAP_NET_ADMIN. Usage: nflog-listen.py <group>
import json
import socket
import struct
import sys

NETLINK_NETFILTER = 12
NFNL_SUBSYS_ULOG = 4
NFULNL_MSG_PACKET = 0
NFULNL_MSG_CONFIG = 1
NFULA_CFG_CMD = 1
NFULA_CFG_MODE = 2
NFULA_CFG_TIMEOUT = 3
NFULA_CFG_QTHRESH = 4
CMD_BIND, CMD_PF_UNBIND, CMD_PF_BIND = 1, 4, 3
COPY_PACKET = 2
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
ATTR_INDEV, ATTR_OUTDEV, ATTR_PAYLOAD, ATTR_PREFIX = 4, 5, 9, 10
PROTOS = {6: "tcp", 17: "udp", 132: "sctp", 1: "icmp", 58: "icmpv6"}


def attr(kind, payload):
    n = 4 + len(payload)
    return struct.pack("=HH", n, kind) + payload + b"\0" * ((4 - n % 4) % 4)


def config(sock, seq, family, group, attrs):
    body = struct.pack("=BBH", family, 0, socket.htons(group)) + attrs
    hdr = struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG,
                      NLM_F_REQUEST | NLM_F_ACK, seq, 0)
    sock.send(hdr + body)
    data = sock.recv(65536)
    _, kind = struct.unpack_from("=IH", data, 0)
    if kind == NLMSG_ERROR:
        err = struct.unpack_from("=i", data, 16)[0]
        if err != 0:
            return -err
    return 0


def attrs_of(data, off, end):
    out = {}
    while off + 4 <= end:
        n, kind = struct.unpack_from("=HH", data, off)
        if n < 4:
            break
        out[kind & 0x7FFF] = data[off + 4:off + n]
        off += (n + 3) & ~3
    return out


def ifname(raw):
    try:
        return socket.if_indextoname(struct.unpack(">I", raw)[0])
    except (OSError, struct.error):
        return None


def packet(a):
    p = a.get(ATTR_PAYLOAD, b"")
    out = {"prefix": a.get(ATTR_PREFIX, b"").split(b"\0")[0].decode("utf-8", "replace")}
    if not p:
        return out
    if p[0] >> 4 == 4 and len(p) >= 20:
        ihl = (p[0] & 15) * 4
        proto = p[9]
        out.update(family=4, src=socket.inet_ntop(socket.AF_INET, p[12:16]),
                   dst=socket.inet_ntop(socket.AF_INET, p[16:20]))
        l4 = p[ihl:]
    elif p[0] >> 4 == 6 and len(p) >= 40:
        proto = p[6]
        out.update(family=6, src=socket.inet_ntop(socket.AF_INET6, p[8:24]),
                   dst=socket.inet_ntop(socket.AF_INET6, p[24:40]))
        l4 = p[40:]
    else:
        return out
    out["protocol"] = PROTOS.get(proto, str(proto))
    if proto in (6, 17, 132) and len(l4) >= 4:
        out["sport"], out["dport"] = struct.unpack(">HH", l4[:4])
    for key, kind in (("indev", ATTR_INDEV), ("outdev", ATTR_OUTDEV)):
        if kind in a:
            out[key] = ifname(a[kind])
    return out


def main():
    group = int(sys.argv[1])
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.bind((0, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    for family in (socket.AF_INET, socket.AF_INET6):
        config(sock, 1, family, 0, attr(NFULA_CFG_CMD, struct.pack("=B", CMD_PF_UNBIND)))
        config(sock, 2, family, 0, attr(NFULA_CFG_CMD, struct.pack("=B", CMD_PF_BIND)))
    err = config(sock, 3, socket.AF_INET, group, attr(NFULA_CFG_CMD, struct.pack("=B", CMD_BIND)))
    if err:
        sys.stderr.write("cannot bind NFLOG group %d: %s\n" % (group, __import__("os").strerror(err)))
        return 1
    config(sock, 4, socket.AF_INET, group, attr(NFULA_CFG_MODE, struct.pack(">IBB", 256, COPY_PACKET, 0)))
    # Send each packet at once: by default the kernel batches up to 100 packets or 1 s.
    config(sock, 5, socket.AF_INET, group, attr(NFULA_CFG_QTHRESH, struct.pack(">I", 1)))
    config(sock, 6, socket.AF_INET, group, attr(NFULA_CFG_TIMEOUT, struct.pack(">I", 0)))
    sys.stdout.write(json.dumps({"listening": group}) + "\n")
    sys.stdout.flush()
    while True:
        data = sock.recv(1 << 16)
        off = 0
        while off + 16 <= len(data):
            n, kind = struct.unpack_from("=IH", data, off)
            if n < 16:
                break
            if kind == (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET:
                sys.stdout.write(json.dumps(packet(attrs_of(data, off + 20, off + n))) + "\n")
                sys.stdout.flush()
            off += (n + 3) & ~3


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(0)
