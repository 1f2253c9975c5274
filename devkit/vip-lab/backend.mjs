// A VIP backend for devkit/vip-lab.ts: an HTTP server that answers every request with its name
// and the client's address as it sees it. Keep-alive connections never time out (the tests hold
// them open across VIP updates). Usage: node backend.mjs NAME PORT
import { createServer } from 'node:http';

const [name, port] = process.argv.slice(2);
const server = createServer((req, res) => {
  req.resume();
  const body = JSON.stringify({ name, remote: req.socket.remoteAddress });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 0;
server.requestTimeout = 0;
server.headersTimeout = 0;
server.listen(Number(port), '0.0.0.0', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
