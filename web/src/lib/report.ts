// Helpers for the summary report's rows (GET /apps/{id}/reports/summary).
import type { Schemas } from '$lib/api/client';

export interface SummaryRow {
	network?: string;
	campaign?: string;
	adgroup?: string;
	creative?: string;
	country?: string;
	day?: string;
	clicks: number;
	impressions: number;
	installs: number;
	organic_installs: number;
	rejected_installs: number;
	reattributions: number;
	sessions: number;
	events: number;
	revenue: number;
}

function num(value: unknown): number {
	const n = Number(value);
	return Number.isFinite(n) ? n : 0;
}

/** A report row with every metric a number and the dimensions as strings. */
export function toRow(raw: Record<string, unknown>): SummaryRow {
	const dim = (key: string) => (raw[key] == null ? undefined : String(raw[key]));
	return {
		network: dim('network'),
		campaign: dim('campaign'),
		adgroup: dim('adgroup'),
		creative: dim('creative'),
		country: dim('country'),
		day: dim('day'),
		clicks: num(raw.clicks),
		impressions: num(raw.impressions),
		installs: num(raw.installs),
		organic_installs: num(raw.organic_installs),
		rejected_installs: num(raw.rejected_installs),
		reattributions: num(raw.reattributions),
		sessions: num(raw.sessions),
		events: num(raw.events),
		revenue: num(raw.revenue)
	};
}

export function rowsOf(report: Schemas['SummaryResponse']): SummaryRow[] {
	return report.rows.map((r) => toRow(r as Record<string, unknown>));
}

export function totalsOf(report: Schemas['SummaryResponse']): SummaryRow {
	return toRow(report.totals as Record<string, unknown>);
}

export const ORGANIC = 'organic';
