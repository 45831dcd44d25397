// Random passwords from the browser's CSPRNG (crypto.getRandomValues), each character or word
// drawn uniformly: random numbers that would favour the first entries of a list (the last,
// incomplete run of 2³² modulo its length) are thrown away and drawn again.

export type PasswordStyle = 'standard' | 'easy' | 'passphrase';

export const STYLES: { value: PasswordStyle; label: string; hint: string }[] = [
	{ value: 'standard', label: 'Standard', hint: 'Letters, digits and symbols' },
	{ value: 'easy', label: 'Easy to say', hint: 'Letters only, none that look alike' },
	{ value: 'passphrase', label: 'Memorable', hint: 'Random words with a separator' }
];

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
/** Symbols that need no quoting in a shell or a URL form and are on every keyboard layout. */
const SYMBOLS = '!#%+-=?@^_~*';
/** Letters that cannot be confused with each other or with digits when read aloud or written. */
const PLAIN_LETTERS = [...UPPER + LOWER].filter((c) => !'IlO'.includes(c)).join('');

export const DEFAULT_LENGTH = 20;
export const DEFAULT_WORDS = 5;
export const SEPARATOR = '-';

/** A uniformly random integer in [0, n). */
export function randomBelow(n: number): number {
	if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError(`randomBelow(${n})`);
	const limit = 2 ** 32 - (2 ** 32 % n);
	const buffer = new Uint32Array(1);
	for (;;) {
		crypto.getRandomValues(buffer);
		if (buffer[0] < limit) return buffer[0] % n;
	}
}

function pick(alphabet: string, length: number): string {
	let out = '';
	for (let i = 0; i < length; i++) out += alphabet[randomBelow(alphabet.length)];
	return out;
}

/** `length` characters from letters, digits and symbols, with at least one of each kind. */
export function standardPassword(length = DEFAULT_LENGTH): string {
	const kinds = [UPPER, LOWER, DIGITS, SYMBOLS];
	const alphabet = kinds.join('');
	// Drawing again until every kind occurs keeps each accepted password equally likely.
	for (;;) {
		const candidate = pick(alphabet, length);
		if (kinds.every((kind) => [...candidate].some((c) => kind.includes(c)))) return candidate;
	}
}

/** `length` letters of both cases, without I, l and O. */
export function easyPassword(length = DEFAULT_LENGTH): string {
	for (;;) {
		const candidate = pick(PLAIN_LETTERS, length);
		if (/[A-Z]/.test(candidate) && /[a-z]/.test(candidate)) return candidate;
	}
}

/** `count` words drawn from `words`, joined by `separator`. */
export function passphrase(words: string[], count = DEFAULT_WORDS, separator = SEPARATOR): string {
	if (words.length < 1024) throw new Error('the word list is too short for a passphrase');
	const chosen: string[] = [];
	for (let i = 0; i < count; i++) chosen.push(words[randomBelow(words.length)]);
	return chosen.join(separator);
}
