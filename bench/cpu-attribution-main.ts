// Child process for `npm run bench`: CPU attribution in a fresh process (no benchmark heap, proxy or
// workerd beside it), printed as one JSON line.
import { Http01Solver } from "../src/index.ts";
import { serveHttp01 } from "../test/support/challenge-servers.ts";
import { startPebble } from "../test/support/pebble.ts";
import { attributeCpu } from "./cpu-attribution.ts";

const pebble = await startPebble({ noSleep: true });
const solver = new Http01Solver();
const server = await serveHttp01(pebble.httpPort, solver);
let tag = 0;
const names = (n: number) => {
  tag++;
  return Array.from({ length: n }, (_, i) => `cpu${tag}-${i}.example.test`);
};
const oneName = await attributeCpu(pebble, solver, "http-01", 20, () => names(1));
const hundredNames = await attributeCpu(pebble, solver, "http-01", 3, () => names(100));
await server.close();
await pebble.stop();
console.log(JSON.stringify({ oneName, hundredNames }));
