// Number, money, percent and date formatting through Intl, in the browser's locale.
const locale = typeof navigator !== 'undefined' ? navigator.language : 'en-US';

const integer = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(locale, { maximumFractionDigits: 2 });
const compact = new Intl.NumberFormat(locale, { notation: 'compact', maximumFractionDigits: 1 });
const percent = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 });
const moneyFormats = new Map<string, Intl.NumberFormat>();

export function fmtInt(value: number | null | undefined): string {
	return value == null || Number.isNaN(value) ? '–' : integer.format(value);
}

export function fmtNumber(value: number | null | undefined): string {
	return value == null || Number.isNaN(value) ? '–' : decimal.format(value);
}

export function fmtCompact(value: number): string {
	return compact.format(value);
}

export function fmtPercent(value: number | null | undefined): string {
	return value == null || !Number.isFinite(value) ? '–' : percent.format(value);
}

export function fmtMoney(amount: number | null | undefined, currency: string): string {
	if (amount == null || Number.isNaN(amount)) return '–';
	let format = moneyFormats.get(currency);
	if (!format) {
		try {
			format = new Intl.NumberFormat(locale, { style: 'currency', currency });
		} catch {
			format = new Intl.NumberFormat(locale, { maximumFractionDigits: 2 });
		}
		moneyFormats.set(currency, format);
	}
	return format.format(amount);
}

const dateTime = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' });
const timeOnly = new Intl.DateTimeFormat(locale, { timeStyle: 'medium' });
const dayFormat = new Intl.DateTimeFormat(locale, { month: 'short', day: 'numeric', timeZone: 'UTC' });
const dayLong = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeZone: 'UTC' });

export function fmtDateTime(value: string | null | undefined): string {
	if (!value) return '–';
	const date = new Date(value);
	return Number.isNaN(date.getTime()) ? value : dateTime.format(date);
}

const dateOnly = new Intl.DateTimeFormat(locale, { dateStyle: 'medium' });

export function fmtDate(value: string | null | undefined): string {
	if (!value) return '–';
	const date = new Date(value);
	return Number.isNaN(date.getTime()) ? value : dateOnly.format(date);
}

export function fmtTime(value: string): string {
	const date = new Date(value);
	return Number.isNaN(date.getTime()) ? value : timeOnly.format(date);
}

/** A report day (`YYYY-MM-DD`) as a short label. */
export function fmtDay(day: string, long = false): string {
	const date = new Date(`${day}T00:00:00Z`);
	if (Number.isNaN(date.getTime())) return day;
	return (long ? dayLong : dayFormat).format(date);
}

/** Today's date (`YYYY-MM-DD`) in a time zone. */
export function todayIn(timeZone: string): string {
	try {
		return new Intl.DateTimeFormat('en-CA', { timeZone }).format(new Date());
	} catch {
		return new Date().toISOString().slice(0, 10);
	}
}

/** `day` moved by `delta` days (`YYYY-MM-DD` in, out). */
export function addDays(day: string, delta: number): string {
	const date = new Date(`${day}T00:00:00Z`);
	date.setUTCDate(date.getUTCDate() + delta);
	return date.toISOString().slice(0, 10);
}

/** Every day from `from` to `to`, inclusive. */
export function daysBetween(from: string, to: string): string[] {
	const days: string[] = [];
	for (let day = from; day <= to && days.length < 400; day = addDays(day, 1)) days.push(day);
	return days;
}

export function shortId(id: string): string {
	return id.length > 12 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
}
