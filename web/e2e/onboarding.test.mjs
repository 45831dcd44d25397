// First steps of a brand-new organization: after registering, the overview shows the checklist
// (create the app → copy the SDK snippet → send a test event); an install sent to /v1/events
// with the app's token turns the last step green without a reload. An organization with data
// (the demo's) sees no checklist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { BASE_URL, DEMO_EMAIL, DEMO_PASSWORD, apiJson, launch, poll, screenshotPath, watchConsole } from './support/harness.mjs';
import { STRONG_PASSWORD, freshEmail, signIn, stepper } from './support/steps.mjs';

test('onboarding checklist turns green on the first event', { timeout: 180_000 }, async (t) => {
	const browser = await launch();
	const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
	await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE_URL });
	const page = await context.newPage();
	page.setDefaultTimeout(15_000);
	const consoleLog = watchConsole(page);
	const step = stepper(t, page, consoleLog);
	const email = freshEmail('onboarding');
	const stepDone = async (key) => (await page.getByTestId(`onboarding-step-${key}`).getAttribute('data-done')) === 'true';
	let shownToken = '';

	try {
		await step('a new account sees the checklist with nothing done', async () => {
			await page.goto(`${BASE_URL}/register`);
			await page.fill('#name', 'Grace Onboarding');
			await page.fill('#email', email);
			await page.fill('#password', STRONG_PASSWORD);
			await page.fill('#confirm', STRONG_PASSWORD);
			await page.fill('#organization', 'Onboarding Studio');
			await page.getByRole('button', { name: 'Create account' }).click();
			await page.waitForURL(`${BASE_URL}/`);
			await page.getByTestId('onboarding').waitFor();
			for (const key of ['app', 'snippet', 'event']) assert.equal(await stepDone(key), false, `${key} not done yet`);
			await page.screenshot({ path: screenshotPath('onboarding-new'), fullPage: true });
		});

		await step('creating the app right there completes the first step', async () => {
			await page.evaluate(() => {
				window.__sameDocument = true;
			});
			await page.fill('#onboarding-name', 'First Light');
			await page.fill('#onboarding-bundle', 'com.example.firstlight');
			assert.equal(
				await page.inputValue('#onboarding-store'),
				'https://play.google.com/store/apps/details?id=com.example.firstlight',
				'the store URL is suggested from the package name'
			);
			await page.getByTestId('onboarding-create-app').click();
			await poll('the app step to be done', () => stepDone('app'), { timeoutMs: 10_000, intervalMs: 100 });
			assert.equal(await stepDone('event'), false);
			await page.getByTestId('onboarding-waiting').waitFor();
			assert.equal(await page.getByTestId('page-title').first().textContent(), 'Overview');
		});

		await step('the SDK snippet holds the server and the app token, and copying it counts', async () => {
			const snippet = (await page.getByTestId('onboarding-snippet').textContent()) ?? '';
			assert.ok(snippet.includes(`'${BASE_URL}/v1/events'`), `the snippet posts to this server: ${snippet}`);
			shownToken = /X-App-Token: ([^'\s]+)/.exec(snippet)?.[1] ?? '';
			assert.ok(shownToken.length > 10, 'the snippet carries the token');
			await page.getByTestId('onboarding-copy-snippet').click();
			await poll('the snippet step to be done', () => stepDone('snippet'), { timeoutMs: 5_000, intervalMs: 100 });
			assert.equal(await page.evaluate(() => navigator.clipboard.readText()), snippet);
		});

		await step('an install sent with the app token turns the last step green without a reload', async () => {
			const auth = await apiJson('/api/v1/auth/login', { method: 'POST', body: { email, password: STRONG_PASSWORD } });
			const apps = await apiJson('/api/v1/apps', { token: auth.access_token });
			assert.equal(apps.length, 1);
			assert.equal(apps[0].app_token, shownToken, 'the snippet shows the app\'s token');
			await apiJson('/api/v1/auth/logout', { method: 'POST', token: auth.access_token });
			const result = await apiJson('/v1/events', {
				method: 'POST',
				headers: { 'x-app-token': apps[0].app_token },
				body: {
					events: [
						{
							id: randomUUID(),
							type: 'install',
							timestamp: new Date().toISOString(),
							device: { install_id: randomUUID(), os: 'Android', os_version: '15', country: 'FR' }
						}
					]
				}
			});
			assert.equal(result.accepted, 1, `accepted: ${JSON.stringify(result)}`);
			await poll('the event step to turn green', () => stepDone('event'), { timeoutMs: 30_000, intervalMs: 250 });
			assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload happened');
			await page.getByRole('heading', { name: 'Your app is sending data' }).waitFor();
			await page.screenshot({ path: screenshotPath('onboarding-done'), fullPage: true });
		});

		await step('hidden once dismissed, also after a reload', async () => {
			await page.getByTestId('onboarding-dismiss').click();
			await poll('the checklist to go', async () => (await page.getByTestId('onboarding').count()) === 0, { timeoutMs: 5_000, intervalMs: 100 });
			await page.reload();
			await page.getByTestId('kpi-installs').waitFor();
			assert.equal(await page.getByTestId('onboarding').count(), 0);
		});

		await step('an organization with data sees no checklist', async () => {
			const other = await browser.newContext({ viewport: { width: 1366, height: 900 } });
			try {
				const demo = await other.newPage();
				await signIn(demo, DEMO_EMAIL, DEMO_PASSWORD);
				await demo.getByTestId('kpi-installs').waitFor();
				await demo.locator('[data-testid="onboarding-state"][data-state="hidden"]').waitFor({ state: 'attached' });
				assert.equal(await demo.getByTestId('onboarding').count(), 0);
			} finally {
				await other.close();
			}
		});

		await step('no uncaught exceptions in the page', async () => {
			assert.deepEqual(consoleLog.exceptions, []);
		});
	} finally {
		await browser.close();
	}
});
