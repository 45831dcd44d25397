// The report date range: a preset of the last 7, 14 or 30 days (ending today in the app's time
// zone), or custom days.
import { addDays, todayIn } from '$lib/format';

export type Preset = 7 | 14 | 30 | 'custom';
const KEY = 'unmogrowp.range';

interface Saved {
	preset: Preset;
	from: string;
	to: string;
}

function load(): Saved {
	try {
		const saved = JSON.parse(sessionStorage.getItem(KEY) ?? '') as Saved;
		if ([7, 14, 30, 'custom'].includes(saved.preset)) return saved;
	} catch {
		// nothing saved yet
	}
	return { preset: 30, from: '', to: '' };
}

class Range {
	preset = $state<Preset>(30);
	customFrom = $state('');
	customTo = $state('');

	constructor() {
		if (typeof sessionStorage !== 'undefined') {
			const saved = load();
			this.preset = saved.preset;
			this.customFrom = saved.from;
			this.customTo = saved.to;
		}
	}

	/** The inclusive day range for an app's time zone. */
	days(timeZone: string): { from: string; to: string } {
		const today = todayIn(timeZone);
		if (this.preset === 'custom' && this.customFrom && this.customTo) {
			return this.customFrom <= this.customTo
				? { from: this.customFrom, to: this.customTo }
				: { from: this.customTo, to: this.customFrom };
		}
		const length = this.preset === 'custom' ? 30 : this.preset;
		return { from: addDays(today, -(length - 1)), to: today };
	}

	set(preset: Preset, from = '', to = '') {
		this.preset = preset;
		if (preset === 'custom') {
			this.customFrom = from;
			this.customTo = to;
		}
		try {
			sessionStorage.setItem(KEY, JSON.stringify({ preset, from: this.customFrom, to: this.customTo }));
		} catch {
			// not saved: fine
		}
	}
}

export const range = new Range();
