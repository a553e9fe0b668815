// Child process for spawner.test.ts: an agent that runs a long program through
// its spawn helper, prints the program's pid and waits to be killed. Does
// nothing unless FELIX_NETNS_CHILD=spawner-agent (the test runner loads every
// file under test/).

import { SpawnHelper } from "../../iptables/spawner.js";

if (process.env.FELIX_NETNS_CHILD === "spawner-agent") {
  const h = new SpawnHelper();
  await h.open();
  const p = h.spawn("sh", ["-c", "echo $$; exec sleep 600"]);
  p.stdout.on("data", (d: Buffer) => process.stdout.write(d));
  setInterval(() => {}, 60_000);
}
