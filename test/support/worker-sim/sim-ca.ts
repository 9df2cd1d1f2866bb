/**
 * The CA stand-in of the simulated windows, a Worker of its own: answers each request with `bytes` bytes at
 * once (the renewer waits the request's modelled latency on the virtual clock). Counts requests and the
 * most open at once; GET /__stats returns and resets them.
 */
let requests = 0;
let open = 0;
let maxOpen = 0;

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/__stats") {
      const body = { requests, maxOpen };
      requests = 0;
      maxOpen = open;
      return Response.json(body);
    }
    requests++;
    open++;
    maxOpen = Math.max(maxOpen, open);
    try {
      await request.arrayBuffer();
      return new Response(new Uint8Array(Number(url.searchParams.get("bytes") ?? 0)), { status: 200 });
    } finally {
      open--;
    }
  },
};
