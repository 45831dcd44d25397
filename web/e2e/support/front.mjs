// A stand-in front for a server binary that cannot serve the dashboard itself (a debug build
// compiled before web/build existed: its embedded-asset lookup then refuses every file). Serves
// web/build like the server does (exact files, index.html for other extension-less paths) and
// passes API and collection routes, WebSocket upgrades included, to the real server.
// Usage: node e2e/support/front.mjs <port> <backend base URL>
import { createServer, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const [portArg, backendArg] = process.argv.slice(2);
const backend = new URL(backendArg);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../build');
const types = {
	'.html': 'text/html; charset=utf-8',
	'.js': 'text/javascript',
	'.css': 'text/css',
	'.json': 'application/json',
	'.svg': 'image/svg+xml',
	'.png': 'image/png',
	'.ico': 'image/x-icon',
	'.txt': 'text/plain'
};
const proxied = (path) =>
	['/api/', '/v1/', '/c/', '/i/'].some((p) => path.startsWith(p)) ||
	['/api', '/healthz', '/readyz', '/metrics'].includes(path);

function proxy(req, res) {
	const upstream = httpRequest(
		{ host: backend.hostname, port: backend.port, method: req.method, path: req.url, headers: req.headers },
		(answer) => {
			res.writeHead(answer.statusCode ?? 502, answer.headers);
			answer.pipe(res);
		}
	);
	upstream.on('error', (error) => {
		res.writeHead(502, { 'content-type': 'text/plain' });
		res.end(`backend unreachable: ${error.message}`);
	});
	req.pipe(upstream);
}

async function serveFile(path, res) {
	const file = normalize(join(root, path));
	if (!file.startsWith(root)) return false;
	try {
		const body = await readFile(file);
		res.writeHead(200, {
			'content-type': types[extname(file)] ?? 'application/octet-stream',
			'cache-control': path.startsWith('/_app/immutable/') ? 'public, max-age=31536000, immutable' : 'no-cache'
		});
		res.end(body);
		return true;
	} catch {
		return false;
	}
}

const server = createServer(async (req, res) => {
	const path = decodeURIComponent(new URL(req.url ?? '/', 'http://front').pathname);
	if (proxied(path)) return proxy(req, res);
	if (path !== '/' && (await serveFile(path, res))) return;
	if (path !== '/' && extname(path)) {
		res.writeHead(404, { 'content-type': 'text/plain' });
		return res.end('not found');
	}
	if (!(await serveFile('/index.html', res))) {
		res.writeHead(503, { 'content-type': 'text/plain' });
		res.end('web/build is missing: run npm run build');
	}
});

// WebSocket (the live feed): splice the raw sockets after replaying the upgrade request.
server.on('upgrade', (req, socket, head) => {
	const upstream = connect(Number(backend.port), backend.hostname, () => {
		const lines = [`${req.method} ${req.url} HTTP/1.1`];
		for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
		upstream.write(lines.join('\r\n') + '\r\n\r\n');
		if (head?.length) upstream.write(head);
		upstream.pipe(socket);
		socket.pipe(upstream);
	});
	const end = () => {
		socket.destroy();
		upstream.destroy();
	};
	upstream.on('error', end);
	socket.on('error', end);
});

server.listen(Number(portArg), '127.0.0.1', () => {
	console.log(`front: http://127.0.0.1:${portArg}/ -> ${backend.origin}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
