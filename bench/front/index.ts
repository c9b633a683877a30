// A pass-through "front" Worker for workload 4 of `npm run bench`: every
// request, the WebSocket upgrade included, goes unchanged to the variant's
// Worker through the service binding `TARGET`, which the dev registry resolves
// to the variant's own `wrangler dev` (another process). The Durable Object, and
// so every hibernatable socket, stays in the variant's process; a front only
// carries connections, so the client can spread them over several processes,
// each under its descriptor limit. bench/front/serve.mjs starts one.
interface FrontEnv {
  TARGET: Fetcher;
}

export default {
  fetch(request, env): Promise<Response> {
    return env.TARGET.fetch(request);
  },
} satisfies ExportedHandler<FrontEnv>;
