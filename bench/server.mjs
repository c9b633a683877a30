// `wrangler dev` for the bench scripts (bench/run.mjs, bench/wake.mjs): start
// one on 127.0.0.1 in its own process group, keep the tail of its output, and
// stop it with everything it started.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sleep } from "./client.mjs";

const root = new URL("..", import.meta.url).pathname;
export const wrangler = join(root, "node_modules/.bin/wrangler");

/**
 * Starts `wrangler dev --config config` on 127.0.0.1:`port`. Options:
 * `registry`, a private dev registry directory is made (returned as
 * `registry`) where only processes given `registryEnv(registry)` find the
 * Worker; `lock`, the start waits for `flock /tmp/wrangler.lock` (one dev
 * server on the machine at a time); `raiseLimit`, the shell first raises the
 * descriptor limit as far as it may. Returns `{child, output(), stop(), registry}`.
 */
export function startServer(
  config,
  { port, inspector, registry: privateRegistry = false, lock = false, raiseLimit = false },
) {
  const persist = mkdtempSync(join(tmpdir(), "bench-"));
  const registry = privateRegistry ? mkdtempSync(join(tmpdir(), "bench-registry-")) : undefined;
  const command = [
    raiseLimit ? "ulimit -n $(ulimit -Hn) 2>/dev/null;" : "",
    "exec",
    lock ? "flock /tmp/wrangler.lock" : "",
    JSON.stringify(wrangler),
    "dev --config",
    JSON.stringify(config),
    `--ip 127.0.0.1 --port ${port} --inspector-port ${inspector}`,
    `--persist-to ${JSON.stringify(persist)}`,
    "--show-interactive-dev-session=false --log-level warn",
  ].join(" ");
  const child = spawn("bash", ["-c", command], {
    cwd: root,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...(registry ? registryEnv(registry) : {}), CI: "1" },
  });
  let output = "";
  const keep = (chunk) => {
    output = (output + chunk).slice(-20_000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const stop = async () => {
    await stopGroup(child);
    rmSync(persist, { recursive: true, force: true });
    if (registry) rmSync(registry, { recursive: true, force: true });
    await sleep(500); // let the ports go
  };
  return { child, stop, output: () => output, registry };
}

/** wrangler reads the first, miniflare the second (which wins). */
export const registryEnv = (registry) => ({
  WRANGLER_REGISTRY_PATH: registry,
  CLOUDFLARE_DEV_REGISTRY_PATH: registry,
});

/** Ends a detached child's process group: SIGTERM, SIGKILL after 5 s. */
export async function stopGroup(child) {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const signal = (name) => {
    try {
      process.kill(-child.pid, name);
    } catch {
      // gone
    }
  };
  signal("SIGTERM");
  const timer = setTimeout(() => signal("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}
