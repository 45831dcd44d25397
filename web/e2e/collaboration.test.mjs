// Two members of one organization in two browser contexts: each sees the other's presence on
// the overview within 2 s of both being live, and an annotation one of them pins to a chart
// date appears in the other's chart and list without a reload (and goes when deleted). The
// second member joins through a real invitation read from the server's outbox.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BASE_URL, DEMO_EMAIL, DEMO_PASSWORD, apiJson, launch, poll, screenshotPath, watchConsole } from './support/harness.mjs';
import { STRONG_PASSWORD, freshEmail, signIn, stepper } from './support/steps.mjs';

const OUTBOX_DIR = process.env.OUTBOX_DIR;

/** Quoted-printable soft breaks and escapes undone, enough to read a link. */
function decodeQuotedPrintable(raw) {
	return raw
		.replace(/=\r?\n/g, '')
		.replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

/** The invitation token mailed to `email` (the outbox holds one .eml file per message). */
function invitationToken(email) {
	for (const name of readdirSync(OUTBOX_DIR)) {
		const message = decodeQuotedPrintable(readFileSync(join(OUTBOX_DIR, name), 'utf8'));
		if (!message.includes(email)) continue;
		const token = /\/accept-invitation\?token=([A-Za-z0-9_\-.~]+)/.exec(message)?.[1];
		if (token) return token;
	}
	return null;
}

async function openOverview(page) {
	await page.goto(`${BASE_URL}/`);
	await page.getByTestId('chart-installs').waitFor();
	await poll('the live feed to connect', async () => (await page.getByTestId('live-card').getAttribute('data-status')) === 'live', {
		timeoutMs: 15_000,
		intervalMs: 100
	});
}

async function presenceNames(page) {
	return page.getByTestId('presence-viewer').evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-name')));
}

test('two members see each other and each other\'s annotations live', { timeout: 180_000 }, async (t) => {
	assert.ok(OUTBOX_DIR, 'OUTBOX_DIR must name the server\'s outbox (scripts/browser-test.sh sets it)');
	const browser = await launch();
	const owner = await browser.newContext({ viewport: { width: 1366, height: 900 } });
	const member = await browser.newContext({ viewport: { width: 1366, height: 900 } });
	const ownerPage = await owner.newPage();
	const memberPage = await member.newPage();
	for (const page of [ownerPage, memberPage]) page.setDefaultTimeout(15_000);
	const consoleLog = watchConsole(ownerPage);
	const memberConsole = watchConsole(memberPage);
	const step = stepper(t, memberPage, consoleLog);
	const memberEmail = freshEmail('collab');
	const memberName = `Ada Collab ${memberEmail.slice(7, 11)}`;
	let ownerName = '';
	const note = `Campaign paused (e2e ${memberEmail.slice(7, 11)})`;
	let noteDay = '';

	try {
		await step('a second member joins the demo organization by invitation', async () => {
			const login = await apiJson('/api/v1/auth/login', { method: 'POST', body: { email: DEMO_EMAIL, password: DEMO_PASSWORD } });
			ownerName = login.user.name;
			await apiJson('/api/v1/org/invitations', { method: 'POST', token: login.access_token, body: { email: memberEmail, role: 'member' } });
			const token = await poll('the invitation email', () => invitationToken(memberEmail), { timeoutMs: 10_000, intervalMs: 100 });
			await apiJson('/api/v1/auth/accept-invitation', { method: 'POST', body: { token, name: memberName, password: STRONG_PASSWORD } });
		});

		await step('each sees the other on the overview within 2 s', async () => {
			await signIn(ownerPage, DEMO_EMAIL, DEMO_PASSWORD);
			await signIn(memberPage, memberEmail, STRONG_PASSWORD);
			await openOverview(ownerPage);
			await openOverview(memberPage);
			const started = Date.now();
			await poll('the owner to see the member', async () => (await presenceNames(ownerPage)).includes(memberName), { timeoutMs: 2_000, intervalMs: 50 });
			await poll('the member to see the owner', async () => (await presenceNames(memberPage)).includes(ownerName), { timeoutMs: 2_000, intervalMs: 50 });
			assert.ok(Date.now() - started <= 2_000, `both saw each other after ${Date.now() - started} ms`);
			assert.ok(!(await presenceNames(ownerPage)).includes(ownerName), 'nobody is shown to themselves');
			await ownerPage.screenshot({ path: screenshotPath('collaboration-presence'), fullPage: false });
		});

		await step('an annotation made by the owner appears in the member\'s chart without a reload', async () => {
			await memberPage.evaluate(() => {
				window.__sameDocument = true;
			});
			noteDay = await ownerPage.inputValue('#annotation-date');
			assert.match(noteDay, /^\d{4}-\d{2}-\d{2}$/);
			await ownerPage.fill('#annotation-text', note);
			await ownerPage.getByRole('button', { name: 'Add note' }).click();
			await ownerPage.getByTestId('annotation').filter({ hasText: note }).waitFor();
			await poll('the note in the member\'s list', async () => (await memberPage.getByTestId('annotation').filter({ hasText: note }).count()) === 1, {
				timeoutMs: 5_000,
				intervalMs: 50
			});
			const marks = (await memberPage.getByTestId('chart-installs-marks').getAttribute('data-marks')) ?? '';
			assert.ok(marks.split(' ').includes(noteDay), `the member's chart marks ${noteDay}: ${marks}`);
			assert.equal(await memberPage.evaluate(() => window.__sameDocument), true, 'no reload');
			const item = memberPage.getByTestId('annotation').filter({ hasText: note });
			assert.ok((await item.textContent()).includes(ownerName), 'the author is named');
			assert.equal(await item.getByRole('button', { name: /^Delete/ }).count(), 0, "a member cannot delete the owner's note");
			await memberPage.screenshot({ path: screenshotPath('collaboration-annotation'), fullPage: false });
		});

		await step('deleting it removes it for the other member too', async () => {
			await ownerPage.getByTestId('annotation').filter({ hasText: note }).getByRole('button', { name: /^Delete/ }).click();
			await poll('the note to leave the member\'s list', async () => (await memberPage.getByTestId('annotation').filter({ hasText: note }).count()) === 0, {
				timeoutMs: 5_000,
				intervalMs: 50
			});
		});

		await step('leaving the page ends the presence', async () => {
			// A client-side navigation: the connection stays, the view is withdrawn.
			await memberPage.getByRole('link', { name: 'Tracking links' }).click();
			await memberPage.waitForURL(`${BASE_URL}/links`);
			assert.equal(await memberPage.evaluate(() => window.__sameDocument), true, 'no reload');
			await poll('the member to leave the owner\'s overview', async () => !(await presenceNames(ownerPage)).includes(memberName), {
				timeoutMs: 5_000,
				intervalMs: 50
			});
			assert.deepEqual(consoleLog.exceptions, []);
			assert.deepEqual(memberConsole.exceptions, []);
		});
	} finally {
		await browser.close();
	}
});
