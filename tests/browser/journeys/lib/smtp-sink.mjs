// A small SMTP server for the browser journeys: accepts every mail the IdP sends over real
// SMTP (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and writes each one, as received, to
// DIR/<n>.eml with the envelope recipients in an `X-Envelope-To` header.
//
//   node smtp-sink.mjs PORT DIR
import net from "node:net";
import fs from "node:fs";
import path from "node:path";

const [port, dir] = process.argv.slice(2);
if (!port || !dir) {
  console.error("usage: node smtp-sink.mjs PORT DIR");
  process.exit(2);
}
fs.mkdirSync(dir, { recursive: true });
let seq = 0;

const server = net.createServer((socket) => {
  let buffer = "";
  let inData = false;
  let data = [];
  let rcpt = [];
  const reply = (line) => socket.write(line + "\r\n");
  reply("220 localhost kenpo journey SMTP sink");
  socket.setEncoding("utf8");
  socket.on("data", (chunk) => {
    buffer += chunk;
    let i;
    while ((i = buffer.indexOf("\r\n")) >= 0) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 2);
      if (inData) {
        if (line === ".") {
          inData = false;
          seq += 1;
          const name = String(seq).padStart(4, "0") + ".eml";
          const body = "X-Envelope-To: " + rcpt.join(", ") + "\r\n" + data.join("\r\n") + "\r\n";
          fs.writeFileSync(path.join(dir, name + ".tmp"), body);
          fs.renameSync(path.join(dir, name + ".tmp"), path.join(dir, name));
          data = [];
          rcpt = [];
          reply("250 2.0.0 queued as " + name);
        } else {
          data.push(line.startsWith("..") ? line.slice(1) : line);
        }
        continue;
      }
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === "EHLO") {
        reply("250-localhost");
        reply("250-8BITMIME");
        reply("250-SMTPUTF8");
        reply("250 SIZE 10485760");
      } else if (verb === "HELO") reply("250 localhost");
      else if (verb === "MAIL") { rcpt = []; reply("250 2.1.0 OK"); }
      else if (verb === "RCPT") {
        const m = /<([^>]*)>/.exec(line);
        if (m) rcpt.push(m[1]);
        reply("250 2.1.5 OK");
      } else if (verb === "DATA") { inData = true; data = []; reply("354 end with <CRLF>.<CRLF>"); }
      else if (verb === "RSET") { rcpt = []; data = []; reply("250 OK"); }
      else if (verb === "NOOP") reply("250 OK");
      else if (verb === "QUIT") { reply("221 bye"); socket.end(); }
      else reply("502 5.5.2 not implemented");
    }
  });
  socket.on("error", () => {});
});

server.listen(Number(port), "127.0.0.1", () => {
  console.log(`smtp sink listening on 127.0.0.1:${port}, writing to ${dir}`);
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => server.close(() => process.exit(0)));
