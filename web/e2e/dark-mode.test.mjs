// Dark mode: the system's preference by default, a toggle (system / light / dark) remembered in
// localStorage and applied before the first paint, charts drawn in the matching theme.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, DEMO_EMAIL, DEMO_PASSWORD, launch, poll, screenshotPath, watchConsole } from './support/harness.mjs';
import { settled, signIn, stepper } from './support/steps.mjs';

/** Relative luminance (WCAG) of a computed CSS colour such as `rgb(2, 6, 23)` or `oklch(…)`. */
async function backgroundLuminance(page, selector = 'body') {
	return page.evaluate((sel) => {
		// The browser converts any colour syntax to rgb when painting it on a canvas.
		const canvas = document.createElement('canvas');
		canvas.width = canvas.height = 1;
		const context = canvas.getContext('2d');
		context.fillStyle = getComputedStyle(document.querySelector(sel)).backgroundColor;
		context.fillRect(0, 0, 1, 1);
		const [r, g, b] = context.getImageData(0, 0, 1, 1).data;
		const channel = (v) => {
			const c = v / 255;
			return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
		};
		return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
	}, selector);
}

/** Records whether <html> was already dark when <body> first appeared (before any paint). */
function recordFirstPaintTheme(context) {
	return context.addInitScript(() => {
		const observer = new MutationObserver(() => {
			if (document.body) {
				window.__darkAtFirstBody = document.documentElement.classList.contains('dark');
				observer.disconnect();
			}
		});
		observer.observe(document, { childList: true, subtree: true });
	});
}

const isDark = (page) => page.evaluate(() => document.documentElement.classList.contains('dark'));

test('dark mode follows the system, can be chosen, and never flashes', { timeout: 180_000 }, async (t) => {
	const browser = await launch();
	try {
		await t.test('the system preference decides by default', async () => {
			for (const colorScheme of ['dark', 'light']) {
				const context = await browser.newContext({ colorScheme });
				const page = await context.newPage();
				await page.goto(`${BASE_URL}/login`);
				await page.getByRole('heading', { name: 'Sign in' }).waitFor();
				assert.equal(await isDark(page), colorScheme === 'dark', colorScheme);
				const luminance = await backgroundLuminance(page);
				if (colorScheme === 'dark') assert.ok(luminance < 0.05, `dark background (${luminance})`);
				else assert.ok(luminance > 0.8, `light background (${luminance})`);
				assert.equal(await page.getByTestId('theme-system').getAttribute('aria-pressed'), 'true');
				await context.close();
			}
		});

		await t.test('the toggle is remembered and applied before the first paint; charts follow', async (s) => {
			const context = await browser.newContext({ colorScheme: 'light', viewport: { width: 1366, height: 900 } });
			await recordFirstPaintTheme(context);
			const page = await context.newPage();
			page.setDefaultTimeout(15_000);
			const consoleLog = watchConsole(page);
			const step = stepper(s, page, consoleLog);

			await step('choosing dark on a light system', async () => {
				await signIn(page, DEMO_EMAIL, DEMO_PASSWORD);
				await settled(page);
				assert.equal(await isDark(page), false);
				await page.getByTestId('chart-installs').waitFor();
				assert.equal(await page.getByTestId('chart-installs').getAttribute('data-theme'), 'light');
				await page.getByTestId('theme-dark').click();
				assert.equal(await isDark(page), true);
				assert.equal(await page.getByTestId('theme-dark').getAttribute('aria-pressed'), 'true');
				assert.equal(await page.evaluate(() => localStorage.getItem('unmogrowp.theme')), 'dark');
				await poll('the charts to redraw dark', async () => (await page.getByTestId('chart-installs').getAttribute('data-theme')) === 'dark', {
					timeoutMs: 5_000,
					intervalMs: 100
				});
				assert.ok((await backgroundLuminance(page)) < 0.05, 'dark page');
				assert.ok((await backgroundLuminance(page, '.card')) < 0.05, 'dark cards');
			});

			await step('a reload (and another page) starts dark, before the first paint', async () => {
				await page.reload();
				assert.equal(await page.evaluate(() => window.__darkAtFirstBody), true, '<html> was dark before <body> existed');
				await page.goto(`${BASE_URL}/cohorts`);
				assert.equal(await page.evaluate(() => window.__darkAtFirstBody), true);
				await settled(page);
				await page.screenshot({ path: screenshotPath('dark-cohorts'), fullPage: true });
			});

			await step('"system" follows the system again, live', async () => {
				await page.getByTestId('theme-system').click();
				assert.equal(await page.evaluate(() => localStorage.getItem('unmogrowp.theme')), null);
				assert.equal(await isDark(page), false, 'the system is light');
				await page.emulateMedia({ colorScheme: 'dark' });
				await poll('the page to turn dark with the system', () => isDark(page), { timeoutMs: 5_000, intervalMs: 100 });
				await page.getByTestId('theme-light').click();
				assert.equal(await isDark(page), false, 'light chosen on a dark system');
				await page.reload();
				assert.equal(await page.evaluate(() => window.__darkAtFirstBody), false, 'light from the first paint');
			});

			await step('no uncaught exceptions', async () => {
				assert.deepEqual(consoleLog.exceptions, []);
			});
			await context.close();
		});
	} finally {
		await browser.close();
	}
});
