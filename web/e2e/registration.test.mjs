// Registration against the demo server: the strength meter follows the typing, the generator
// fills both password fields with something the meter (and the server) accept, a taken email is
// flagged within a second of typing stopping (one debounced check, stale answers ignored), and
// a common password is refused with the server's reason next to the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, DEMO_EMAIL, launch, poll, screenshotPath, watchConsole } from './support/harness.mjs';
import { freshEmail, registerThroughApi, stepper } from './support/steps.mjs';

const CHECK_EMAIL = '/api/v1/auth/check-email';

test('registration: strength meter, generator, email availability, server refusals', { timeout: 180_000 }, async (t) => {
	const browser = await launch();
	const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
	await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE_URL });
	const page = await context.newPage();
	page.setDefaultTimeout(15_000);
	const consoleLog = watchConsole(page);
	const step = stepper(t, page, consoleLog);

	// Every availability check the page sends: when, and for which address.
	const checks = [];
	page.on('request', (request) => {
		if (request.url().endsWith(CHECK_EMAIL)) checks.push({ at: Date.now(), email: JSON.parse(request.postData() ?? '{}').email });
	});

	const meter = page.getByTestId('password-strength');
	const meterState = async () => ({
		score: await meter.getAttribute('data-score'),
		percent: Number(await meter.getAttribute('data-percent')),
		strong: (await meter.getAttribute('data-strong-enough')) === 'true'
	});
	/** Waits until the meter has rated what the password field holds, and `check` holds. */
	const rated = async (description, check) =>
		poll(description, async () => {
			const length = (await page.inputValue('#password')).length;
			if (Number(await meter.getAttribute('data-rated-length')) !== length) return false;
			const state = await meterState();
			return check(state) ? state : false;
		}, { timeoutMs: 15_000, intervalMs: 100 });

	try {
		await step('the strength meter follows the typing, weak to strong', async () => {
			await page.goto(`${BASE_URL}/register`);
			await page.getByRole('heading', { name: 'Create an account' }).waitFor();
			await page.fill('#name', 'Ada Newcomer');
			await page.locator('#password').pressSequentially('pass', { delay: 30 });
			const weak = await rated('the meter to rate "pass"', () => true);
			assert.ok(Number(weak.score) <= 1 && !weak.strong, `"pass" is weak: ${JSON.stringify(weak)}`);
			assert.ok(weak.percent < 40, `weak percent ${weak.percent}`);
			assert.equal(await page.getByTestId('password-strong-enough').count(), 0);

			await page.locator('#password').pressSequentially('word12', { delay: 30 });
			const common = await rated('the meter to rate "password12"', () => true);
			assert.ok(!common.strong && common.percent < 60, `"password12" is not strong enough: ${JSON.stringify(common)}`);
			assert.ok((await page.getByTestId('password-warning').textContent())?.trim(), 'zxcvbn says why');

			await page.fill('#password', '');
			await page.locator('#password').pressSequentially('violet tractor hums under 93 lanterns', { delay: 15 });
			const strong = await rated('the meter to rate the passphrase', () => true);
			assert.ok(strong.strong, `the passphrase is strong enough: ${JSON.stringify(strong)}`);
			assert.ok(strong.percent >= 60 && strong.percent > weak.percent, `strong percent ${strong.percent}`);
			assert.ok(Number(strong.score) >= 3);
			await page.getByTestId('password-strong-enough').waitFor();
			assert.equal(await page.getByRole('meter', { name: 'Password strength' }).getAttribute('aria-valuenow'), String(strong.percent));

			// The person's own name makes a password weak, as the server says.
			await page.fill('#password', 'Ada Newcomer 2026');
			await poll('the meter to refuse a password with the name in it', async () => {
				const text = await page.getByTestId('password-warning').textContent().catch(() => '');
				return /email, name or organization/.test(text ?? '') && !(await meterState()).strong;
			}, { timeoutMs: 5_000, intervalMs: 100 });
		});

		await step('the generator fills both fields with a strong password, in each style', async () => {
			const shapes = {
				standard: (p) => p.length === 20 && /[A-Z]/.test(p) && /[a-z]/.test(p) && /\d/.test(p) && /[^A-Za-z0-9]/.test(p),
				easy: (p) => p.length === 20 && /^[A-Za-z]+$/.test(p) && !/[IlO]/.test(p),
				passphrase: (p) => p.split('-').length >= 5 && p.split('-').every((w) => /^[a-z]{4,8}$/.test(w))
			};
			const seen = new Set();
			for (const [style, shape] of Object.entries(shapes)) {
				await page.getByTestId(`password-style-${style}`).check({ force: true });
				const before = await page.inputValue('#password');
				await page.getByTestId('generate-password').click();
				const generated = await poll(`a ${style} password`, async () => {
					const value = await page.inputValue('#password');
					return value !== before && value;
				}, { timeoutMs: 10_000, intervalMs: 100 });
				assert.ok(shape(generated), `${style} password has its shape: ${generated}`);
				assert.equal(await page.inputValue('#confirm'), generated, 'the confirmation holds the same password');
				assert.equal(await page.getAttribute('#password', 'type'), 'text', 'a generated password is shown');
				await rated(`the meter to say the ${style} password is strong enough`, (state) => state.strong);
				seen.add(generated);
			}
			assert.equal(seen.size, 3, 'three different passwords');
			await page.getByTestId('toggle-password').click();
			assert.equal(await page.getAttribute('#password', 'type'), 'password', 'hidden again');
			assert.equal(await page.getAttribute('#confirm', 'type'), 'password');
			await page.getByTestId('copy-password').click();
			await page.getByTestId('copy-password').filter({ hasText: 'Copied' }).waitFor({ timeout: 5_000 });
			assert.equal(await page.evaluate(() => navigator.clipboard.readText()), await page.inputValue('#password'));
			await page.screenshot({ path: screenshotPath('register-generated'), fullPage: true });
		});

		await step('a taken email is flagged within a second of typing stopping, after one check', async () => {
			const before = checks.length;
			await page.locator('#email').pressSequentially(DEMO_EMAIL, { delay: 40 });
			const stopped = Date.now();
			await page.getByTestId('field-error-email').waitFor({ timeout: 1_500 });
			const elapsed = Date.now() - stopped;
			console.log(`taken email flagged ${elapsed} ms after typing stopped`);
			assert.ok(elapsed <= 1_000, `flagged after ${elapsed} ms`);
			assert.match(await page.getByTestId('field-error-email').textContent(), /exists/);
			const sent = checks.slice(before);
			assert.equal(sent.length, 1, `one check for ${DEMO_EMAIL.length} keystrokes: ${JSON.stringify(sent)}`);
			assert.equal(sent[0].email, DEMO_EMAIL);
			assert.ok(sent[0].at - stopped >= 400, `sent ${sent[0].at - stopped} ms after the last keystroke, not while typing`);
			assert.equal(await page.getAttribute('#email', 'aria-invalid'), 'true');

			// A free address clears the flag.
			await page.fill('#email', freshEmail());
			await page.locator('[data-testid="email-status"][data-state="available"]').waitFor({ timeout: 3_000 });
			assert.equal(await page.getByTestId('field-error-email').count(), 0);
		});

		await step('an answer for an address typed earlier does not overwrite the latest one', async () => {
			const taken = freshEmail('taken');
			await registerThroughApi(taken);
			const free = freshEmail('free');
			// The answer about the taken address is held back until the free one's has arrived.
			let releaseTaken;
			const takenHeld = new Promise((resolve) => (releaseTaken = resolve));
			let takenRequested;
			const takenSent = new Promise((resolve) => (takenRequested = resolve));
			await page.route(`**${CHECK_EMAIL}`, async (route) => {
				if (JSON.parse(route.request().postData() ?? '{}').email === taken) {
					takenRequested();
					await takenHeld;
				}
				await route.continue();
			});
			try {
				await page.fill('#email', taken);
				await takenSent;
				const freeAnswer = page.waitForResponse((r) => r.url().endsWith(CHECK_EMAIL) && r.request().postData()?.includes(free));
				await page.fill('#email', free);
				await freeAnswer;
				await page.locator('[data-testid="email-status"][data-state="available"]').waitFor({ timeout: 3_000 });
				const takenAnswer = page.waitForResponse((r) => r.url().endsWith(CHECK_EMAIL) && r.request().postData()?.includes(taken));
				releaseTaken();
				const stale = await takenAnswer;
				assert.equal((await stale.json()).available, false, 'the held answer says taken');
				// Rendering has had its chance: the stale answer changed nothing.
				await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
				assert.equal(await page.getByTestId('email-status').getAttribute('data-state'), 'available');
				assert.equal(await page.getByTestId('field-error-email').count(), 0);
			} finally {
				await page.unroute(`**${CHECK_EMAIL}`);
			}
		});

		await step('a common password is refused with the server\'s reason next to the field', async () => {
			await page.fill('#email', freshEmail());
			await page.fill('#organization', 'Newcomer Games');
			await page.fill('#password', 'password123');
			await page.fill('#confirm', 'password123');
			const answer = page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/register'));
			await page.getByRole('button', { name: 'Create account' }).click();
			const response = await answer;
			assert.ok([400, 422].includes(response.status()), `refused with ${response.status()}`);
			const problem = await response.json();
			const reason = problem.errors?.find((e) => e.field === 'password')?.message;
			assert.ok(reason, `the problem names the password: ${JSON.stringify(problem)}`);
			const shown = page.getByTestId('field-error-password');
			await shown.waitFor();
			assert.equal((await shown.textContent())?.trim(), reason);
			assert.match(reason, /common|guess/);
			assert.equal(await page.getAttribute('#password', 'aria-invalid'), 'true');
			assert.equal(page.url(), `${BASE_URL}/register`, 'still on the form');
			await page.screenshot({ path: screenshotPath('register-refused'), fullPage: true });
		});

		await step('a generated password registers the account', async () => {
			await page.getByTestId('password-style-passphrase').check({ force: true });
			await page.getByTestId('generate-password').click();
			await poll('the generated passphrase', async () => (await page.inputValue('#password')).includes('-'), { timeoutMs: 10_000, intervalMs: 100 });
			await page.getByRole('button', { name: 'Create account' }).click();
			await page.waitForURL(`${BASE_URL}/`, { timeout: 15_000 });
			assert.equal(await page.getByTestId('user-name').textContent(), 'Ada Newcomer');
		});

		await step('debouncing kept the availability checks few', async () => {
			assert.ok(checks.length <= 6, `${checks.length} checks in the whole flow`);
			assert.deepEqual(consoleLog.exceptions, []);
		});
	} finally {
		await browser.close();
	}
});
