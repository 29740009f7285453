// The reference TypeScript client (npm partysocket + ws), driven line by line for the
// interop tests: argv = host room id; every stdin line is sent; every event is printed
// to stdout as one JSON object per line.
import PartySocket from "partysocket";
import WS from "ws";
import readline from "node:readline";

const [host, room, id] = process.argv.slice(2);
const ws = new PartySocket({ host, room, id, WebSocket: WS, minReconnectionDelay: 50, maxReconnectionDelay: 500 });
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

ws.addEventListener("open", () => out({ type: "open" }));
ws.addEventListener("message", (e) => out({ type: "message", data: String(e.data) }));
ws.addEventListener("close", (e) => out({ type: "close", code: e.code }));

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => ws.send(line));
lines.on("close", () => {
  ws.close();
  process.exit(0);
});
