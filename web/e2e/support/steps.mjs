// Steps of a browser flow as subtests: once one fails the later ones are skipped, and the
// failure leaves a screenshot named after it and the browser's console errors. Plus the small
// actions several flows share (signing in, a fresh user, waiting for a page to settle).
import { randomUUID } from 'node:crypto';
import { BASE_URL, apiJson, screenshotPath } from './harness.mjs';

/** Returns `step(name, body)` for the test `t` driving `page`. */
export function stepper(t, page, consoleLog) {
	let broken = null;
	return async function step(name, body) {
		await t.test(name, async (s) => {
			if (broken) {
				s.skip(`skipped: step "${broken}" failed`);
				return;
			}
			try {
				await body();
			} catch (error) {
				broken = name;
				const file = `FAILED-${name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase()}`;
				await page.screenshot({ path: screenshotPath(file), fullPage: true }).catch(() => {});
				console.error(`\n✗ step "${name}" failed at ${page.url()}; screenshot ${screenshotPath(file)}`);
				console.error(`  browser console errors (${consoleLog.errors.length}):`);
				for (const line of consoleLog.errors.slice(-30)) console.error(`    ${line}`);
				for (const line of consoleLog.exceptions) console.error(`  uncaught: ${line}`);
				throw error;
			}
		});
	};
}

/** Signs in through the login form and waits for the overview. */
export async function signIn(page, email, password) {
	await page.goto(`${BASE_URL}/login`);
	await page.fill('#email', email);
	await page.fill('#password', password);
	await page.getByRole('button', { name: 'Sign in' }).click();
	await page.waitForURL(`${BASE_URL}/`, { timeout: 15_000 });
	await page.getByTestId('user-name').waitFor();
}

/** Waits until the page shows its title and no loading placeholder (bounded). */
export async function settled(page, timeout = 15_000) {
	await page.getByTestId('page-title').first().waitFor({ timeout });
	await page.waitForFunction(() => document.querySelectorAll('[data-testid="loading"]').length === 0, null, { timeout });
}

/** An email address no account has yet. */
export function freshEmail(prefix = 'e2e') {
	return `${prefix}-${randomUUID().slice(0, 8)}@example.com`;
}

/** A password the server's policy accepts (random words, no personal data). */
export const STRONG_PASSWORD = 'violet tractor hums under 93 lanterns';

/** Registers an account through the API; returns its tokens. */
export async function registerThroughApi(email, password = STRONG_PASSWORD) {
	return apiJson('/api/v1/auth/register', {
		method: 'POST',
		body: { name: 'E2E Newcomer', email, password, organization: `E2E Org ${email.slice(4, 12)}` }
	});
}
