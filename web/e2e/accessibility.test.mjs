// Accessibility: axe-core on every page of the dashboard (every +page.svelte under src/routes,
// the sign-in pages signed out, the others as the demo owner with an app selected, plus the
// not-found view and a few opened forms, a dialog and a new organization's checklist), in the
// light and the dark theme. Any violation of serious or critical impact fails, listed with its
// rule and the elements. Every page also leaves a dark-mode screenshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import axe from 'axe-core';
import { BASE_URL, DEMO_EMAIL, DEMO_PASSWORD, apiJson, launch, poll, screenshotPath, watchConsole } from './support/harness.mjs';
import { STRONG_PASSWORD, freshEmail, registerThroughApi, settled, signIn } from './support/steps.mjs';

const ROUTES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'routes');
const THEMES = ['light', 'dark'];
const FAILING_IMPACT = new Set(['serious', 'critical']);
/** Pages reached from emailed links show their form only with a token in the URL. */
const QUERY = { '/reset-password': '?token=e2e-not-a-real-token', '/accept-invitation': '?token=e2e-not-a-real-token' };

/** Every page of the dashboard, from the files: { path, group } (group: `app` or `auth`). */
function clientRoutes() {
	const pages = [];
	const walk = (dir) => {
		for (const entry of readdirSync(dir, { withFileTypes: true })) {
			const full = join(dir, entry.name);
			if (entry.isDirectory()) walk(full);
			else if (entry.name === '+page.svelte') {
				const segments = relative(ROUTES_DIR, dir).split(sep).filter(Boolean);
				const group = segments.find((s) => /^\(.+\)$/.test(s))?.slice(1, -1) ?? '';
				const path = `/${segments.filter((s) => !/^\(.+\)$/.test(s)).join('/')}`;
				pages.push({ path, group });
			}
		}
	};
	walk(ROUTES_DIR);
	return pages.sort((a, b) => a.path.localeCompare(b.path));
}

function shotName(path) {
	return path === '/' ? 'overview' : path.slice(1).replace(/[^a-z0-9]+/gi, '-');
}

/** Runs axe in the page; returns the violations that fail (serious or critical). */
async function audit(page) {
	// Evaluated through the DevTools protocol: the page's CSP (no inline scripts) stays on.
	if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(axe.source);
	const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
	return results.violations.filter((v) => FAILING_IMPACT.has(v.impact));
}

function describe(violations) {
	return violations
		.map((v) => {
			const nodes = v.nodes
				.slice(0, 8)
				.map((n) => `      ${n.target.join(' ')}\n        ${(n.failureSummary ?? '').replace(/\n/g, '\n        ')}`)
				.join('\n');
			return `  ${v.id} (${v.impact}): ${v.help}; ${v.nodes.length} element(s)\n${nodes}`;
		})
		.join('\n');
}

async function expectAccessible(page, where) {
	const violations = await audit(page);
	if (violations.length) console.error(`\naxe: ${where}\n${describe(violations)}`);
	assert.deepEqual(
		violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
		[],
		`${where} has serious or critical accessibility violations`
	);
}

test('accessibility: no serious or critical axe violations, light and dark', { timeout: 600_000 }, async (t) => {
	const routes = clientRoutes();
	assert.ok(routes.length >= 15, `found ${routes.length} pages under src/routes`);
	const signedOut = routes.filter((r) => r.group === 'auth');
	const signedIn = routes.filter((r) => r.group !== 'auth');
	// The pages (and their screenshots) are checked with the demo's data in them: the server
	// processes the seeded traffic within seconds of starting.
	const auth = await apiJson('/api/v1/auth/login', { method: 'POST', body: { email: DEMO_EMAIL, password: DEMO_PASSWORD } });
	const [demoApp] = await apiJson('/api/v1/apps', { token: auth.access_token });
	const day = (offset) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
	await poll(
		'the demo traffic to be processed',
		async () => (await apiJson(`/api/v1/apps/${demoApp.id}/reports/summary?from=${day(-29)}&to=${day(1)}`, { token: auth.access_token })).totals.installs > 0,
		{ timeoutMs: 60_000, intervalMs: 1_000 }
	);
	await apiJson('/api/v1/auth/logout', { method: 'POST', token: auth.access_token });

	const browser = await launch();
	try {
		for (const theme of THEMES) {
			const context = await browser.newContext({ colorScheme: theme, reducedMotion: 'reduce', viewport: { width: 1366, height: 900 } });
			const page = await context.newPage();
			page.setDefaultTimeout(15_000);
			const consoleLog = watchConsole(page);
			const check = (name, body) =>
				t.test(`${theme}: ${name}`, async () => {
					try {
						await body();
					} catch (error) {
						await page.screenshot({ path: screenshotPath(`FAILED-a11y-${theme}-${name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '')}`), fullPage: true }).catch(() => {});
						throw error;
					}
				});
			const shoot = async (name) => {
				if (theme === 'dark') await page.screenshot({ path: screenshotPath(`dark-${name}`), fullPage: true });
			};

			for (const { path } of signedOut) {
				await check(path, async () => {
					await page.goto(`${BASE_URL}${path}${QUERY[path] ?? ''}`);
					await settled(page);
					assert.equal(await page.evaluate(() => document.documentElement.classList.contains('dark')), theme === 'dark');
					await expectAccessible(page, `${path} (${theme})`);
					await shoot(shotName(path));
				});
			}
			await check('/register with a generated password and a refusal', async () => {
				await page.goto(`${BASE_URL}/register`);
				await page.fill('#email', DEMO_EMAIL);
				await page.getByTestId('field-error-email').waitFor();
				await page.getByTestId('generate-password').click();
				await page.getByTestId('password-strong-enough').waitFor();
				await expectAccessible(page, `/register, filled in (${theme})`);
				await shoot('register-filled');
			});
			await check('the not-found page', async () => {
				await page.goto(`${BASE_URL}/definitely-not-a-page`);
				await page.getByRole('heading', { name: 'This page does not exist' }).waitFor();
				await expectAccessible(page, `not found (${theme})`);
				await shoot('not-found');
			});

			await signIn(page, DEMO_EMAIL, DEMO_PASSWORD);
			for (const { path } of signedIn) {
				await check(path, async () => {
					await page.goto(`${BASE_URL}${path}`);
					await settled(page);
					if (['/', '/cohorts', '/fraud', '/links', '/postbacks', '/keys'].includes(path)) {
						assert.ok((await page.getByTestId('app-switcher').inputValue()) !== '', 'an app is selected');
					}
					await expectAccessible(page, `${path} (${theme})`);
					await shoot(shotName(path));
				});
			}
			const opened = [
				['/apps', 'new-app', 'app-form'],
				['/links', 'new-link', 'link-form'],
				['/postbacks', 'new-postback', 'postback-form']
			];
			for (const [path, button, form] of opened) {
				await check(`${path} with its form open`, async () => {
					await page.goto(`${BASE_URL}${path}`);
					await settled(page);
					await page.getByTestId(button).click();
					await page.getByTestId(form).waitFor();
					await page.locator(`[data-testid="${form}"] button[type="submit"]`).click();
					await page.getByTestId('problem').first().waitFor();
					await expectAccessible(page, `${path}, form with errors (${theme})`);
					await shoot(`${shotName(path)}-form`);
				});
			}
			await check('/keys with the new key dialog', async () => {
				await page.goto(`${BASE_URL}/keys`);
				await settled(page);
				await page.getByTestId('key-name').fill(`a11y ${theme}`);
				await page.getByTestId('create-key').click();
				await page.getByTestId('key-secret').waitFor();
				await expectAccessible(page, `/keys dialog (${theme})`);
				await shoot('keys-dialog');
				await page.getByRole('button', { name: 'I stored the secret' }).click();
			});
			await check('a new organization\'s checklist', async () => {
				const email = freshEmail('a11y');
				await registerThroughApi(email);
				const fresh = await context.browser().newContext({ colorScheme: theme, reducedMotion: 'reduce', viewport: { width: 1366, height: 900 } });
				try {
					const newcomer = await fresh.newPage();
					await signIn(newcomer, email, STRONG_PASSWORD);
					await newcomer.getByTestId('onboarding').waitFor();
					await expectAccessible(newcomer, `onboarding (${theme})`);
					if (theme === 'dark') await newcomer.screenshot({ path: screenshotPath('dark-onboarding'), fullPage: true });
				} finally {
					await fresh.close();
				}
			});
			await check('no uncaught exceptions', async () => {
				assert.deepEqual(consoleLog.exceptions, []);
			});
			await context.close();
		}
	} finally {
		await browser.close();
	}
});
