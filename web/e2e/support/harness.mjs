// Shared pieces of the browser tests: settings from the environment, Debian's Chromium driven by
// playwright-core, bounded polling, and failure evidence (a screenshot named after the failing
// step, and the browser's console errors).
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const BASE_URL = (process.env.BASE_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
export const DEMO_EMAIL = process.env.DEMO_EMAIL ?? 'demo@unmogrowp.localhost';
export const DEMO_PASSWORD = process.env.DEMO_PASSWORD ?? 'space rush demo 2026';
export const SCREENSHOT_DIR = resolve(process.env.SCREENSHOT_DIR ?? '../test-artifacts/screenshots');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

mkdirSync(SCREENSHOT_DIR, { recursive: true });

export async function launch() {
	return chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: [
			'--no-sandbox',
			'--disable-gpu',
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-sync',
			'--no-first-run',
			'--disable-quic'
		]
	});
}

/** Records what the page says on its console and any uncaught exception. */
export function watchConsole(page) {
	const log = { errors: [], exceptions: [] };
	page.on('console', (message) => {
		if (message.type() === 'error') log.errors.push(`${message.text()} (${message.location()?.url ?? ''})`);
	});
	page.on('pageerror', (error) => log.exceptions.push(error.stack ?? error.message));
	return log;
}

export function screenshotPath(name) {
	return resolve(SCREENSHOT_DIR, `${name}.png`);
}

/** Runs `check` until it returns a truthy value or `timeoutMs` passes; returns the value. */
export async function poll(description, check, { timeoutMs = 20_000, intervalMs = 500 } = {}) {
	const deadline = Date.now() + timeoutMs;
	let last;
	for (;;) {
		try {
			last = await check();
			if (last) return last;
		} catch (error) {
			last = error;
		}
		if (Date.now() > deadline) {
			const detail = last instanceof Error ? `: ${last.message}` : last === undefined ? '' : ` (last value ${JSON.stringify(last)})`;
			throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${detail}`);
		}
		await new Promise((r) => setTimeout(r, intervalMs));
	}
}

/** JSON from the API, with a readable error when it fails. */
export async function apiJson(path, { method = 'GET', token, body, headers = {} } = {}) {
	const response = await fetch(`${BASE_URL}${path}`, {
		method,
		headers: {
			...(body === undefined ? {} : { 'content-type': 'application/json' }),
			...(token ? { authorization: `Bearer ${token}` } : {}),
			...headers
		},
		body: body === undefined ? undefined : JSON.stringify(body)
	});
	const text = await response.text();
	if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 500)}`);
	return text ? JSON.parse(text) : undefined;
}
