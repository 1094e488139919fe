// Bundles the component into dist/index.js (with its dependencies, as Prismatic runs it)
// and copies the icon beside it.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";

rmSync("dist", { recursive: true, force: true });
mkdirSync("dist");
await build({
  entryPoints: ["src/index.ts"],
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  outfile: "dist/index.js",
  sourcemap: true,
  logLevel: "warning",
});
copyFileSync("assets/icon.png", "dist/icon.png");
