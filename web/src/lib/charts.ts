// ECharts, with only the charts and components the dashboard draws (keeps the bundle small).
import * as echarts from 'echarts/core';
import { BarChart, LineChart, PieChart } from 'echarts/charts';
import { GridComponent, TooltipComponent, LegendComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import type { ComposeOption } from 'echarts/core';
import type { BarSeriesOption, LineSeriesOption, PieSeriesOption } from 'echarts/charts';
import type { GridComponentOption, TooltipComponentOption, LegendComponentOption } from 'echarts/components';

echarts.use([BarChart, LineChart, PieChart, GridComponent, TooltipComponent, LegendComponent, CanvasRenderer]);

export type ChartOption = ComposeOption<
	BarSeriesOption | LineSeriesOption | PieSeriesOption | GridComponentOption | TooltipComponentOption | LegendComponentOption
>;

export { echarts };

/** Series colours: the accent first, then distinguishable neutrals-friendly hues. */
export const PALETTE = [
	'#4f46e5',
	'#0ea5e9',
	'#10b981',
	'#f59e0b',
	'#ef4444',
	'#8b5cf6',
	'#14b8a6',
	'#f97316',
	'#64748b',
	'#ec4899'
];

/** Organic traffic is always drawn in the same grey. */
export const ORGANIC_COLOR = '#94a3b8';

/** The sum of every numeric data point of a chart option (what tests read as data-points). */
export function sumOfSeries(option: ChartOption): number {
	const series = Array.isArray(option.series) ? option.series : option.series ? [option.series] : [];
	let total = 0;
	for (const s of series) {
		const data = (s as { data?: unknown[] }).data ?? [];
		for (const point of data) {
			let value: unknown = point;
			if (point && typeof point === 'object' && !Array.isArray(point)) value = (point as { value?: unknown }).value;
			if (Array.isArray(value)) value = value[value.length - 1];
			const n = Number(value);
			if (Number.isFinite(n)) total += n;
		}
	}
	return total;
}
