// Sorting a table by any of its columns: click a header to sort by it, again to reverse.
// Numbers compare as numbers, dates as instants (ISO dates and RFC 3339 times), text in the
// browser's locale with digits in numeric order; empty values always go last. The sort is
// stable, so rows that compare equal keep the order the API gave them.
export type SortKind = 'text' | 'number' | 'date';
export type SortDirection = 'ascending' | 'descending';

export interface SortColumn<T> {
	kind: SortKind;
	value: (row: T) => string | number | null | undefined;
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** A comparable form of `value`, or null when there is nothing to compare. */
function comparable(kind: SortKind, value: string | number | null | undefined): string | number | null {
	if (value === null || value === undefined || value === '') return null;
	if (kind === 'number') {
		const n = typeof value === 'number' ? value : Number(value);
		return Number.isFinite(n) ? n : null;
	}
	if (kind === 'date') {
		const t = typeof value === 'number' ? value : Date.parse(String(value));
		return Number.isFinite(t) ? t : null;
	}
	return String(value);
}

export class TableSort<T, K extends string = string> {
	key = $state<K | null>(null);
	direction = $state<SortDirection>('ascending');
	private readonly column: (key: K) => SortColumn<T>;

	/** `columns`: each key's column, or a function for tables whose columns vary. */
	constructor(columns: Record<K, SortColumn<T>> | ((key: K) => SortColumn<T>), initial?: { key: K; direction: SortDirection }) {
		this.column = typeof columns === 'function' ? columns : (key) => columns[key];
		if (initial) {
			this.key = initial.key;
			this.direction = initial.direction;
		}
	}

	/** Sorts by `key`; numbers and dates start with the largest, text with A. */
	toggle(key: K) {
		if (this.key === key) {
			this.direction = this.direction === 'ascending' ? 'descending' : 'ascending';
			return;
		}
		this.key = key;
		this.direction = this.column(key).kind === 'text' ? 'ascending' : 'descending';
	}

	/** The header's aria-sort. */
	ariaSort(key: K): SortDirection | 'none' {
		return this.key === key ? this.direction : 'none';
	}

	/** A sorted copy of `rows` (the rows themselves when no column is chosen). */
	apply(rows: readonly T[]): T[] {
		const key = this.key;
		if (key === null) return [...rows];
		const { kind, value } = this.column(key);
		const sign = this.direction === 'ascending' ? 1 : -1;
		return rows
			.map((row, index) => ({ row, index, sort: comparable(kind, value(row)) }))
			.sort((a, b) => {
				if (a.sort === null || b.sort === null) {
					return a.sort === b.sort ? a.index - b.index : a.sort === null ? 1 : -1;
				}
				const order = typeof a.sort === 'number' && typeof b.sort === 'number' ? a.sort - b.sort : collator.compare(String(a.sort), String(b.sort));
				return order === 0 ? a.index - b.index : sign * order;
			})
			.map((entry) => entry.row);
	}
}
