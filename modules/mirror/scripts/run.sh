#!/bin/sh
# Foreground process supervised by the hamod agent on the primary. Replace the example HTTP
# service below with your application (keep `exec` so the agent watches the real process).
# Parameters arrive quoted: {{params.port}} expands the HAMOD_PARAM_PORT variable, never code.
set -eu
port={{params.port}}
data={{params.data_dir}}
mkdir -p "$data"
exec node --input-type=module -e '
import { createServer } from "node:http";
import { appendFileSync, readFileSync } from "node:fs";
const [port, data] = process.argv.slice(1);
const log = `${data}/visits.log`;
createServer((req, res) => {
  if (req.url === "/health") { res.end("ok\n"); return; }
  if (req.method === "POST") appendFileSync(log, `${new Date().toISOString()} ${req.socket.remoteAddress}\n`, { flag: "a" });
  let n = 0;
  try { n = readFileSync(log, "utf8").split("\n").length - 1; } catch {}
  res.end(`hamod ${process.env.HAMOD_MODULE ?? "app"} on ${process.env.HAMOD_NODE ?? "?"}: ${n} visit(s) recorded\n`);
}).listen(Number(port));
' "$port" "$data"
