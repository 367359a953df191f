#!/usr/bin/env node
// Pack-time helper (prepack/postpack), not installed as a command.
// In the repository `templates` is a symlink to the Python package's templates,
// and npm does not pack symlinks. Before packing we swap the link for a real
// copy; after packing (--restore) we put the link back.

import { cpSync, lstatSync, readlinkSync, rmSync, symlinkSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const link = path.join(root, "templates");
const marker = path.join(root, ".templates-link");

if (process.argv.includes("--restore")) {
  if (existsSync(marker)) {
    const target = readFileSync(marker, "utf8").trim();
    rmSync(link, { recursive: true, force: true });
    symlinkSync(target, link);
    rmSync(marker);
  }
} else if (lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink()) {
  const target = readlinkSync(link);
  const source = path.resolve(root, target);
  writeFileSync(marker, target + "\n");
  rmSync(link);
  cpSync(source, link, { recursive: true });
}
