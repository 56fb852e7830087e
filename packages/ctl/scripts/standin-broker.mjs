// A stand-in for RabbitMQ that answers one net2banctl publish, for the build's code-cache warm-up only:
// AMQP 0-9-1 connection and channel open, confirm.select, basic.ack of each publish, close. With it the
// warm-up runs the whole exec path (connect, publish, confirm, close), so the V8 code cache holds those
// functions compiled and a real run does not compile them lazily (measured in docs/benchmarks.md).
import { createServer } from "node:net";

const FRAME_METHOD = 1;
const FRAME_END = 0xce;

function frame(type, channel, payload) {
  const out = Buffer.alloc(8 + payload.length);
  out.writeUInt8(type, 0);
  out.writeUInt16BE(channel, 1);
  out.writeUInt32BE(payload.length, 3);
  payload.copy(out, 7);
  out.writeUInt8(FRAME_END, 7 + payload.length);
  return out;
}

function method(channel, classId, methodId, args = Buffer.alloc(0)) {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(classId, 0);
  head.writeUInt16BE(methodId, 2);
  return frame(FRAME_METHOD, channel, Buffer.concat([head, args]));
}

const longString = (text) => {
  const bytes = Buffer.from(text);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length, 0);
  return Buffer.concat([length, bytes]);
};

function connectionStart() {
  // version 0-9, empty server-properties table, PLAIN, en_US
  return method(
    0,
    10,
    10,
    Buffer.concat([Buffer.from([0, 9]), Buffer.alloc(4), longString("PLAIN"), longString("en_US")]),
  );
}

function connectionTune() {
  const args = Buffer.alloc(8);
  args.writeUInt16BE(2047, 0); // channel-max
  args.writeUInt32BE(131072, 2); // frame-max
  args.writeUInt16BE(0, 6); // heartbeat
  return method(0, 10, 30, args);
}

function basicAck(channel, tag) {
  const args = Buffer.alloc(9);
  args.writeBigUInt64BE(BigInt(tag), 0);
  return method(channel, 60, 80, args);
}

/** Starts the stand-in on 127.0.0.1 (a free port); resolves with its URL and a close function. */
export async function startStandInBroker() {
  const sockets = new Set();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let buffer = Buffer.alloc(0);
    let greeted = false;
    const tags = new Map();
    socket.on("data", (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!greeted) {
        if (buffer.length < 8) return;
        buffer = buffer.subarray(8); // "AMQP\0\0\x09\x01"
        greeted = true;
        socket.write(connectionStart());
      }
      while (buffer.length >= 8) {
        const size = buffer.readUInt32BE(3);
        if (buffer.length < size + 8) return;
        const type = buffer.readUInt8(0);
        const channel = buffer.readUInt16BE(1);
        const payload = buffer.subarray(7, 7 + size);
        buffer = buffer.subarray(size + 8);
        if (type !== FRAME_METHOD) continue; // content header, body, heartbeat
        const id = `${payload.readUInt16BE(0)}.${payload.readUInt16BE(2)}`;
        if (id === "10.11")
          socket.write(connectionTune()); // start-ok
        else if (id === "10.40")
          socket.write(method(0, 10, 41, Buffer.from([0]))); // open -> open-ok
        else if (id === "20.10")
          socket.write(method(channel, 20, 11, Buffer.alloc(4))); // channel open-ok
        else if (id === "85.10") {
          tags.set(channel, 0);
          socket.write(method(channel, 85, 11)); // confirm select-ok
        } else if (id === "60.40") {
          // basic.publish: acked at once (its header and body frames follow and are skipped)
          const tag = (tags.get(channel) ?? 0) + 1;
          tags.set(channel, tag);
          socket.write(basicAck(channel, tag));
        } else if (id === "20.40")
          socket.write(method(channel, 20, 41)); // channel close-ok
        else if (id === "10.50") {
          socket.write(method(0, 10, 51)); // connection close-ok
          socket.end();
        }
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}/`,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
