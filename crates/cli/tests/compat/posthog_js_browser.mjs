// Drives PostHog's browser library (posthog-js), unchanged, in headless Chromium against an
// UnMoGrowP server: an install with an advertising id, a purchase and a screen, each with a
// fixed event uuid (so a second run with the same RUN_TAG re-sends the same events, which the
// server must count once).
//
// Usage: node posthog_js_browser.mjs BASE_URL API_KEY GAID RUN_TAG
// posthog-js and playwright-core come from clients/compat (or TEST_COMPAT_NODE_DIR); Chromium is
// /usr/bin/chromium (or CHROMIUM_PATH). The page is served by this script itself at the server's
// origin (so no CORS is involved); every other request goes to the real server. Waits until the
// three events were sent in requests the server answered 200, then prints those requests and
// "sent"; exits 1 on any other answer to a capture request, or after 20 s.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
// The repository's root is four levels up from crates/cli/tests/compat.
const packages = process.env.TEST_COMPAT_NODE_DIR || resolve(here, '../../../../clients/compat');
const require = createRequire(join(packages, 'package.json'));
const { chromium } = require('playwright-core');

const [base, apiKey, gaid, tag] = process.argv.slice(2);
if (!tag) {
	console.error('usage: node posthog_js_browser.mjs BASE_URL API_KEY GAID RUN_TAG');
	process.exit(2);
}
const TIMEOUT_MS = 20_000;
const origin = new URL(base).origin;
const pagePath = '/__compat/posthog-js.html';
const dist = join(packages, 'node_modules/posthog-js/dist');
const bundle = ['array.full.js', 'array.js'].map((name) => join(dist, name)).find(existsSync);
if (!bundle) {
	console.error(`no posthog-js browser bundle in ${dist}: npm ci in ${packages}`);
	process.exit(2);
}

// A name-based (version 5) UUID in the URL namespace, as Python's uuid.uuid5 makes.
function uuid5(name) {
	const namespace = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');
	const hash = createHash('sha1').update(namespace).update(name, 'utf8').digest().subarray(0, 16);
	hash[6] = (hash[6] & 0x0f) | 0x50;
	hash[8] = (hash[8] & 0x3f) | 0x80;
	const hex = hash.toString('hex');
	return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const ids = {
	install: uuid5(`js-install-${tag}`),
	order: uuid5(`js-order-${tag}`),
	screen: uuid5(`js-screen-${tag}`),
};
// A minute after the click: an install seconds after its click is rejected as click injection.
const at = Date.now() + 60_000;

// The events in a capture request's body: plain JSON, gzip (`compression=gzip-js`), or a
// form's `data=` field in base64 (`compression=base64`) or plain.
function eventsOf(body) {
	if (!body || body.length === 0) return [];
	let text;
	if (body[0] === 0x1f && body[1] === 0x8b) {
		text = gunzipSync(body).toString('utf8');
	} else {
		text = body.toString('utf8');
		if (/^data=/.test(text)) {
			const data = new URLSearchParams(text).get('data') ?? '';
			text = data.trimStart().startsWith('{') || data.trimStart().startsWith('[')
				? data
				: Buffer.from(data, 'base64').toString('utf8');
		}
	}
	const document = JSON.parse(text);
	if (Array.isArray(document)) return document;
	if (Array.isArray(document.batch)) return document.batch;
	return [document];
}

const isCapture = (url) => url.origin === origin && /^\/(e|i\/v0\/e|batch|capture|track)\/?$/.test(url.pathname);

const requests = []; // every request the page made to the server, in order
const failures = [];
const delivered = new Set(); // event uuids in capture requests answered 200
let firstBody = null;

const browser = await chromium.launch({
	executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
	headless: true,
	args: [
		'--no-sandbox',
		'--disable-gpu',
		'--disable-background-networking',
		'--disable-component-update',
		'--disable-sync',
		'--no-first-run',
		'--disable-quic',
	],
});
let exitCode = 1;
try {
	const page = await browser.newPage();
	await page.route(`${origin}${pagePath}`, (route) =>
		route.fulfill({
			status: 200,
			contentType: 'text/html; charset=utf-8',
			body: '<!doctype html><html><head><meta charset="utf-8"><title>compat</title></head><body></body></html>',
		}),
	);
	page.on('console', (message) => {
		if (message.type() === 'error' || message.type() === 'warning') {
			console.error(`[page ${message.type()}] ${message.text()}`);
		}
	});
	page.on('pageerror', (error) => failures.push(`page error: ${error.message}`));
	page.on('requestfailed', (request) => {
		const url = new URL(request.url());
		if (url.origin === origin && url.pathname !== pagePath) {
			failures.push(`${request.method()} ${url.pathname}${url.search} failed: ${request.failure()?.errorText}`);
		}
	});
	page.on('response', async (response) => {
		const request = response.request();
		const url = new URL(request.url());
		if (url.origin !== origin || url.pathname === pagePath) return;
		const body = request.postDataBuffer();
		const entry = {
			method: request.method(),
			path: `${url.pathname}${url.search}`,
			contentType: (await request.allHeaders())['content-type'] ?? '',
			contentEncoding: (await request.allHeaders())['content-encoding'] ?? '',
			status: response.status(),
			bytes: body?.length ?? 0,
		};
		requests.push(entry);
		if (!isCapture(url)) return;
		let answer = '';
		try {
			answer = (await response.text()).slice(0, 300);
		} catch {
			// a beacon's answer is not readable
		}
		if (response.status() !== 200) {
			failures.push(
				`${entry.method} ${entry.path} (${entry.contentType}${entry.contentEncoding ? `, ${entry.contentEncoding}` : ''}) ` +
					`answered ${response.status()}: ${answer}\nbody (base64, first 400 bytes): ${body?.subarray(0, 400).toString('base64')}`,
			);
			return;
		}
		try {
			const events = eventsOf(body);
			entry.events = events.map((event) => event?.event);
			firstBody ??= JSON.stringify(events).slice(0, 1500);
			for (const event of events) {
				if (event?.uuid) delivered.add(event.uuid);
			}
		} catch (error) {
			failures.push(`${entry.method} ${entry.path}: could not read the body this script expected: ${error.message}`);
		}
	});

	await page.goto(`${origin}${pagePath}`);
	await page.addScriptTag({ path: bundle });
	// Waits (within the one deadline) until the events with these uuids were delivered, or a
	// capture request failed.
	const deadline = Date.now() + TIMEOUT_MS;
	const delivery = async (wanted) => {
		while (failures.length === 0 && !wanted.every((id) => delivered.has(id)) && Date.now() < deadline) {
			await new Promise((done) => setTimeout(done, 50));
		}
	};
	const device = { $gaid: gaid, $os: 'Android', $os_version: '14', $device_model: 'Pixel 8' };
	await page.evaluate(
		({ apiKey, base, tag, device, id, at }) => {
			window.posthog.init(apiKey, {
				api_host: base,
				autocapture: false,
				capture_pageview: false,
				capture_pageleave: false,
				capture_performance: false,
				capture_dead_clicks: false,
				capture_exceptions: false,
				rageclick: false,
				disable_session_recording: true,
				disable_surveys: true,
				disable_web_experiments: true,
				disable_external_dependency_loading: true,
				// No /flags (formerly /decide) or remote config request: nothing here needs them.
				advanced_disable_flags: true,
				advanced_disable_decide: true,
				persistence: 'memory',
				// Headless Chromium's user agent reads as a bot's, whose events posthog-js drops.
				opt_out_useragent_filter: true,
				request_batching: true,
				bootstrap: { distinctID: `anon-${tag}` },
			});
			// An event with capture options (here its uuid and time) is sent at once, in a request
			// of its own, not batched.
			window.posthog.capture('Application Installed', device, { uuid: id, timestamp: new Date(at) });
		},
		{ apiKey, base, tag, device, id: ids.install, at },
	);
	// The install first, as an app's first launch sends it: the events after it go in parallel
	// requests, and the server attributes an event as it arrives (one that comes before its
	// device's install counts as organic).
	await delivery([ids.install]);
	if (failures.length === 0 && delivered.has(ids.install)) {
		await page.evaluate(
			({ device, ids, at }) => {
				window.posthog.capture(
					'Order Completed',
					{ ...device, revenue: 7.5, currency: 'EUR' },
					{ uuid: ids.order, timestamp: new Date(at + 1000) },
				);
				window.posthog.capture(
					'$screen',
					{ ...device, $screen_name: 'Home' },
					{ uuid: ids.screen, timestamp: new Date(at + 2000) },
				);
			},
			{ device, ids, at },
		);
		await delivery(Object.values(ids));
	}
	const wanted = Object.values(ids);
	for (const request of requests) {
		console.log(
			`${request.method} ${request.path} ${request.contentType}${request.contentEncoding ? ` (${request.contentEncoding})` : ''} ` +
				`${request.bytes} bytes -> ${request.status}${request.events ? ` [${request.events.join(', ')}]` : ''}`,
		);
	}
	if (process.env.COMPAT_VERBOSE && firstBody) console.log(`first capture body: ${firstBody}`);
	if (failures.length > 0) {
		console.log(failures.join('\n'));
	} else if (!wanted.every((id) => delivered.has(id))) {
		const missing = Object.entries(ids).filter(([, id]) => !delivered.has(id)).map(([name, id]) => `${name} ${id}`);
		console.log(`timed out after ${TIMEOUT_MS} ms: not delivered with a 200: ${missing.join(', ')}`);
		if (firstBody) console.log(`first capture body: ${firstBody}`);
	} else {
		console.log('sent');
		exitCode = 0;
	}
} catch (error) {
	console.log(error?.stack || String(error));
} finally {
	await browser.close();
}
process.exit(exitCode);
