// CSV text (RFC 4180: fields quoted when they hold a comma, quote or line break, quotes doubled,
// CRLF between records) and a chart's series as a table.
import type { ChartOption } from '$lib/charts';

type Cell = string | number | null | undefined;

/** One field. Text that a spreadsheet would run as a formula (=, +, -, @ first) gets a leading
 * apostrophe: names come from ad networks and SDKs, not from us. */
export function csvField(value: Cell): string {
	if (value === null || value === undefined) return '';
	if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
	let text = value;
	if (/^[=+\-@\t\r]/.test(text) && !/^[+-]?\d/.test(text)) text = `'${text}`;
	return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function toCsv(rows: Cell[][]): string {
	return rows.map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}

function asArray<T>(value: T | T[] | undefined): T[] {
	return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** The number a data point stands for (plain, `{ value }`, or the last of `[x, y]`). */
function pointValue(point: unknown): number | null {
	let value = point;
	if (value && typeof value === 'object' && !Array.isArray(value)) value = (value as { value?: unknown }).value;
	if (Array.isArray(value)) value = value[value.length - 1];
	const n = typeof value === 'number' ? value : Number(value);
	return value === null || value === undefined || value === '' || !Number.isFinite(n) ? null : n;
}

function categoryName(item: unknown): string {
	if (item && typeof item === 'object') return String((item as { value?: unknown; name?: unknown }).value ?? (item as { name?: unknown }).name ?? '');
	return String(item ?? '');
}

/**
 * The series of a chart as CSV: one row per category (the category axis's values) and one
 * column per series; a pie gives one row per slice. `categoryLabel` heads the first column.
 */
export function chartCsv(option: ChartOption, categoryLabel = 'category'): string {
	const series = asArray(option.series as unknown[] | undefined) as { type?: string; name?: string; data?: unknown[] }[];
	if (series.length > 0 && series.every((s) => s.type === 'pie')) {
		const rows: Cell[][] = [[categoryLabel, 'value']];
		// A slice is `{ name, value }`: its name heads the row.
		const sliceName = (point: unknown) =>
			point && typeof point === 'object' && 'name' in point ? String((point as { name?: unknown }).name ?? '') : categoryName(point);
		for (const s of series) for (const point of s.data ?? []) rows.push([sliceName(point), pointValue(point)]);
		return toCsv(rows);
	}
	type Axis = { type?: string; data?: unknown[] };
	const axes = [...asArray(option.xAxis as Axis | Axis[] | undefined), ...asArray(option.yAxis as Axis | Axis[] | undefined)];
	const categoryAxis = axes.find((axis) => axis.type === 'category' && Array.isArray(axis.data));
	const length = categoryAxis?.data?.length ?? Math.max(0, ...series.map((s) => s.data?.length ?? 0));
	const categories = categoryAxis?.data?.map(categoryName) ?? Array.from({ length }, (_, i) => String(i + 1));
	const rows: Cell[][] = [[categoryLabel, ...series.map((s, i) => s.name ?? `series ${i + 1}`)]];
	for (let i = 0; i < length; i++) rows.push([categories[i], ...series.map((s) => pointValue(s.data?.[i]))]);
	return toCsv(rows);
}
