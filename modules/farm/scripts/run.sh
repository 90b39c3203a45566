#!/bin/sh
# Foreground process supervised by the hamod agent on every node. Replace the example HTTP
# service below with your application (keep `exec` so the agent watches the real process).
set -eu
port={{params.port}}
exec node --input-type=module -e '
import { createServer } from "node:http";
import { hostname } from "node:os";
const [port] = process.argv.slice(1);
createServer((req, res) => {
  res.end(`served by ${process.env.HAMOD_NODE ?? hostname()} to ${req.socket.remoteAddress}:${req.socket.remotePort}\n`);
}).listen(Number(port));
' "$port"
