// README's "What the server answers to bad input" table and the tests mirror
// each other one-to-one: every row id has a test whose title starts with it,
// and no test names a row that does not exist. README's frames tables name
// every frame type the Rust core defines (pkg/core.d.ts, from `npm run build`).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL("../..", import.meta.url).pathname;

function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`## ${heading}`);
  expect(start, `README has "## ${heading}"`).toBeGreaterThanOrEqual(0);
  const end = markdown.indexOf("\n## ", start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}

/** Row ids of the README table. */
function tableIds(): string[] {
  const table = section(
    readFileSync(join(root, "README.md"), "utf8"),
    "What the server answers to bad input",
  );
  return [...table.matchAll(/^\| (B\d+) \|/gm)].map((match) => match[1]);
}

/** Ids at the start of test titles: `it("B4 B5 …")`, in every test file. */
function testedIds(): Map<string, string[]> {
  const tested = new Map<string, string[]>();
  for (const dir of ["test/worker", "test/configured", "test/large", "test/sharded", "test/e2e"]) {
    for (const file of readdirSync(join(root, dir)).filter((f) => f.endsWith(".test.ts"))) {
      const source = readFileSync(join(root, dir, file), "utf8");
      for (const title of source.matchAll(/\bit\(\s*"((?:B\d+ )+)/g)) {
        for (const id of title[1].trim().split(" ")) {
          tested.set(id, [...(tested.get(id) ?? []), `${dir}/${file}`]);
        }
      }
    }
  }
  return tested;
}

describe("README bad-input table", () => {
  it("has rows from B1 on, ids rising (blocks reserved per branch may leave gaps)", () => {
    const ids = tableIds();
    expect(ids.length).toBeGreaterThan(15);
    const numbers = ids.map((id) => Number(id.slice(1)));
    expect(numbers[0]).toBe(1);
    expect(numbers.filter((n, i) => i > 0 && n <= numbers[i - 1])).toEqual([]);
  });

  it("has a test for every row, and no test for a row it lacks", () => {
    const ids = tableIds();
    const tested = testedIds();
    expect(ids.filter((id) => !tested.has(id))).toEqual([]);
    expect([...tested.keys()].filter((id) => !ids.includes(id))).toEqual([]);
  });
});

/** The `type` of every variant of `union` in the generated pkg/core.d.ts. */
function generatedTypes(union: string): string[] {
  const declarations = readFileSync(join(root, "pkg/core.d.ts"), "utf8");
  const line = declarations.split("\n").find((l) => l.startsWith(`export type ${union} = `));
  expect(line, `pkg/core.d.ts declares ${union}`).toBeDefined();
  return [...(line ?? "").matchAll(/\{ type: "(\w+)"/g)].map((match) => match[1]);
}

describe("README frames tables", () => {
  it("show every ClientFrame and ServerFrame type", () => {
    const frames = section(readFileSync(join(root, "README.md"), "utf8"), "Rooms");
    const client = generatedTypes("ClientFrame");
    const server = generatedTypes("ServerFrame");
    expect(client).toContain("say");
    expect(server).toContain("welcome");
    const missing = [...client, ...server].filter((type) => !frames.includes(`{"type":"${type}"`));
    expect(missing).toEqual([]);
  });
});
