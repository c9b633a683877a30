// `node bench/front/serve.mjs --target <worker name> --registry <dir> [--name <name>]`:
// serves bench/front/index.ts with wrangler's programmatic API (two workerd
// children: the Worker's runtime and wrangler's dev proxy in front of it), its
// service binding `TARGET` resolved through the dev registry in <dir> (a private
// one, so other `wrangler dev` sessions on the machine neither see nor shadow
// it). Prints one JSON line when ready: `{"proxy","direct"}`, the dev proxy's
// URL and the runtime's own (the bench connects to `direct`: the dev proxy
// costs four descriptors per WebSocket, the runtime two). Stops on SIGTERM/SIGINT.
import { fileURLToPath } from "node:url";
import { unstable_DevEnv } from "wrangler";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const target = option("target");
const registry = option("registry");
const name = option("name", "bench-front");
if (!target || !registry) {
  console.error("usage: serve.mjs --target <worker name> --registry <dir> [--name <name>]");
  process.exit(2);
}
// miniflare reads this before any option; keep it on the private registry too.
process.env.CLOUDFLARE_DEV_REGISTRY_PATH = registry;

const devEnv = new unstable_DevEnv();
const direct = new Promise((resolve) => {
  devEnv.on("reloadComplete", (event) => {
    const { protocol, hostname, port } = event.proxyData.userWorkerUrl;
    resolve(`${protocol}//${hostname}:${port}`);
  });
});
const worker = await devEnv.startWorker({
  name,
  config: fileURLToPath(new URL("wrangler.jsonc", import.meta.url)),
  bindings: { TARGET: { type: "service", service: target } },
  dev: {
    server: { hostname: "127.0.0.1", port: 0 },
    inspector: false,
    registry,
    persist: false,
    watch: false,
    liveReload: false,
    logLevel: "warn",
  },
});
await worker.ready;
const proxy = (await worker.url).origin;
console.log(JSON.stringify({ proxy, direct: await direct }));

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await worker.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
