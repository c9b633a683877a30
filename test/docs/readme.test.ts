// README's "What the server answers to bad input" table and the tests mirror
// each other one-to-one: every row id has a test whose title starts with it,
// and no test names a row that does not exist.
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
  for (const dir of ["test/worker", "test/configured", "test/large", "test/e2e"]) {
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
  it("has rows B1…Bn in order", () => {
    const ids = tableIds();
    expect(ids.length).toBeGreaterThan(15);
    expect(ids).toEqual(ids.map((_, i) => `B${i + 1}`));
  });

  it("has a test for every row, and no test for a row it lacks", () => {
    const ids = tableIds();
    const tested = testedIds();
    expect(ids.filter((id) => !tested.has(id))).toEqual([]);
    expect([...tested.keys()].filter((id) => !ids.includes(id))).toEqual([]);
  });
});
