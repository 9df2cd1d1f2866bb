/**
 * `--help` texts, one per command, each with examples. Kept beside the flags they document.
 * @module
 */
import { ExitCode } from "./exit-codes.ts";

const COMMON = `Common flags:
  --dir DIR          where certificates are written (live/<name>/…) and state is kept
                     (default: $EDGECERT_DIR, else /etc/edgecert as root, else ~/.config/edgecert)
  --storage DIR      account, certificate and lock state (default: DIR/storage); put it on shared
                     storage to renew from several hosts' cron, keep --dir local to each host
  --server NAME|URL  the CA: letsencrypt (the default: Let's Encrypt production, trusted
                     certificates, strict rate limits), letsencrypt-staging (while testing:
                     untrusted certificates, generous limits), zerossl, or an ACME directory URL
  --email ADDRESS    account contact (one account per CA and email)
  --ca-file PEM      trust this CA for the ACME server's HTTPS (private CAs)
  --json             print one JSON result on stdout, nothing while running
  -q, --quiet        print nothing but errors
  -v, --verbose      print warnings, retries and the CA's problem documents
  -h, --help         this help`;

const EXIT = `Exit codes:
  ${ExitCode.ok}    done (also: nothing was due)
  ${ExitCode.failed}    something failed (the summary says what, for which name, what to check)
  ${ExitCode.usage}    bad command line or configuration
  ${ExitCode.hookFailed}    certificate saved, but the deploy hook failed (it runs again next time)
  ${ExitCode.interrupted}  interrupted`;

/** Help per command; `main` is `edgecert --help`. */
export const HELP: Readonly<Record<string, string>> = {
  main: `edgecert — ACME certificates on disk, renewed from cron

Usage: edgecert <command> [flags]

Commands:
  issue     obtain a certificate and write live/<name>/{cert,chain,fullchain,privkey}.pem
  renew     renew every certificate that is due (ARI first); put it in cron
  list      certificates, expiry, next renewal, last error
  revoke    revoke a certificate and remove it
  account   show the account, change its email, roll its key over, or deactivate it
  pull      fetch this server's certificate from an edgecert Worker (deploy token)

Run edgecert <command> --help for its flags and examples.

${COMMON}

${EXIT}`,

  issue: `edgecert issue — obtain a certificate

Usage: edgecert issue -d NAME [-d NAME…] --agree-tos <challenge> [flags]

  -d, --domain NAME    a name for the certificate (repeat; the first names it; *.name needs dns-01)
  --cert-name NAME     the directory under live/ (default: the first name)
  --agree-tos          agree to the CA's terms of service (required to create an account)
  --key-type TYPE      ec256 (default), ec384 or rsa2048
  --profile NAME       ask the CA for this certificate profile
  --force-renewal      obtain a new certificate even if the current one is not due
  --deploy-hook CMD    run CMD (through /bin/sh) after the certificate changed, with
                       EDGECERT_CERT_NAME, EDGECERT_DOMAINS, EDGECERT_CERT_PATH, EDGECERT_CHAIN_PATH,
                       EDGECERT_FULLCHAIN_PATH, EDGECERT_KEY_PATH, EDGECERT_SERIAL, EDGECERT_NOT_AFTER
                       (and certbot's RENEWED_LINEAGE, RENEWED_DOMAINS); never when nothing changed
  --eab-kid KID --eab-hmac KEY   external account binding (ZeroSSL, many private CAs)

Challenge (one or more; renew reuses them):
  --http [--http-port 80] [--http-address ADDR]   serve http-01 on a port of its own
  --webroot DIR        write http-01 files to DIR/.well-known/acme-challenge/ for your web server
  --self-check         with --http or --webroot: fetch each token at http://NAME/.well-known/… first
                       and answer the challenge only if this server serves it (a misrouted name
                       fails at once, without a failed validation counted at the CA)
  --tls-alpn [--tls-port 443] [--tls-address ADDR]   serve tls-alpn-01 on a port of its own
  --dns cloudflare [--doh-resolver URL]   dns-01 through Cloudflare's API; token from
                       CLOUDFLARE_DNS_API_TOKEN (or CF_DNS_API_TOKEN, CLOUDFLARE_API_TOKEN);
                       propagation is checked over DNS-over-HTTPS (public resolvers, or URL)
  --dns-exec CMD       dns-01 through a command: CMD present <record FQDN.> <TXT value>, later
                       CMD cleanup <record FQDN.> <TXT value>; also in the environment as
                       EDGECERT_DNS_ACTION, EDGECERT_DNS_RECORD, EDGECERT_DNS_VALUE, EDGECERT_DOMAIN.
                       present must exit 0 once the record is published.
  --dns-persist [--doh-resolver URL]   dns-persist-01 (experimental draft): no DNS writes; you
                       create _validation-persist.NAME TXT once (the error names every record
                       the names need); edgecert checks them over DNS-over-HTTPS first

Examples:
  edgecert issue -d example.com -d www.example.com --email me@example.com --agree-tos --http
  edgecert issue -d example.com --agree-tos --webroot /var/www/html \\
      --deploy-hook 'systemctl reload nginx'
  CLOUDFLARE_DNS_API_TOKEN=… edgecert issue -d '*.example.com' --agree-tos --dns cloudflare
  edgecert issue -d example.com --agree-tos --dns-exec /usr/local/bin/update-txt.sh
  edgecert issue -d example.com --server zerossl --eab-kid KID --eab-hmac KEY --agree-tos --http

${COMMON}

${EXIT}`,

  renew: `edgecert renew — renew what is due

Usage: edgecert renew [--cert-name NAME] [--force] [flags]

Renews each certificate issued with this --dir/--storage whose renewal time has come: the CA's
renewal window (ARI, RFC 9773) when it offers one, else when a third of the lifetime remains.
Nothing due: exit 0 without contacting the CA (beyond the ARI check when the CA asked to be asked
again). Safe to run from several hosts' cron on one shared --storage: each certificate renews under
a lock, once; the other hosts then write the new files and run their own deploy hooks.

  --cert-name NAME     only this certificate
  --force              renew now, due or not
  --deploy-hook CMD    run CMD after a certificate changed (overrides the one given at issue)

Examples:
  edgecert renew
  edgecert renew --quiet          # for cron: prints only errors
  17 3,15 * * * edgecert renew -q --deploy-hook 'systemctl reload nginx'

${COMMON}

${EXIT}`,

  pull: `edgecert pull — fetch a certificate from an edgecert Worker (the hub)

Usage: edgecert pull --from URL --name NAME [--token TOKEN] [--out DIR] [--deploy-hook CMD] [--watch] [--agent-key FILE]

Fetches the certificate for NAME with a deploy token (admin API: POST /admin/tokens), writes
DIR/live/<name>/{cert,chain,fullchain,privkey}.pem atomically, and runs the deploy hook only when
the serial changed. Asks with If-None-Match: an unchanged certificate costs one small 304.

  --from URL           the Worker, e.g. https://edgecert.example.workers.dev
  --token TOKEN        the deploy token; prefer EDGECERT_TOKEN in the environment (not in ps)
  --name NAME          one of the certificate's names
  --out DIR            where live/ and archive/ are written (default: --dir's default)
  --cert-name NAME     directory name under live/ (default: NAME)
  --deploy-hook CMD    run CMD after the certificate changed (environment as for issue)
  --agent-key FILE     P-256 private key (PKCS#8 PEM) the token's agent public key belongs to:
                       the hub then sends the private key sealed to it, and pull refuses it unsealed
  --watch              keep running: sleep until the hub's next renewal time plus jitter
                       (5 min to 24 h; EDGECERT_PULL_MAX_SLEEP_MS lowers the ceiling), pull again
  --ca-file PEM        trust this CA for the Worker's HTTPS
  --json               one JSON line per pull on stdout
  -q, --quiet          print nothing but errors

Examples:
  EDGECERT_TOKEN=edt_… edgecert pull --from https://hub.example.com --name www.example.com \\
    --out /etc/edgecert --deploy-hook 'systemctl reload nginx'
  edgecert pull --from https://hub.example.com --name www.example.com --watch -q

${EXIT}`,

  list: `edgecert list — what is managed

Usage: edgecert list [flags]

For each certificate: names, expiry, next renewal, the last renewal error, and where its files are;
for one waiting for the CA's rate limits (an issue or renew running elsewhere on this storage), its
place in the queue, the limit holding it and when it is expected. Reads local state only; contacts no
CA. EDGECERT_CA_LIMITS (e.g. orders=300/3h,domain=50/7d) sets a CA's limits where it publishes none.

Examples:
  edgecert list
  edgecert list --json | jq '.certificates[] | {name, notAfter}'

${COMMON}

${EXIT}`,

  revoke: `edgecert revoke — revoke a certificate

Usage: edgecert revoke (--cert-name NAME | -d NAME…) [--reason REASON] [--keep-files] [flags]

Revokes the certificate at the CA (RFC 8555 §7.6) and removes it, so renew forgets it.

  --reason REASON      unspecified (default), keyCompromise, superseded, cessationOfOperation,
                       affiliationChanged
  --keep-files         leave live/<name>/ on disk

Examples:
  edgecert revoke --cert-name example.com
  edgecert revoke -d example.com --reason keyCompromise

${COMMON}

${EXIT}`,

  account: `edgecert account — the ACME account of --server and --email

Usage: edgecert account [show | update --new-email ADDRESS | rollover | deactivate --yes | caa DOMAIN] [flags]

  show                 the account's URL, status and contact (default)
  update               change the contact email at the CA (RFC 8555 §7.3.2)
  rollover             replace the account key (RFC 8555 §7.3.5)
  deactivate --yes     deactivate the account for good (RFC 8555 §7.3.6); its certificates stay valid
  caa DOMAIN           print the CAA record that lets only this CA and account issue for DOMAIN
                       (RFC 8659 + RFC 8657 accounturi); --wildcard for an issuewild record;
                       --caa-identity NAME when the CA's directory names none (meta.caaIdentities)

Examples:
  edgecert account --email me@example.com
  edgecert account update --email me@example.com --new-email ops@example.com
  edgecert account rollover --email me@example.com
  edgecert account deactivate --email me@example.com --yes
  edgecert account caa example.com --email me@example.com

${COMMON}

${EXIT}`,
};
