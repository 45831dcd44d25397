// ECharts, with only the charts and components the dashboard draws (keeps the bundle small).
import * as echarts from 'echarts/core';
import { BarChart, LineChart, PieChart } from 'echarts/charts';
import { GridComponent, TooltipComponent, LegendComponent, MarkLineComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import type { ComposeOption } from 'echarts/core';
import type { BarSeriesOption, LineSeriesOption, PieSeriesOption } from 'echarts/charts';
import type { GridComponentOption, TooltipComponentOption, LegendComponentOption, MarkLineComponentOption } from 'echarts/components';

echarts.use([BarChart, LineChart, PieChart, GridComponent, TooltipComponent, LegendComponent, MarkLineComponent, CanvasRenderer]);

export type ChartOption = ComposeOption<
	| BarSeriesOption
	| LineSeriesOption
	| PieSeriesOption
	| GridComponentOption
	| TooltipComponentOption
	| LegendComponentOption
	| MarkLineComponentOption
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

/** The two themes charts are drawn with, matching the dashboard's light and dark palettes
 * (axis text at least 4.5:1 against the card). Registered once, by name. */
export const CHART_THEMES = { light: 'unmogrowp-light', dark: 'unmogrowp-dark' } as const;

function chartTheme(dark: boolean) {
	const text = dark ? '#cbd5e1' : '#475569'; // slate-300 / slate-600
	const strong = dark ? '#f1f5f9' : '#1e293b';
	const line = dark ? '#475569' : '#cbd5e1';
	const grid = dark ? '#1e293b' : '#eef2f7';
	const surface = dark ? '#0f172a' : '#ffffff'; // the card
	const axis = {
		axisLine: { lineStyle: { color: line } },
		axisTick: { lineStyle: { color: line } },
		axisLabel: { color: text },
		nameTextStyle: { color: text },
		splitLine: { lineStyle: { color: grid } }
	};
	return {
		darkMode: dark,
		backgroundColor: 'transparent',
		textStyle: { color: text },
		legend: {
			textStyle: { color: text },
			pageTextStyle: { color: text },
			pageIconColor: dark ? '#a5b4fc' : '#4f46e5',
			pageIconInactiveColor: line
		},
		tooltip: { backgroundColor: surface, borderColor: line, textStyle: { color: strong } },
		axisPointer: { lineStyle: { color: line }, shadowStyle: { color: dark ? 'rgba(148,163,184,0.12)' : 'rgba(100,116,139,0.1)' } },
		categoryAxis: axis,
		valueAxis: axis,
		pie: { itemStyle: { borderColor: surface } }
	};
}

echarts.registerTheme(CHART_THEMES.light, chartTheme(false));
echarts.registerTheme(CHART_THEMES.dark, chartTheme(true));

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

/** Annotation colour (amber: visible on both themes and apart from the series palette). */
export const ANNOTATION_COLOR = '#d97706';

/** A dashed vertical line per annotated day of a category axis of days, labelled with the
 * day's notes (several on one day are joined), for a series' `markLine`. */
export function annotationMarks(notes: { date: string; text: string }[], axis: string[]) {
	const byDay = new Map<string, string[]>();
	for (const note of notes) {
		if (axis.includes(note.date)) byDay.set(note.date, [...(byDay.get(note.date) ?? []), note.text]);
	}
	return {
		symbol: 'none',
		animation: false,
		lineStyle: { type: 'dashed' as const, color: ANNOTATION_COLOR, width: 1.5 },
		label: {
			show: true,
			position: 'insideEndTop' as const,
			color: ANNOTATION_COLOR,
			formatter: (param: { name?: string }) => {
				const text = param.name ?? '';
				return text.length > 28 ? `${text.slice(0, 27)}…` : text;
			}
		},
		tooltip: { show: true },
		data: [...byDay].map(([day, texts]) => ({ xAxis: day, name: texts.join(' · ') }))
	};
}
