#!/usr/bin/env python3
"""Per-pod test server and prober for felix-ts end-to-end tests (see topology.ts).

Run inside a pod's network namespace:

    pod-server.py --name <ns/pod> [--tcp 80,81] [--udp 80,81] [--sctp 9003] [--tell-peer]

Servers (dual-stack where IPv6 is available):
  TCP: accept, write "<name>\\n", close.
  UDP: answer every datagram with "<name>\\n".
  SCTP (IPv4): an INIT is answered with an INIT ACK naming the server, on raw
  sockets (sctp_init.py: the kernel may have no SCTP stack).
  With --tell-peer TCP and UDP answer "<name> <peer address>\\n": the source address the
  server saw (e.g. to check source NAT).

Control protocol on stdin/stdout, one line each:
  -> after all servers are bound:      ready
  <- probe <id> <tcp|udp|sctp> <host> <port> <timeoutMs>
  -> result <id> ok <reply>            (a reply from the server arrived)
  -> result <id> fail <reason>         (timeout, refused, unreachable, ...)
The probes are real client connections from this namespace, run concurrently.
When stdin closes (the test process died or let go of us) the program exits, so
an interrupted test run leaves no server behind.
"""

import argparse
import os
import selectors
import socket
import sys
import threading
import time

import sctp_init

out_lock = threading.Lock()


def emit(line):
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def ports(text):
    return [int(p) for p in text.split(",") if p.strip()] if text else []


def listen(kind, port):
    """A wildcard socket on port: dual-stack IPv6 when possible, else IPv4."""
    last = None
    for family, host in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
        try:
            s = socket.socket(family, kind)
        except OSError as e:
            last = e
            continue
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind((host, port))
            if kind == socket.SOCK_STREAM:
                s.listen(128)
            s.setblocking(False)
            return s
        except OSError as e:
            last = e
            s.close()
    raise last


def probe(pid, proto, host, port, timeout_ms):
    deadline = time.monotonic() + timeout_ms / 1000.0

    def left():
        return max(0.001, deadline - time.monotonic())

    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        addr = (host, port)
        if proto == "sctp":
            data = (sctp_init.probe(host, port, left()) + "\n").encode()
        elif proto == "tcp":
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(left())
                s.connect(addr)
                data = b""
                while b"\n" not in data:
                    s.settimeout(left())
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        else:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect(addr)
                data = b""
                # Re-send every 300 ms in case a datagram was lost (e.g. while
                # a neighbour entry was being resolved); the first reply counts.
                while time.monotonic() < deadline and not data:
                    s.send(b"probe\n")
                    s.settimeout(min(0.3, left()))
                    try:
                        data = s.recv(4096)
                    except socket.timeout:
                        continue
                if not data:
                    raise socket.timeout()
        reply = data.decode("utf-8", "replace").strip()
        if reply:
            emit("result %s ok %s" % (pid, reply))
        else:
            emit("result %s fail empty-reply" % pid)
    except socket.timeout:
        emit("result %s fail timeout" % pid)
    except OSError as e:
        reason = type(e).__name__ + ":" + (e.strerror or str(e))
        emit("result %s fail %s" % (pid, reason.replace(" ", "_")))
    except Exception as e:  # noqa: BLE001 - report anything to the test
        emit("result %s fail %s" % (pid, (type(e).__name__ + ":" + str(e)).replace(" ", "_")))


def control():
    for line in sys.stdin:
        parts = line.split()
        if len(parts) == 6 and parts[0] == "probe":
            _, pid, proto, host, port, timeout_ms = parts
            threading.Thread(
                target=probe, args=(pid, proto, host, int(port), int(timeout_ms)), daemon=True
            ).start()
        elif parts and parts[0] == "ping":
            emit("pong")
    os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--tcp", default="")
    ap.add_argument("--udp", default="")
    ap.add_argument("--sctp", default="")
    ap.add_argument("--tell-peer", action="store_true")
    args = ap.parse_args()
    answer = (args.name + "\n").encode()

    def reply(peer):
        if not args.tell_peer:
            return answer
        host = peer[0]
        if host.startswith("::ffff:"):
            host = host[len("::ffff:"):]
        return ("%s %s\n" % (args.name, host)).encode()

    sel = selectors.DefaultSelector()
    for port in ports(args.tcp):
        sel.register(listen(socket.SOCK_STREAM, port), selectors.EVENT_READ, "tcp")
    for port in ports(args.udp):
        sel.register(listen(socket.SOCK_DGRAM, port), selectors.EVENT_READ, "udp")

    if args.sctp:
        log = lambda m: print("pod-server: %s" % m, file=sys.stderr, flush=True)  # noqa: E731
        sctp_ports = set(ports(args.sctp))
        threading.Thread(target=sctp_init.serve, args=(sctp_ports, args.name, log), daemon=True).start()
    threading.Thread(target=control, daemon=True).start()
    emit("ready")

    if not sel.get_map():
        threading.Event().wait()  # prober only; control() exits on stdin EOF
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            try:
                if key.data == "tcp":
                    conn, peer = s.accept()
                    with conn:
                        conn.settimeout(1.0)
                        conn.sendall(reply(peer))
                        try:
                            conn.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                else:
                    _, peer = s.recvfrom(65535)
                    s.sendto(reply(peer), peer)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as e:
                print("pod-server: %s" % e, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
