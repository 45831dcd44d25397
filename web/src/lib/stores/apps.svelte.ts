// The organization's apps and the one the report pages look at (remembered per organization).
import { api, call, type Schemas } from '$lib/api/client';
import { toApiError, type ApiError } from '$lib/api/problem';
import { tokens } from '$lib/api/tokens.svelte';

export type App = Schemas['AppView'];

function storageKey(): string {
	return `unmogrowp.app.${tokens.current?.orgId ?? 'own'}`;
}

class Apps {
	list = $state<App[]>([]);
	loading = $state(false);
	loaded = $state(false);
	error = $state<ApiError | null>(null);
	selectedId = $state<string | null>(null);

	get selected(): App | null {
		return this.list.find((a) => a.id === this.selectedId) ?? this.list[0] ?? null;
	}

	async load(): Promise<void> {
		this.loading = true;
		this.error = null;
		try {
			this.list = await call(api.GET('/api/v1/apps'));
			this.loaded = true;
			const remembered = typeof localStorage !== 'undefined' ? localStorage.getItem(storageKey()) : null;
			if (!this.list.some((a) => a.id === this.selectedId)) {
				this.selectedId = this.list.find((a) => a.id === remembered)?.id ?? this.list[0]?.id ?? null;
			}
		} catch (error) {
			this.error = toApiError(error);
		} finally {
			this.loading = false;
		}
	}

	select(id: string) {
		this.selectedId = id;
		try {
			localStorage.setItem(storageKey(), id);
		} catch {
			// private mode: the choice lasts for this page only
		}
	}

	upsert(app: App) {
		const index = this.list.findIndex((a) => a.id === app.id);
		if (index >= 0) this.list[index] = app;
		else this.list = [...this.list, app];
	}

	remove(id: string) {
		this.list = this.list.filter((a) => a.id !== id);
		if (this.selectedId === id) this.selectedId = this.list[0]?.id ?? null;
	}

	reset() {
		this.list = [];
		this.loaded = false;
		this.selectedId = null;
		this.error = null;
	}
}

export const apps = new Apps();
