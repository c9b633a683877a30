// The compiler's half of "a new Rust variant is handled everywhere": every
// `switch` in the shim, the client and the page ends in `default:
// unhandled(x)` (js/unhandled.ts, whose parameter is `never`), so `tsc`, which
// `npm test` runs, fails at each one that lacks a case for a new variant. This
// test checks the shape tsc relies on: that those switches exist where
// TypeScript handles effects and frames, and that none lacks the default.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const root = new URL("../..", import.meta.url).pathname;

/** The TypeScript that carries out Rust's decisions or reads its frames. */
const FILES = [
  ...readdirSync(join(root, "js"))
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
    .map((f) => `js/${f}`),
  ...readdirSync(join(root, "web"))
    .filter((f) => f.endsWith(".ts"))
    .map((f) => `web/${f}`),
];

interface Switch {
  file: string;
  /** The enclosing function or method. */
  where: string;
  /** The switch's expression, e.g. `frame.type`. */
  on: string;
  /** What its last clause does, if it is `default: unhandled(x)`: `x`. */
  unhandled: string | null;
}

function switches(file: string): Switch[] {
  const source = ts.createSourceFile(
    file,
    readFileSync(join(root, file), "utf8"),
    ts.ScriptTarget.Latest,
    true,
  );
  const found: Switch[] = [];
  const visit = (node: ts.Node, where: string) => {
    let inside = where;
    if (
      (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node)) &&
      node.name !== undefined
    ) {
      inside = node.name.getText(source);
    }
    if (ts.isSwitchStatement(node)) {
      const clauses = node.caseBlock.clauses;
      const last = clauses[clauses.length - 1];
      let unhandled: string | null = null;
      if (last !== undefined && ts.isDefaultClause(last)) {
        for (const statement of last.statements) {
          const call = ts.isReturnStatement(statement) ? statement.expression : statement;
          const expression = call && ts.isExpressionStatement(call) ? call.expression : call;
          if (
            expression !== undefined &&
            ts.isCallExpression(expression) &&
            expression.expression.getText(source) === "unhandled"
          ) {
            unhandled = expression.arguments[0]?.getText(source) ?? null;
          }
        }
      }
      found.push({ file, where: inside, on: node.expression.getText(source), unhandled });
    }
    ts.forEachChild(node, (child) => visit(child, inside));
  };
  visit(source, "(top level)");
  return found;
}

const all = FILES.flatMap(switches);

describe("switches over the generated unions", () => {
  it("exist where TypeScript carries out effects and reads server frames", () => {
    const at = (file: string, where: string, on: string) =>
      all.some((s) => s.file === file && s.where === where && s.on === on);
    // Effect: the shim. ServerFrame: the client's presence and the page.
    // Route and Opening: the shim's two request handlers.
    expect({
      effects: at("js/index.ts", "perform", "effect.kind"),
      route: at("js/index.ts", "route", "route.kind"),
      opening: at("js/index.ts", "open", "opening.kind"),
      client: at("js/client.ts", "track", "frame.type"),
      page: at("web/demo.ts", "onFrame", "frame.type"),
    }).toEqual({ effects: true, route: true, opening: true, client: true, page: true });
  });

  it("every switch ends in default: unhandled(x) on the value it switches over", () => {
    const wrong = all
      .filter((s) => s.unhandled === null || !s.on.startsWith(`${s.unhandled}.`))
      .map((s) => `${s.file} ${s.where}: switch (${s.on}) ends without unhandled(…)`);
    expect(all.length).toBeGreaterThanOrEqual(6);
    expect(wrong).toEqual([]);
  });
});
