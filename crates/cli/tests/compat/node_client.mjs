// Drives an official Node analytics library, unchanged, against an UnMoGrowP server: an
// install with an advertising id, a purchase and a screen, with fixed message ids (so a second
// run with the same RUN_TAG re-sends the same messages, which the server must count once).
//
// Usage: node node_client.mjs LIBRARY BASE_URL WRITE_KEY GAID RUN_TAG
// LIBRARY: segment (@segment/analytics-node), rudderstack (@rudderstack/rudder-sdk-node) or
// posthog (posthog-node), installed in clients/compat (or TEST_COMPAT_NODE_DIR). Prints "sent"
// when the library delivered everything; exits 1, printing the errors, when it reports any.

import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// The repository's root is four levels up from crates/cli/tests/compat.
const packages = process.env.TEST_COMPAT_NODE_DIR || resolve(here, '../../../../clients/compat');
const require = createRequire(join(packages, 'package.json'));

const [library, base, writeKey, gaid, tag] = process.argv.slice(2);
if (!tag) {
	console.error('usage: node node_client.mjs segment|rudderstack|posthog BASE_URL WRITE_KEY GAID RUN_TAG');
	process.exit(2);
}

// A minute after the click: an install seconds after its click is rejected as click injection.
const now = Date.now() + 60_000;
const at = (seconds) => new Date(now + seconds * 1000);
const errors = [];
// An error as the libraries report it: axios's (rudder) carries the server's answer.
function describe(error) {
	const response = error?.response;
	if (response?.status !== undefined && response.data !== undefined) {
		const body = typeof response.data === 'string' ? response.data : JSON.stringify(response.data);
		return `${error.config?.method?.toUpperCase() ?? ''} ${error.config?.url ?? ''} answered ${response.status}: ${body}`;
	}
	if (error instanceof Error) return `${error.name}: ${error.message}`;
	return typeof error === 'string' ? error : JSON.stringify(error);
}
const fail = (what) => (error) => {
	if (error) errors.push(`${what}: ${describe(error)}`);
};

// A name-based (version 5) UUID in the URL namespace, as Python's uuid.uuid5 makes.
function uuid5(name) {
	const namespace = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');
	const hash = createHash('sha1').update(namespace).update(name, 'utf8').digest().subarray(0, 16);
	hash[6] = (hash[6] & 0x0f) | 0x50;
	hash[8] = (hash[8] & 0x3f) | 0x80;
	const hex = hash.toString('hex');
	return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function finish() {
	if (errors.length > 0) {
		console.log(errors.join('\n'));
		process.exit(1);
	}
	console.log('sent');
	process.exit(0);
}

const anonymousId = `anon-${tag}`;
const context = {
	os: { name: 'Android', version: '14' },
	device: { advertisingId: gaid, model: 'Pixel 8' },
	locale: 'de-DE',
};

async function segment() {
	const { Analytics } = require('@segment/analytics-node');
	// analytics-node has no gzip option: it always posts plain JSON to /v1/batch.
	const client = new Analytics({ writeKey, host: base, maxRetries: 1, flushAt: 20, httpRequestTimeout: 10_000 });
	client.on('error', (error) => fail('error event')(error?.reason ?? error));
	client.on('http_response', (response) => {
		if (response.status < 200 || response.status > 299) {
			errors.push(`HTTP ${response.status} ${response.statusText} from ${response.url}`);
		}
	});
	const sent = sendThree(client);
	await client.closeAndFlush({ timeout: 30_000 });
	if (sent.delivered !== 3 && errors.length === 0) errors.push(`only ${sent.delivered} of 3 messages were delivered`);
}

/** The install, the purchase and the screen, in the Segment message shape both Segment's and
 * RudderStack's libraries take; `delivered` counts the callbacks that reported success. */
function sendThree(client) {
	const sent = { delivered: 0 };
	const callback = (what) => (error) => {
		if (error) fail(what)(error);
		else sent.delivered += 1;
	};
	client.track(
		{ anonymousId, event: 'Application Installed', context, timestamp: at(0), messageId: `node-install-${tag}` },
		callback('install'),
	);
	client.track(
		{
			anonymousId,
			event: 'Order Completed',
			context,
			properties: { revenue: 7.5, currency: 'EUR', order_id: `o-${tag}` },
			timestamp: at(1),
			messageId: `node-order-${tag}`,
		},
		callback('order'),
	);
	client.screen(
		{ anonymousId, name: 'Home', context, timestamp: at(2), messageId: `node-screen-${tag}` },
		callback('screen'),
	);
	return sent;
}

async function rudderstack() {
	const Analytics = require('@rudderstack/rudder-sdk-node');
	const client = new Analytics(writeKey, {
		dataPlaneUrl: base,
		gzip: true,
		retryCount: 1,
		flushAt: 20,
		logLevel: 'error',
		errorHandler: fail('errorHandler'),
	});
	const sent = sendThree(client);
	await new Promise((done) => {
		client.flush((error) => {
			fail('flush')(error);
			done();
		});
	});
	// The per-message callbacks run on the next turn after the flush's.
	await new Promise((done) => setTimeout(done, 50));
	if (sent.delivered !== 3 && errors.length === 0) errors.push(`only ${sent.delivered} of 3 messages were delivered`);
}

async function posthog() {
	const { PostHog } = require('posthog-node');
	const client = new PostHog(writeKey, {
		host: base,
		flushAt: 20,
		fetchRetryCount: 1,
		fetchRetryDelay: 500,
		disableCompression: false,
	});
	client.on('error', fail('error event'));
	const device = { $gaid: gaid, $os: 'Android', $os_version: '14', $device_model: 'Pixel 8' };
	const distinctId = `anon-${tag}`;
	client.capture({
		distinctId,
		event: 'Application Installed',
		properties: device,
		timestamp: at(0),
		uuid: uuid5(`node-install-${tag}`),
	});
	client.capture({
		distinctId,
		event: 'Order Completed',
		properties: { ...device, revenue: 7.5, currency: 'EUR' },
		timestamp: at(1),
		uuid: uuid5(`node-order-${tag}`),
	});
	client.capture({
		distinctId,
		event: '$screen',
		properties: { ...device, $screen_name: 'Home' },
		timestamp: at(2),
		uuid: uuid5(`node-screen-${tag}`),
	});
	try {
		await client.flush();
	} catch (error) {
		fail('flush')(error);
	}
	await client.shutdown();
}

const run = { segment, rudderstack, posthog }[library];
if (!run) {
	console.error(`unknown library ${JSON.stringify(library)}: segment, rudderstack or posthog`);
	process.exit(2);
}
try {
	await run();
} catch (error) {
	fail(library)(error);
}
finish();
