// Child process for file.test.ts. "cas <dir> <count>": adds 1 to key "n" `count` times by
// compare-and-set (getEntry, then put with ifVersion; on conflict read again), printing the conflicts
// it met. "fenced <dir> <lock> <token>": one put fenced by that lease, printing "ok" or the error code.
import { FileStorage } from "../../src/storage/file.ts";
import { isEdgecertError } from "../../src/errors.ts";

const [mode, dir, a, b] = process.argv.slice(2);
const s = new FileStorage({ dir: dir! });
if (mode === "cas") {
  let conflicts = 0;
  for (let i = 0; i < Number(a); i++) {
    for (;;) {
      const entry = await s.getEntry("n");
      const next = String(Number(entry ? new TextDecoder().decode(entry.value) : "0") + 1);
      try {
        await s.put("n", next, { ifVersion: entry ? entry.version : null });
        break;
      } catch (error) {
        if (!isEdgecertError(error) || error.code !== "conflict") throw error;
        conflicts++;
      }
    }
  }
  console.log(String(conflicts));
} else {
  try {
    await s.put("fenced", `from ${process.pid}`, { fence: { name: a!, token: Number(b) } });
    console.log("ok");
  } catch (error) {
    console.log(isEdgecertError(error) ? error.code : String(error));
  }
}
