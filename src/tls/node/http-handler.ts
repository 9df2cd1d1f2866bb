/// <reference types="node" />
import type { RequestListener } from "node:http";
import { answerPlainHttp, type ChallengeResponder, type PlainHttpOptions } from "../plain-http.ts";

/**
 * A request listener for the plain-HTTP port (autocert's `HTTPHandler`): answers
 * `/.well-known/acme-challenge/<token>` from `manager.httpChallengeResponse`, and sends everything else
 * to `fallback`, or — without one — redirects GET/HEAD to the same URL over HTTPS (301) and refuses
 * other methods (400).
 */
export function httpHandler(manager: ChallengeResponder, fallback?: RequestListener, options: PlainHttpOptions = {}): RequestListener {
  return (req, res) => {
    answerPlainHttp(
      manager,
      { method: req.method ?? "GET", host: req.headers.host, target: req.url ?? "/" },
      { ...options, hasFallback: fallback !== undefined },
    ).then(
      (answer) => {
        if (answer === "fallback") {
          fallback!(req, res);
          return;
        }
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
      },
      () => {
        // Storage failed while looking up a token: the CA will retry; say so without details.
        if (!res.headersSent) res.writeHead(503, { "content-type": "text/plain; charset=utf-8", "retry-after": "1" });
        res.end("temporarily unavailable\n");
      },
    );
  };
}
