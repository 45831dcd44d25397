// On a phone-sized screen (390 px) no page scrolls sideways: wide tables scroll inside their
// own box, long text wraps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, DEMO_EMAIL, DEMO_PASSWORD, launch, screenshotPath, watchConsole } from './support/harness.mjs';
import { settled, signIn, stepper } from './support/steps.mjs';

const PAGES = ['/', '/cohorts', '/fraud', '/apps', '/links', '/postbacks', '/keys', '/team', '/api-tokens', '/audit', '/account'];

test('narrow screens: no page is wider than the screen', { timeout: 180_000 }, async (t) => {
	const browser = await launch();
	const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
	const page = await context.newPage();
	page.setDefaultTimeout(15_000);
	const step = stepper(t, page, watchConsole(page));
	try {
		await step('sign in on a phone-sized screen', async () => {
			await signIn(page, DEMO_EMAIL, DEMO_PASSWORD);
		});
		for (const path of PAGES) {
			await step(`${path} fits in 390 px`, async () => {
				await page.goto(`${BASE_URL}${path}`);
				await settled(page);
				const width = await page.evaluate(() => document.documentElement.scrollWidth);
				if (width > 390) await page.screenshot({ path: screenshotPath(`narrow-${path.replace(/\W+/g, '-')}`), fullPage: true });
				assert.ok(width <= 390, `${path} is ${width} px wide`);
			});
		}
	} finally {
		await browser.close();
	}
});
