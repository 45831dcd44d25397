// Chart downloads and table sorting against the demo data: a chart's "CSV" gives its series (a
// network whose name needs quoting included, sent through a tracking link first) and "PNG" an
// image at twice its size; clicking a table header sorts by that column (numbers as numbers,
// dates as dates, text as text) and says so in aria-sort.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { BASE_URL, DEMO_EMAIL, DEMO_PASSWORD, apiJson, launch, poll, watchConsole } from './support/harness.mjs';
import { settled, signIn, stepper } from './support/steps.mjs';

/** A network name a spreadsheet would misread unquoted: a leading =, quotes and a comma. */
const AWKWARD_NETWORK = '=e2e "quoted", net';

/** Parses RFC 4180 CSV (quoted fields, doubled quotes, CRLF). */
function parseCsv(text) {
	const rows = [];
	let row = [];
	let field = '';
	let quoted = false;
	for (let i = 0; i < text.length; i++) {
		const c = text[i];
		if (quoted) {
			if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
			else if (c === '"') quoted = false;
			else field += c;
		} else if (c === '"') quoted = true;
		else if (c === ',') row.push(field), (field = '');
		else if (c === '\r' && text[i + 1] === '\n') {
			row.push(field), rows.push(row), (row = []), (field = ''), i++;
		} else field += c;
	}
	if (field || row.length) row.push(field), rows.push(row);
	return rows;
}

/** Clicks `locator` and returns the download it starts: { name, bytes }. */
async function download(page, locator) {
	const [file] = await Promise.all([page.waitForEvent('download', { timeout: 10_000 }), locator.click()]);
	return { name: file.suggestedFilename(), bytes: await readFile(await file.path()) };
}

/** The texts of one column of a table, by its header's sort key. */
async function columnTexts(page, table, key) {
	return page.evaluate(
		({ table, key }) => {
			const element = document.querySelector(`[data-testid="${table}"]`);
			const headers = [...element.querySelectorAll('thead th')];
			const index = headers.findIndex((th) => th.dataset.sortKey === key);
			return [...element.querySelectorAll('tbody tr')].map((tr) => tr.children[index]?.textContent?.trim() ?? '');
		},
		{ table, key }
	);
}

const asNumber = (text) => Number(text.replace(/[^0-9.-]/g, ''));
const isSorted = (values, compare) => values.every((v, i) => i === 0 || compare(values[i - 1], v) <= 0);

test('chart downloads and sortable tables', { timeout: 240_000 }, async (t) => {
	const browser = await launch();
	const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, acceptDownloads: true, reducedMotion: 'reduce' });
	const page = await context.newPage();
	page.setDefaultTimeout(15_000);
	const consoleLog = watchConsole(page);
	const step = stepper(t, page, consoleLog);
	let app;

	try {
		await step('an install attributed to a network whose name needs quoting', async () => {
			const auth = await apiJson('/api/v1/auth/login', { method: 'POST', body: { email: DEMO_EMAIL, password: DEMO_PASSWORD } });
			[app] = await apiJson('/api/v1/apps', { token: auth.access_token });
			const link = await apiJson(`/api/v1/apps/${app.id}/links`, {
				method: 'POST',
				token: auth.access_token,
				body: { network: AWKWARD_NETWORK, campaign: 'csv_quoting' }
			});
			const gaid = randomUUID();
			const click = await fetch(`${link.click_url}?gaid=${gaid}`, { redirect: 'manual' });
			assert.ok(click.status >= 300 && click.status < 400, `the click redirects (${click.status})`);
			// Later than the app's shortest plausible click-to-install time (10 s), not later than allowed.
			const result = await apiJson('/v1/events', {
				method: 'POST',
				headers: { 'x-app-token': app.app_token },
				body: { events: [{ id: randomUUID(), type: 'install', timestamp: new Date(Date.now() + 30_000).toISOString(), device: { gaid, os: 'Android' } }] }
			});
			assert.equal(result.accepted, 1, JSON.stringify(result));
			const to = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
			const from = new Date(Date.now() - 29 * 86_400_000).toISOString().slice(0, 10);
			await poll(
				'the install to be credited to the network',
				async () => {
					const report = await apiJson(`/api/v1/apps/${app.id}/reports/summary?from=${from}&to=${to}&group_by=network`, { token: auth.access_token });
					return report.rows.some((r) => r.network === AWKWARD_NETWORK && r.installs > 0);
				},
				{ timeoutMs: 60_000, intervalMs: 1_000 }
			);
			await apiJson('/api/v1/auth/logout', { method: 'POST', token: auth.access_token });
		});

		await step('"CSV" downloads the chart\'s series, quoted where needed', async () => {
			await signIn(page, DEMO_EMAIL, DEMO_PASSWORD);
			await settled(page);
			const chart = page.getByTestId('chart-installs');
			await poll('the installs chart', async () => Number(await chart.getAttribute('data-points')) > 0, { timeoutMs: 30_000 });
			const { name, bytes } = await download(page, page.getByTestId('chart-installs-csv'));
			assert.match(name, new RegExp(`^${app.bundle_id.replace(/\./g, '\\.')}-installs-\\d{4}-\\d{2}-\\d{2}-\\d{4}-\\d{2}-\\d{2}\\.csv$`), name);
			const text = bytes.toString('utf8');
			assert.ok(text.includes(`"'=e2e ""quoted"", net"`), 'the awkward name is quoted, its quotes doubled, and defused');
			const rows = parseCsv(text);
			const [header, ...days] = rows;
			assert.equal(header[0], 'day');
			assert.ok(header.includes(`'${AWKWARD_NETWORK}`), `a column for the network: ${header.join(' | ')}`);
			assert.ok(header.includes('organic'));
			assert.equal(days.length, 30, 'one row per day of the range');
			assert.ok(days.every((r) => /^\d{4}-\d{2}-\d{2}$/.test(r[0]) && r.length === header.length), 'ISO days, full rows');
			const total = days.reduce((sum, r) => sum + r.slice(1).reduce((s, v) => s + Number(v || 0), 0), 0);
			assert.equal(total, Number(await chart.getAttribute('data-points')), 'the CSV holds what the chart draws');
			assert.equal(Number(await page.getByTestId('kpi-installs').getAttribute('data-value')), total);
		});

		await step('"PNG" downloads the chart as an image at twice its size', async () => {
			const chart = page.getByTestId('chart-installs');
			const box = await chart.boundingBox();
			const { name, bytes } = await download(page, page.getByTestId('chart-installs-png'));
			assert.match(name, /-installs-.*\.png$/);
			assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG file');
			const width = bytes.readUInt32BE(16);
			const height = bytes.readUInt32BE(20);
			assert.ok(Math.abs(width - box.width * 2) <= 2, `width ${width} for ${box.width} px on screen`);
			assert.ok(Math.abs(height - box.height * 2) <= 2, `height ${height} for ${box.height} px on screen`);
			const pie = await download(page, page.getByTestId('chart-organic-csv'));
			assert.deepEqual(parseCsv(pie.bytes.toString('utf8'))[0], ['source', 'value']);
		});

		await step('campaigns sort by any column: numbers as numbers, text as text', async () => {
			const table = 'campaign-table';
			const header = (key) => page.locator(`[data-testid="${table}"] th[data-sort-key="${key}"]`);
			assert.equal(await header('installs').getAttribute('aria-sort'), 'descending', 'sorted by installs at first');
			await page.locator(`[data-testid="${table}"]`).getByTestId('sort-clicks').click();
			assert.equal(await header('clicks').getAttribute('aria-sort'), 'descending');
			assert.equal(await header('installs').getAttribute('aria-sort'), 'none');
			const clicks = (await columnTexts(page, table, 'clicks')).map(asNumber);
			assert.ok(clicks.length > 3 && isSorted(clicks, (a, b) => b - a), `clicks descending: ${clicks}`);
			assert.ok(new Set(clicks.map((c) => String(c).length)).size > 1, 'values of different lengths (a text sort would misplace them)');
			await page.locator(`[data-testid="${table}"]`).getByTestId('sort-clicks').click();
			assert.equal(await header('clicks').getAttribute('aria-sort'), 'ascending');
			const ascending = (await columnTexts(page, table, 'clicks')).map(asNumber);
			assert.ok(isSorted(ascending, (a, b) => a - b), `clicks ascending: ${ascending}`);
			await page.locator(`[data-testid="${table}"]`).getByTestId('sort-network').click();
			assert.equal(await header('network').getAttribute('aria-sort'), 'ascending');
			const networks = await columnTexts(page, table, 'network');
			assert.ok(isSorted(networks, (a, b) => a.localeCompare(b, undefined, { numeric: true, sensitivity: 'base' })), `networks: ${networks}`);
			await page.locator(`[data-testid="${table}"]`).getByTestId('sort-conversion').click();
			const rates = (await columnTexts(page, table, 'conversion')).filter((v) => v !== '–').map(asNumber);
			assert.ok(isSorted(rates, (a, b) => b - a), `conversion descending: ${rates}`);
		});

		await step('cohorts sort by install day as dates, and by a day\'s retention', async () => {
			await page.getByRole('link', { name: 'Cohorts', exact: true }).click();
			await settled(page);
			const table = 'cohort-table';
			await page.locator(`[data-testid="${table}"]`).getByTestId('sort-install_day').click();
			const days = (await columnTexts(page, table, 'install_day')).map((d) => Date.parse(d));
			assert.ok(days.length > 5 && days.every(Number.isFinite), 'install days parse as dates');
			assert.ok(isSorted(days, (a, b) => b - a), 'newest cohort first');
			await page.locator(`[data-testid="${table}"]`).getByTestId('sort-day1').click();
			const retention = (await columnTexts(page, table, 'day1')).filter((v) => /\d/.test(v)).map(asNumber);
			assert.ok(isSorted(retention, (a, b) => b - a), `day 1 retention descending: ${retention}`);
			const last = (await columnTexts(page, table, 'day1')).at(-1);
			assert.doesNotMatch(last, /\d/, 'cohorts that have not reached day 1 come last');
		});

		await step('the audit log sorts by time', async () => {
			await page.getByRole('link', { name: 'Audit log', exact: true }).click();
			await settled(page);
			const table = 'audit-table';
			await page.locator(`[data-testid="${table}"]`).getByTestId('sort-at').click();
			await page.locator(`[data-testid="${table}"]`).getByTestId('sort-at').click();
			assert.equal(await page.locator(`[data-testid="${table}"] th[data-sort-key="at"]`).getAttribute('aria-sort'), 'ascending');
			const times = (await columnTexts(page, table, 'at')).filter(Boolean).map((d) => Date.parse(d.replace(' at ', ' ')));
			assert.ok(times.length > 3 && times.every(Number.isFinite), 'times parse');
			assert.ok(isSorted(times, (a, b) => a - b), 'oldest first');
		});

		await step('no uncaught exceptions', async () => {
			assert.deepEqual(consoleLog.exceptions, []);
		});
	} finally {
		await browser.close();
	}
});
