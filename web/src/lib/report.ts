// The summary report's rows (GET /apps/{id}/reports/summary), typed from the server's
// OpenAPI document (`SummaryRowView`): no hand-kept copy to drift from it.
import type { Schemas } from '$lib/api/client';

/** One row: the dimensions it was grouped by (present only when grouped by them), then the counts. */
export type SummaryRow = Schemas['SummaryRowView'];

export function rowsOf(report: Schemas['SummaryResponse']): SummaryRow[] {
	return report.rows;
}

export function totalsOf(report: Schemas['SummaryResponse']): SummaryRow {
	return report.totals;
}

export const ORGANIC = 'organic';
