// The TypeScript client package (clients/typescript, built by scripts/browser-test.sh build)
// against the demo server, as a script using it would: sign in, manage an app through the typed
// client, send signed S2S events, read the typed errors. No browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, poll } from './support/harness.mjs';
import { freshEmail, STRONG_PASSWORD } from './support/steps.mjs';
import { ApiError, createClient, sendS2SEvents, signS2S, unwrap } from '../../clients/typescript/dist/index.js';

test('typescript client: typed calls, signed S2S events, problem documents', { timeout: 120_000 }, async () => {
	const publicApi = createClient({ baseUrl: BASE_URL });
	const email = freshEmail('client');
	const session = unwrap(
		await publicApi.POST('/api/v1/auth/register', {
			body: { email, password: STRONG_PASSWORD, name: 'Client User', organization: 'Client Org' }
		})
	);
	assert.equal(session.user.email, email);

	let token = session.access_token;
	const api = createClient({ baseUrl: BASE_URL, token: () => token });
	const me = unwrap(await api.GET('/api/v1/me'));
	assert.equal(me.organization.name, 'Client Org');

	const app = unwrap(
		await api.POST('/api/v1/apps', {
			body: {
				name: 'Client Game',
				platform: 'android',
				bundle_id: 'com.example.clientgame',
				store_url: 'https://play.google.com/store/apps/details?id=com.example.clientgame'
			}
		})
	);
	const key = unwrap(
		await api.POST('/api/v1/apps/{app_id}/keys', { params: { path: { app_id: app.id } }, body: { name: 'ts' } })
	);

	// The signature is the one the API documents: hex HMAC-SHA256 of the body.
	assert.equal(
		await signS2S('key', 'The quick brown fox jumps over the lazy dog'),
		'sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8'
	);
	const now = new Date().toISOString();
	const s2s = { baseUrl: BASE_URL, keyId: key.id, secret: key.secret };
	const events = [
		{ id: `ts-${email}-1`, type: 'event', name: 'purchase', timestamp: now, device: { install_id: 'ts-device' }, revenue: { amount: 4.99, currency: 'USD' } },
		{ id: `ts-${email}-2`, type: 'teleport', timestamp: now }
	];
	const answer = await sendS2SEvents(s2s, events);
	assert.equal(answer.accepted, 1);
	assert.equal(answer.rejected[0].index, 1);
	const again = await sendS2SEvents(s2s, events.slice(0, 1));
	assert.equal(again.duplicates, 1, 'a re-sent id counts once');

	// The purchase reaches the summary report (report days are the app's, UTC by default).
	await poll('the purchase is counted', async () => {
		const today = now.slice(0, 10);
		const report = unwrap(
			await api.GET('/api/v1/apps/{app_id}/reports/summary', {
				params: { path: { app_id: app.id }, query: { from: today, to: today } }
			})
		);
		return report.totals.events === 1 && report.totals.revenue > 4 ? report : false;
	});

	// Errors are ApiError with the problem document.
	await assert.rejects(
		() => sendS2SEvents({ ...s2s, secret: 'sk_wrong' }, events.slice(0, 1)),
		(error) => error instanceof ApiError && error.status === 401 && typeof error.problem.request_id === 'string'
	);
	const missing = await api.GET('/api/v1/apps/{app_id}', {
		params: { path: { app_id: '00000000-0000-4000-8000-000000000000' } }
	});
	assert.throws(() => unwrap(missing), (error) => error instanceof ApiError && error.status === 404 && error.problem.code === 'not_found');
	token = 'not-a-token';
	await assert.rejects(async () => unwrap(await api.GET('/api/v1/me')), (error) => error.status === 401);
});
