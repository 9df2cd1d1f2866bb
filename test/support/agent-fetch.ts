import { fetch as undiciFetch, type Agent, type RequestInit as UndiciRequestInit } from "undici";

/**
 * A `fetch` routed through an undici `Agent` (e.g. one that trusts a private CA). Accepts strings, URLs
 * and global `Request`s: undici@7's fetch does not recognise Node's bundled `Request` class, so a
 * Request is unpacked into URL + init first.
 */
export function agentFetch(agent: Agent): typeof fetch {
  const wrapped = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    let url: string;
    let merged: RequestInit = { ...init };
    if (typeof input === "string") url = input;
    else if (input instanceof URL) url = input.href;
    else {
      url = input.url;
      const body = input.body === null ? undefined : await input.arrayBuffer();
      merged = {
        method: input.method,
        headers: input.headers,
        redirect: input.redirect,
        signal: input.signal,
        ...(body === undefined ? {} : { body }),
        ...init,
      };
    }
    const response = await undiciFetch(url, { ...merged, dispatcher: agent } as unknown as UndiciRequestInit);
    return response as unknown as Response;
  };
  return wrapped as typeof fetch;
}
