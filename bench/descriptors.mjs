// The descriptor guard of workload 4: counts the open descriptors of every
// workerd process under the bench's `wrangler dev` and front processes
// (/proc/<pid>/fd, Linux only) so the ramp can stop cleanly before a runtime
// reaches its limit, fails `accept()` with EMFILE and is restarted by wrangler
// (which drops every socket with 1006). Workload 8 reads their CPU time here.
import { readdirSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

/** Every process on the machine as pid → {ppid, comm}; empty off Linux. */
function processTable() {
  const table = new Map();
  let entries = [];
  try {
    entries = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return table;
  }
  for (const pid of entries) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      table.set(Number(pid), {
        comm: stat.slice(stat.indexOf("(") + 1, close),
        ppid: Number(stat.slice(close + 2).split(" ")[1]),
      });
    } catch {
      // exited meanwhile
    }
  }
  return table;
}

/** The workerd processes among the descendants of `root`. */
function workerdUnder(root, table) {
  const found = [];
  const walk = (pid) => {
    for (const [child, { ppid, comm }] of table) {
      if (ppid !== pid) continue;
      if (comm === "workerd") found.push(child);
      walk(child);
    }
  };
  walk(root);
  return found;
}

/** Open descriptors of `pid`, or NaN once it is gone. */
export function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

/**
 * Open descriptors of the workerd processes under `root`, summed (also used by
 * test/e2e/devServer.ts); undefined where there is no /proc.
 */
export function workerdDescriptors(root) {
  const table = processTable();
  if (table.size === 0) return undefined;
  return workerdUnder(root, table).reduce((sum, pid) => sum + (fdCount(pid) || 0), 0);
}

/** Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

/**
 * CPU time (user + system, ms) the workerd processes under `root` have used
 * so far, summed: the runtime and the dev proxy. NaN where there is no /proc.
 */
export function workerdCpuMs(root) {
  const table = processTable();
  if (table.size === 0) return Number.NaN;
  let ticks = 0;
  for (const pid of workerdUnder(root, table)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime and stime: fields 14 and 15 of stat, 12 and 13 after the name.
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited meanwhile
    }
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/** The soft "Max open files" limit of `pid` (what EMFILE is measured against). */
function fdLimit(pid) {
  try {
    const line = readFileSync(`/proc/${pid}/limits`, "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    return Number(line?.split(/\s{2,}/)[1]);
  } catch {
    return Number.NaN;
  }
}

/**
 * wrangler runs two workerd processes per Worker: the runtime (it has a
 * `--debug-port`, which the dev registry uses) and the dev proxy in front of it.
 */
function role(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("--debug-port")
      ? "runtime"
      : "dev proxy";
  } catch {
    return "?";
  }
}

/**
 * A guard over the workerd processes under each of `roots` ({label, pid}).
 * `check()` samples them (at most every `everyMs`, more often near the limit)
 * and returns a reason once one holds more than its limit minus `margin`
 * descriptors; `report()` lists every process seen with its first and peak count.
 */
export function descriptorGuard(roots, { margin = 256, everyMs = 250, nearMs = 50 } = {}) {
  const seen = new Map(); // pid → {label, role, limit, first, peak, last}
  let discoveredAt = -Infinity;
  let sampledAt = -Infinity;
  let closest = 0; // highest count ÷ (limit − margin) at the last sample
  let tripped;
  const discover = () => {
    const table = processTable();
    for (const { label, pid } of roots) {
      for (const child of workerdUnder(pid, table)) {
        if (seen.has(child)) continue;
        const count = fdCount(child);
        seen.set(child, {
          label,
          role: role(child),
          limit: fdLimit(child),
          first: count,
          peak: count,
          last: count,
        });
      }
    }
    discoveredAt = performance.now();
  };
  const sample = () => {
    if (performance.now() - discoveredAt > 1_000) discover();
    closest = 0;
    for (const [pid, entry] of seen) {
      const count = fdCount(pid);
      if (!Number.isFinite(count)) continue;
      entry.last = count;
      entry.peak = Math.max(entry.peak, count);
      closest = Math.max(closest, count / (entry.limit - margin));
      if (!tripped && count > entry.limit - margin) {
        tripped = `descriptor guard: ${entry.label} workerd ${entry.role} (pid ${pid}) held ${count} of its ${entry.limit} descriptors`;
      }
    }
    sampledAt = performance.now();
  };
  return {
    check() {
      const interval = closest > 0.8 ? nearMs : everyMs;
      if (performance.now() - sampledAt >= interval) sample();
      return tripped;
    },
    sample,
    report: () =>
      [...seen].map(([pid, { label, role: r, limit, first, peak, last }]) => ({
        label,
        role: r,
        pid,
        limit,
        first,
        peak,
        last,
      })),
  };
}
