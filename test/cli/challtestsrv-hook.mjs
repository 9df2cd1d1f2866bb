// A `--dns-exec` hook for the tests: `present|cleanup <record FQDN.> <value>` against
// pebble-challtestsrv's management API (CHALLTESTSRV_URL). Fails while $HOOK_FAIL_FILE exists.
import { existsSync } from "node:fs";
const [action, fqdn, value] = process.argv.slice(2);
if (process.env.HOOK_FAIL_FILE && existsSync(process.env.HOOK_FAIL_FILE)) {
  console.error(`dns hook: refusing ${action} (test switch)`);
  process.exit(1);
}
if (process.env.EDGECERT_DNS_RECORD !== fqdn || process.env.EDGECERT_DNS_VALUE !== value || process.env.EDGECERT_DNS_ACTION !== action) {
  console.error("dns hook: arguments and environment disagree");
  process.exit(2);
}
const path = action === "present" ? "/set-txt" : "/clear-txt";
const body = action === "present" ? { host: fqdn, value } : { host: fqdn };
const res = await fetch(`${process.env.CHALLTESTSRV_URL}${path}`, { method: "POST", body: JSON.stringify(body) });
if (!res.ok) {
  console.error(`dns hook: challtestsrv ${path} answered ${res.status}`);
  process.exit(1);
}
