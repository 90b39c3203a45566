#!/bin/sh
# The records test application (see ../README.md), a foreground Node program supervised by the
# hamod agent on the primary. Parameters arrive quoted ({{params.port}} expands a variable).
set -eu
port={{params.port}}
data={{params.data_dir}}
mkdir -p "$data"
exec node --input-type=module -e '
import { createServer } from "node:http";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join, normalize, isAbsolute } from "node:path";

const [port, data] = process.argv.slice(1);
const node = process.env.HAMOD_NODE ?? "?";
const file = join(data, "records.log");
const sha = (s) => createHash("sha256").update(s, "latin1").digest("hex");
const say = (m) => process.stdout.write(`records app on ${node}: ${m}\n`);

// ---- recovery of records.log (runs before the first record is accepted)
function fsyncPath(p) { const fd = fs.openSync(p, "r"); try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); } }
function recover() {
  let buf;
  try { buf = fs.readFileSync(file); } catch { return; }
  let pos = 0;
  let why = null;
  let lines = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(10, pos);
    if (nl < 0) { why = "torn tail (no final newline)"; break; }
    const line = buf.subarray(pos, nl).toString("latin1");
    const m = /^(\d+) (\d+) ([0-9a-f]{64}) (.*)$/.exec(line);
    if (!m || Number(m[2]) !== m[4].length || sha(m[4]) !== m[3]) { why = `invalid record at line ${lines + 1}`; break; }
    pos = nl + 1;
    lines++;
  }
  if (why === null) return;
  const dropped = buf.subarray(pos);
  const nls = dropped.filter((b) => b === 10).length;
  const stamp = `${new Date().toISOString().replace(/[:.]/g, "-")}-${node}`;
  fs.mkdirSync(join(data, "recovery"), { recursive: true });
  const saved = join(data, "recovery", `${stamp}.dropped`);
  fs.writeFileSync(saved, dropped);
  fsyncPath(saved);
  fs.truncateSync(file, pos);
  fsyncPath(file);
  const msg = `${new Date().toISOString()} ${node}: ${why}: kept ${lines} records (${pos} bytes), cut ${dropped.length} bytes (${nls} complete lines) saved in recovery/${stamp}.dropped\n`;
  fs.appendFileSync(join(data, "recovery.log"), msg);
  fsyncPath(join(data, "recovery.log"));
  fsyncPath(join(data, "recovery"));
  fsyncPath(data);
  say(`recovery: ${msg.trim()}`);
}

// ---- records: group commit (one write + one fdatasync per batch, then every request of the batch answered)
let fd = -1;
let queue = [];
let flushing = false;
let broken = false;
function writeAll(buf, off, cb) {
  if (off >= buf.length) return cb(null);
  fs.write(fd, buf, off, buf.length - off, null, (err, n) => (err ? cb(err) : writeAll(buf, off + n, cb)));
}
function fail(batch, err) {
  broken = true;
  say(`write failed: ${err.code ?? err.message}: exiting (recovery at the next start)`);
  for (const r of [...batch, ...queue]) { try { r.res.statusCode = 503; r.res.end(`write failed: ${err.code ?? err.message}\n`); } catch {} }
  queue = [];
  setTimeout(() => process.exit(1), 50);
}
function flush() {
  if (flushing || queue.length === 0 || fd < 0 || broken) return;
  flushing = true;
  const batch = queue;
  queue = [];
  writeAll(Buffer.from(batch.map((r) => r.line).join(""), "latin1"), 0, (err) => {
    if (err) return fail(batch, err);
    fs.fdatasync(fd, (err2) => {
      if (err2) return fail(batch, err2);
      for (const r of batch) r.res.end("ok\n");
      flushing = false;
      flush();
    });
  });
}

// ---- scripted file operations (crash-consistency workloads)
const FSYNC_OPS = new Set(["fsync", "fdatasync", "fsyncdir"]);
function rel(p) {
  if (typeof p !== "string" || p === "" || isAbsolute(p) || normalize(p).split("/").includes("..")) throw new Error(`bad path ${p}`);
  return join(data, p);
}
function runOp(o) {
  switch (o.op) {
    case "mkdirp": fs.mkdirSync(rel(o.path), { recursive: true }); return;
    case "mkdir": fs.mkdirSync(rel(o.path)); return;
    case "write": {
      const buf = Buffer.from(o.data, "base64");
      const flags = o.append ? "a" : o.create ? "w" : "r+";
      const f = fs.openSync(rel(o.path), flags);
      try {
        let off = 0;
        while (off < buf.length) off += fs.writeSync(f, buf, off, buf.length - off, o.append ? null : (o.offset ?? 0) + off);
      } finally { fs.closeSync(f); }
      return;
    }
    case "fsync": case "fdatasync": {
      const f = fs.openSync(rel(o.path), "r+");
      try { if (o.op === "fsync") fs.fsyncSync(f); else fs.fdatasyncSync(f); } finally { fs.closeSync(f); }
      return;
    }
    case "fsyncdir": fsyncPath(o.path === "." ? data : rel(o.path)); return;
    case "rename": fs.renameSync(rel(o.from), rel(o.to)); return;
    case "unlink": fs.unlinkSync(rel(o.path)); return;
    case "truncate": fs.truncateSync(rel(o.path), o.size); return;
    default: throw new Error(`unknown op ${o.op}`);
  }
}
function runOps(ops, stop) {
  let point = 0;
  let i = 0;
  for (; i < ops.length; i++) {
    const o = ops[i];
    if (FSYNC_OPS.has(o.op) && point >= stop) break;
    runOp(o);
    if (FSYNC_OPS.has(o.op)) point++;
  }
  return { point, executed: i };
}

// ---- HTTP
const ready = new Promise((resolve) => {
  setImmediate(() => {
    try {
      recover();
      fd = fs.openSync(file, "a");
      try { fs.mkdirSync(join(data, "cache"), { recursive: true }); fs.writeFileSync(join(data, "cache", "started"), `${node} ${process.pid} ${new Date().toISOString()}\n`); } catch (e) { say(`cache: ${e.message}`); }
      say("ready");
    } catch (e) {
      say(`start failed: ${e.stack}`);
      process.exit(1);
    }
    resolve();
  });
});
function body(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    req.on("data", (d) => parts.push(d));
    req.on("end", () => resolve(Buffer.concat(parts)));
    req.on("error", reject);
  });
}
createServer(async (req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  try {
    if (url.pathname === "/health") { res.end("ok\n"); return; }
    if (url.pathname === "/" && req.method === "GET") {
      let size = 0;
      try { size = fs.statSync(file).size; } catch {}
      res.end(`hamod records on ${node}: ${size} bytes of records\n`);
      return;
    }
    if (url.pathname === "/record" && req.method === "POST") {
      const id = url.searchParams.get("id") ?? "";
      const payload = (await body(req)).toString("latin1");
      if (!/^\d+$/.test(id) || payload.includes("\n")) { res.statusCode = 400; res.end("bad record\n"); return; }
      await ready;
      if (broken) { res.statusCode = 503; res.end("broken\n"); return; }
      queue.push({ line: `${id} ${payload.length} ${sha(payload)} ${payload}\n`, res });
      flush();
      return;
    }
    if (url.pathname === "/records" && req.method === "GET") {
      await ready;
      fs.createReadStream(file).on("error", () => res.end()).pipe(res);
      return;
    }
    if (url.pathname === "/ops" && req.method === "POST") {
      const spec = JSON.parse((await body(req)).toString("utf8"));
      const stop = Number(url.searchParams.get("stop") ?? "Infinity");
      await ready;
      const r = runOps(spec.ops, stop);
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(r) + "\n");
      return;
    }
    res.statusCode = 404;
    res.end("not found\n");
  } catch (e) {
    res.statusCode = 500;
    res.end(`error: ${e.message}\n`);
  }
}).listen(Number(port));
' "$port" "$data"
