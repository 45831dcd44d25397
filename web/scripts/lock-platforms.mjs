// Completes package-lock.json with the other platforms' native packages (rollup's and Tailwind's
// optional per-platform binaries) when the npm registry reachable here lacks some of them: npm
// then leaves them out of the lock file, and `npm ci` refuses the lock as out of sync ("Missing:
// @rollup/rollup-darwin-arm64@ from lock file"). Each missing optional dependency gets an entry
// with its version and the os/cpu/libc it is for, so npm skips it on every other platform and
// installs it (from its registry) on its own. Run after `npm install` changes the lock file:
//   node scripts/lock-platforms.mjs
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const file = resolve(dirname(fileURLToPath(import.meta.url)), '../package-lock.json');
const lock = JSON.parse(await readFile(file, 'utf8'));
const packages = lock.packages;

/** `@rollup/rollup-linux-arm-musleabihf` → { os: ['linux'], cpu: ['arm'], libc: ['musl'] } */
function platformOf(name) {
	const match = /^@(?:rollup\/rollup|tailwindcss\/oxide)-(.+)$/.exec(name);
	if (!match) return null;
	const [os, cpu, abi = ''] = match[1].split('-');
	if (os === 'wasm32') return { cpu: ['wasm32'] };
	const meta = { os: [os], cpu: [cpu] };
	if (os === 'linux' && abi.startsWith('gnu')) meta.libc = ['glibc'];
	if (os === 'linux' && abi.startsWith('musl')) meta.libc = ['musl'];
	return meta;
}

let added = 0;
for (const [key, entry] of Object.entries(packages)) {
	for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
		const base = key ? `${key}/node_modules/${name}` : `node_modules/${name}`;
		if (packages[base] || packages[`node_modules/${name}`]) continue;
		const platform = platformOf(name);
		if (!platform) {
			console.warn(`lock-platforms: ${name} (optional for ${key || 'the root'}) is missing; not a known platform package`);
			continue;
		}
		const { cpu, libc, os } = platform;
		packages[`node_modules/${name}`] = {
			version,
			...(cpu && { cpu }),
			dev: entry.dev ?? undefined,
			...(libc && { libc }),
			license: 'MIT',
			optional: true,
			...(os && { os })
		};
		added += 1;
	}
}

const sorted = Object.fromEntries(
	Object.keys(packages)
		.sort((a, b) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b, 'en')))
		.map((key) => [key, packages[key]])
);
lock.packages = sorted;
await writeFile(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`lock-platforms: added ${added} platform package entries`);
