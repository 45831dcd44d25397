// Password strength as the server judges it (crates/domain/src/password.rs): zxcvbn's estimate
// with the account's own email, name and organization as user inputs, plus the server's simple
// rules (at least 8 characters other than spaces, nothing built on the email, name or
// organization). This module pulls in zxcvbn and its English and common dictionaries (about a
// megabyte), so pages load it with `import()` only when someone starts typing a password.
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as english from '@zxcvbn-ts/language-en';

/** The least zxcvbn score the server accepts (about 10⁸ guesses). */
export const MIN_SCORE = 3;
const MIN_CHARS = 8;
const MAX_CHARS = 128;
/** The server also refuses passwords built on the product's name. */
const PRODUCT_WORDS = ['unmogrowp', 'mogrowp'];

export interface Strength {
	/** zxcvbn's score, 0 (too guessable) to 4 (very unguessable), lowered to 0 when a rule fails. */
	score: 0 | 1 | 2 | 3 | 4;
	/** 0 to 100: the score's band (20 points each) and where the guess count falls inside it. */
	percent: number;
	label: string;
	/** Whether the server's policy would accept it (as far as the browser can tell). */
	strongEnough: boolean;
	/** The first reason to change it: a broken rule, else zxcvbn's warning. */
	warning: string | null;
	suggestions: string[];
	/** log10 of the estimated guesses. */
	guessesLog10: number;
}

const LABELS = ['Very weak', 'Weak', 'Fair', 'Strong', 'Very strong'] as const;
/** log10(guesses) where each score starts (zxcvbn's thresholds), and a cap for "very strong". */
const BAND_START = [0, 3, 6, 8, 10, 14];

let factory: ZxcvbnFactory | null = null;

function zxcvbn(): ZxcvbnFactory {
	factory ??= new ZxcvbnFactory({
		dictionary: { ...common.dictionary, ...english.dictionary },
		graphs: common.adjacencyGraphs,
		translations: english.translations
	});
	return factory;
}

/** The words a password may not be built on, as the server derives them. */
export function personalWords(related: string[]): string[] {
	const words = [...PRODUCT_WORDS];
	for (const raw of related) {
		const value = raw.trim().toLowerCase();
		if (!value) continue;
		const at = value.indexOf('@');
		if (at > 0) words.push(value.slice(0, at));
		words.push(value);
	}
	return words;
}

function percentOf(score: number, guessesLog10: number): number {
	const start = BAND_START[score];
	const end = BAND_START[score + 1];
	const within = Math.min(1, Math.max(0, (guessesLog10 - start) / (end - start)));
	// Each band keeps to its own 20 points, so the bar and the label never disagree.
	return Math.min(100, Math.round(score * 20 + within * 19 + (score === 4 && within >= 1 ? 1 : 0)));
}

/** Estimates `password` for an account described by `related` (email, name, organization). */
export function estimate(password: string, related: string[]): Strength {
	const words = personalWords(related);
	const result = zxcvbn().check(password.slice(0, MAX_CHARS), words);
	let score = result.score as Strength['score'];
	let warning = result.feedback.warning;
	const suggestions = [...result.feedback.suggestions];

	const lower = password.toLowerCase();
	const nonSpace = [...password].filter((c) => !/\s/.test(c)).length;
	let rule: string | null = null;
	if (nonSpace < MIN_CHARS) rule = `Use at least ${MIN_CHARS} characters other than spaces.`;
	else if ([...password].length > MAX_CHARS) rule = `Use at most ${MAX_CHARS} characters.`;
	else if (words.some((w) => lower === w || ([...w].length >= 5 && lower.includes(w))))
		rule = 'Do not use your email, name or organization in it.';
	if (rule) {
		warning = rule;
		score = Math.min(score, 1) as Strength['score'];
	}
	return {
		score,
		percent: password ? percentOf(score, result.guessesLog10) : 0,
		label: LABELS[score],
		strongEnough: score >= MIN_SCORE,
		warning,
		suggestions,
		guessesLog10: result.guessesLog10
	};
}

let wordList: string[] | null = null;

/**
 * Words for passphrases, built from zxcvbn's English frequency lists: the 2 048 most frequent
 * words of spoken English (film and TV subtitles) with 4 to 8 plain letters that Wikipedia's
 * list has too (which drops slang and contraction stubs such as "gonna" or "didn"), leaving out
 * first names and surnames (they read as personal data). 11 bits of entropy per word.
 */
export function passphraseWords(): string[] {
	if (wordList) return wordList;
	const dictionary = english.dictionary;
	const names = new Set([...dictionary['firstnames-en'], ...dictionary['lastnames-en']]);
	const written = new Set(dictionary['wikipedia-en']);
	const words = new Set<string>();
	for (const word of dictionary['commonWords-en']) {
		if (words.size === 2048) break;
		if (/^[a-z]{4,8}$/.test(word) && written.has(word) && !names.has(word)) words.add(word);
	}
	wordList = [...words];
	return wordList;
}
