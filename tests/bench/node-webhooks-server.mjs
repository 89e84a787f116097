// The Node.js side of tests/bench-intake.sh: what a GitHub App author would otherwise run to
// take webhooks, built on @octokit/webhooks 14 (pinned in package.json / package-lock.json).
//
//   BENCH_WEBHOOK_SECRET=... BENCH_LISTEN_PORT=8081 node node-webhooks-server.mjs
//
// POST /webhook goes through createNodeMiddleware: the same checks keyroll makes before it
// stores a delivery (Content-Type, the X-GitHub-Event / X-GitHub-Delivery /
// X-Hub-Signature-256 headers, the HMAC-SHA256 of the body against the secret), then
// JSON.parse and the dispatch to the handlers below, which do nothing. Nothing is stored,
// so this is the floor of what a Node receiver costs. It answers 200 to a good delivery and
// 400 to a mis-signed one. Its logger is silent: by default @octokit/webhooks prints the
// whole error (with a stack) for every mis-signed request, which would make the mis-signed
// run a benchmark of the console. GET /healthz answers "ok" for the start-up wait.
import http from "node:http";
import { Webhooks, createNodeMiddleware } from "@octokit/webhooks";

const secret = process.env.BENCH_WEBHOOK_SECRET;
const port = Number(process.env.BENCH_LISTEN_PORT || "0");
if (!secret || !port) {
  console.error("node-webhooks-server: set BENCH_WEBHOOK_SECRET and BENCH_LISTEN_PORT");
  process.exit(2);
}

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const webhooks = new Webhooks({ secret, log: silent });
webhooks.on("ping", () => {});
webhooks.onAny(() => {});
webhooks.onError(() => {});

const middleware = createNodeMiddleware(webhooks, { path: "/webhook", log: silent });

const server = http.createServer((request, response) => {
  if (request.method === "GET" && request.url === "/healthz") {
    response.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    return;
  }
  middleware(request, response).then((handled) => {
    if (!handled) response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  });
});

server.listen(port, "127.0.0.1", () => {
  console.error(`node-webhooks-server: @octokit/webhooks on 127.0.0.1:${port}, node ${process.version}`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
