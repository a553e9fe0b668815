// ipvsadm 1.31 output for one table, as `ipvsadm -S -n` and `ipvsadm -L -n`
// print it (layout from ipvsadm.c's print_service_entry / print_title;
// services sorted by fwmark, family, protocol, address, port). Inert module.

export const SAVE_TEXT = [
  "-A -t 10.96.0.1:443 -s rr",
  "-a -t 10.96.0.1:443 -r 172.18.0.2:6443 -m -w 1",
  "-a -t 10.96.0.1:443 -r 172.18.0.3:6443 -m -w 1",
  "-A -t 10.96.0.10:53 -s rr",
  "-a -t 10.96.0.10:53 -r 10.244.0.2:53 -m -w 1",
  "-a -t 10.96.0.10:53 -r 10.244.0.3:53 -m -w 0",
  "-A -t 10.96.0.20:80 -s rr -p 10800",
  "-a -t 10.96.0.20:80 -r 10.244.1.5:8080 -m -w 1",
  "-A -t 192.168.1.10:30080 -s rr",
  "-a -t 192.168.1.10:30080 -r 10.244.1.5:8080 -m -w 1",
  "-A -u 10.96.0.10:53 -s rr",
  "-a -u 10.96.0.10:53 -r 10.244.0.2:53 -m -w 1",
  "-A --sctp-service 10.96.0.30:9999 -s sh",
  "-a --sctp-service 10.96.0.30:9999 -r 10.244.2.7:9999 -m -w 1",
  "-A -t [fd00::1]:80 -s rr",
  "-a -t [fd00::1]:80 -r [fd00:10:244::5]:8080 -m -w 1",
  "-A -f 100 -s wlc",
  "-a -f 100 -r 10.9.9.9:0 -g -w 1",
]
  .join("\n")
  .concat("\n");

/** The same table listed, with some connection counters. */
export const LIST_TEXT = [
  "IP Virtual Server version 1.2.1 (size=4096)",
  "Prot LocalAddress:Port Scheduler Flags",
  "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
  "TCP  10.96.0.1:443 rr",
  "  -> 172.18.0.2:6443              Masq    1      0          0         ",
  "  -> 172.18.0.3:6443              Masq    1      2          5         ",
  "TCP  10.96.0.10:53 rr",
  "  -> 10.244.0.2:53                Masq    1      0          0         ",
  "  -> 10.244.0.3:53                Masq    0      1          0         ",
  "TCP  10.96.0.20:80 rr persistent 10800",
  "  -> 10.244.1.5:8080              Masq    1      0          0         ",
  "TCP  192.168.1.10:30080 rr",
  "  -> 10.244.1.5:8080              Masq    1      0          0         ",
  "UDP  10.96.0.10:53 rr",
  "  -> 10.244.0.2:53                Masq    1      0          12        ",
  "SCTP  10.96.0.30:9999 sh",
  "  -> 10.244.2.7:9999              Masq    1      0          0         ",
  "TCP  [fd00::1]:80 rr",
  "  -> [fd00:10:244::5]:8080        Masq    1      0          0         ",
  "FWM  100 wlc",
  "  -> 10.9.9.9:0                   Route   1      0          0         ",
]
  .join("\n")
  .concat("\n");
