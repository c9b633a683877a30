// The `default` of every switch over a union generated from Rust (frames,
// effects, routes, openings): `value` is `never` while the switch handles
// every variant, so a variant added in Rust fails `tsc` at each switch that
// does not handle it yet.

/** Throws at run time (a pkg/ newer than the code that switches on it). */
export function unhandled(value: never): never {
  throw new Error(`unhandled variant from the Rust core: ${JSON.stringify(value)}`);
}
