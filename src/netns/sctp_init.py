"""SCTP reachability without an SCTP stack (this kernel has none), for pod-server.py.

A policy decides on a flow's first packet, so the probe is SCTP's handshake
start, on raw sockets: the client sends an INIT to host:port; a server
listening on that port (a raw socket, so no ICMP protocol-unreachable goes
back) answers with an INIT ACK addressed to the client's tag, carrying its
name in the state cookie. Conntrack sees a real INIT / INIT ACK exchange (tags
and CRC32c checksums valid), so the reply travels as an established flow.
IPv4 only.
"""

import os
import socket
import struct
import time

IPPROTO_SCTP = 132
INIT, INIT_ACK = 1, 2
STATE_COOKIE = 7


def _table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_T = _table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def packet(sport, dport, vtag, ctype, tag, params=b""):
    body = struct.pack("!IIHHI", tag, 65535, 1, 1, tag)
    chunk = struct.pack("!BBH", ctype, 0, 4 + len(body) + len(params)) + body + params
    chunk += b"\0" * (-len(chunk) % 4)
    head = struct.pack("!HHII", sport, dport, vtag, 0)
    # SCTP's CRC32c goes on the wire least significant byte first.
    return head[:8] + struct.pack("<I", crc32c(head + chunk)) + chunk


def parse(data):
    """(src ip, sport, dport, vtag, chunk type, initiate tag, params) of an IPv4 SCTP packet, or None."""
    ihl = (data[0] & 0x0F) * 4
    if len(data) < ihl + 20:
        return None
    src = socket.inet_ntoa(data[12:16])
    sport, dport, vtag = struct.unpack("!HHI", data[ihl : ihl + 8])
    ctype, _, clen = struct.unpack("!BBH", data[ihl + 12 : ihl + 16])
    (tag,) = struct.unpack("!I", data[ihl + 16 : ihl + 20])
    return src, sport, dport, vtag, ctype, tag, data[ihl + 32 : ihl + 12 + clen]


def serve(ports, name, log):
    """Answers INITs to `ports` with an INIT ACK naming this server; runs forever."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_SCTP)
    cookie = name.encode()
    param = struct.pack("!HH", STATE_COOKIE, 4 + len(cookie)) + cookie
    while True:
        try:
            data, _ = s.recvfrom(65535)
            p = parse(data)
            if not p or p[4] != INIT or p[2] not in ports:
                continue
            src, sport, dport, _, _, tag, _ = p
            mine = int.from_bytes(os.urandom(4), "big") or 1
            s.sendto(packet(dport, sport, tag, INIT_ACK, mine, param), (src, 0))
        except OSError as e:
            log("sctp responder: %s" % e)


def probe(host, port, timeout_s):
    """The server's name once its INIT ACK to our INIT arrived; raises socket.timeout."""
    deadline = time.monotonic() + timeout_s
    tag = int.from_bytes(os.urandom(4), "big") or 1
    sport = 1024 + int.from_bytes(os.urandom(2), "big") % 60000
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_SCTP) as s:
        init = packet(sport, port, 0, INIT, tag)
        next_send = 0.0
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise socket.timeout()
            if now >= next_send:  # re-sent like the UDP probe, in case the first was lost
                s.sendto(init, (host, 0))
                next_send = now + 0.3
            s.settimeout(max(0.001, min(next_send, deadline) - now))
            try:
                data, _ = s.recvfrom(65535)
            except socket.timeout:
                continue
            p = parse(data)
            if p and p[0] == host and p[1] == port and p[2] == sport and p[3] == tag and p[4] == INIT_ACK:
                params = p[6]
                if len(params) >= 4 and struct.unpack("!H", params[:2])[0] == STATE_COOKIE:
                    (plen,) = struct.unpack("!H", params[2:4])
                    return params[4:plen].decode("utf-8", "replace")
                return "?"
