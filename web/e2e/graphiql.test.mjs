// GraphiQL at /api/graphql, served offline by the binary: it loads with no console errors
// (its scripts come from this server, within the page's CSP), and runs a query against the
// demo organization with a token set in its headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, DEMO_EMAIL, DEMO_PASSWORD, apiJson, launch, poll, screenshotPath, watchConsole } from './support/harness.mjs';

test('graphiql: served offline, runs a query with a token', { timeout: 120_000 }, async () => {
	const session = await apiJson('/api/v1/auth/login', { method: 'POST', body: { email: DEMO_EMAIL, password: DEMO_PASSWORD } });
	const browser = await launch();
	try {
		const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
		// Every request must stay on this server: GraphiQL works without internet access.
		const foreign = [];
		context.on('request', (request) => {
			if (!request.url().startsWith(BASE_URL) && !request.url().startsWith('data:')) foreign.push(request.url());
		});
		const page = await context.newPage();
		const log = watchConsole(page);
		// GraphiQL keeps its editors in localStorage: start with the token in the headers and a
		// query of our own.
		await page.addInitScript(
			([token]) => {
				localStorage.setItem('graphiql:headers', JSON.stringify({ Authorization: `Bearer ${token}` }));
				localStorage.setItem('graphiql:query', '{ organization { name role } apps { name platform } }');
			},
			[session.access_token]
		);
		await page.goto(`${BASE_URL}/api/graphql`);
		await page.locator('.graphiql-container').waitFor({ timeout: 30_000 });
		await page.locator('.graphiql-execute-button').click();
		const result = await poll('the query result', async () => {
			const text = await page.locator('.result-window').innerText();
			return text.includes('Space Rush iOS') ? text : null;
		});
		assert.match(result, /"name": "Demo Studio"/);
		assert.match(result, /"role": "owner"/);
		await page.screenshot({ path: screenshotPath('graphiql'), fullPage: false });
		assert.deepEqual(foreign, [], 'no request left the server');
		assert.deepEqual(log.exceptions, [], 'no uncaught exception');
		assert.deepEqual(log.errors, [], 'no console error');
	} finally {
		await browser.close();
	}
});
