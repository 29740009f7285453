// A tiny PartyKit room server for partysocket-python's interop tests.
// On connect it tells the client what the server saw (room id, connection id, URL);
// messages are broadcast to the other connections, and "echo:" messages come back too;
// HTTP requests are answered with their method, URL, body and room.
import type * as Party from "partykit/server";

export default class Server implements Party.Server {
  constructor(readonly room: Party.Room) {}

  onConnect(conn: Party.Connection, ctx: Party.ConnectionContext) {
    conn.send(
      JSON.stringify({ type: "welcome", room: this.room.id, party: this.room.name, id: conn.id, url: ctx.request.url })
    );
  }

  onMessage(message: string | ArrayBuffer | ArrayBufferView, sender: Party.Connection) {
    if (typeof message === "string" && message.startsWith("echo:")) {
      sender.send(message);
      return;
    }
    this.room.broadcast(message as string, [sender.id]);
  }

  async onRequest(req: Party.Request) {
    const body = await req.text();
    return new Response(
      JSON.stringify({ method: req.method, url: req.url, body, room: this.room.id, party: this.room.name }),
      { headers: { "content-type": "application/json" } }
    );
  }
}
