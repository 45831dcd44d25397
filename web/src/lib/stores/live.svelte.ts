// The organization's live feed over the /api/v1/live WebSocket: counts of new installs, events
// and clicks per app since the dashboard opened, and the latest records; who else in the
// organization is looking at what (presence) and annotations as members make them. Reconnects
// with exponential backoff; every connection authenticates with a fresh access token and asks
// for batched frames.
import { freshAccessToken, refreshSession } from '$lib/api/client';
import { tokens } from '$lib/api/tokens.svelte';

export interface LiveRecord {
	app_id: string;
	type: 'install' | 'open' | 'session' | 'event' | 'click' | 'impression';
	id: string;
	name: string | null;
	at: string;
	network: string;
	campaign: string;
	country: string;
	revenue: number;
}

/** A live connection of the organization and what it said it is looking at. */
export interface Viewer {
	connection_id: number;
	user_id: string;
	name: string;
	view: string;
	since: string;
}

/** An annotation as the API and the live feed carry it. */
export interface Annotation {
	id: string;
	app_id: string;
	date: string;
	text: string;
	author?: { user_id: string; name: string } | null;
	created_at: string;
}

/** An annotation made or deleted by someone in the organization (this tab included). */
export interface AnnotationChange {
	action: 'created' | 'deleted';
	annotation: Annotation;
}

export type LiveStatus = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'offline';

interface Counts {
	installs: number;
	events: number;
	clicks: number;
	revenue: number;
}

const CLOSE_POLICY = 1008;
const CLOSE_TRY_AGAIN = 1013; // the server dropped us while it was busy: come back soon
const TRY_AGAIN_MAX_BACKOFF_MS = 5_000;
const STEADY_MS = 10_000; // a connection that lasted this long resets the backoff
const SILENCE_LIMIT_MS = 50_000; // the server sends a heartbeat every 20 s
const MAX_BACKOFF_MS = 30_000;
const RECENT = 8;

function emptyCounts(): Counts {
	return { installs: 0, events: 0, clicks: 0, revenue: 0 };
}

class LiveFeed {
	status = $state<LiveStatus>('idle');
	counts = $state<Record<string, Counts>>({});
	recent = $state<LiveRecord[]>([]);
	/** Bumped on every install or event, so pages can refresh their numbers. */
	tick = $state(0);
	lastError = $state<string | null>(null);
	/** When the current connection became ready (epoch ms), or null while not connected. */
	connectedAt = $state<number | null>(null);
	/** Every live connection of the organization that said what it looks at (this one too). */
	viewers = $state<Viewer[]>([]);
	/** This connection's id, to tell it apart from the user's other tabs. */
	connectionId = $state<number | null>(null);
	/** Annotation changes as they arrived, numbered (`seq` increases by one each), the latest
	 * 200 kept: pages apply every one after the last they saw. */
	annotationChanges = $state<(AnnotationChange & { seq: number })[]>([]);
	/** Bumped when messages may have been missed (a new connection, a gap): pages that keep
	 * lists up to date from the feed re-read them. */
	resyncs = $state(0);

	private annotationSeq = 0;

	private view: string | null = null;

	private socket: WebSocket | null = null;
	private wanted = false;
	private attempt = 0;
	private retryTimer: ReturnType<typeof setTimeout> | undefined;
	private silenceTimer: ReturnType<typeof setTimeout> | undefined;

	/** Says what this tab is looking at (`null`: nothing), now and after every reconnection. */
	setView(view: string | null) {
		if (this.view === view) return;
		this.view = view;
		this.sendView();
	}

	/** Who else (other connections) looks at `view`. */
	othersViewing(view: string): Viewer[] {
		return this.viewers.filter((viewer) => viewer.view === view && viewer.connection_id !== this.connectionId);
	}

	private sendView() {
		if (this.socket?.readyState === WebSocket.OPEN && this.status === 'live') {
			this.socket.send(JSON.stringify({ type: 'presence', view: this.view }));
		}
	}

	countsFor(appId: string | null | undefined): Counts {
		return (appId && this.counts[appId]) || emptyCounts();
	}

	start() {
		if (this.wanted) return;
		this.wanted = true;
		this.attempt = 0;
		void this.connect();
	}

	stop() {
		this.wanted = false;
		clearTimeout(this.retryTimer);
		clearTimeout(this.silenceTimer);
		const socket = this.socket;
		this.socket = null;
		socket?.close(1000, 'signed out');
		this.status = 'idle';
		this.connectedAt = null;
		this.counts = {};
		this.recent = [];
		this.viewers = [];
		this.connectionId = null;
	}

	private async connect(forceRefresh = false) {
		if (!this.wanted) return;
		this.status = this.attempt === 0 ? 'connecting' : 'reconnecting';
		if (forceRefresh) await refreshSession();
		const token = await freshAccessToken();
		if (!this.wanted) return;
		if (!token) {
			this.status = 'offline';
			return;
		}
		const url = new URL('/api/v1/live', window.location.href);
		url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
		let socket: WebSocket;
		try {
			socket = new WebSocket(url);
		} catch (error) {
			this.lastError = String(error);
			this.scheduleReconnect(false, MAX_BACKOFF_MS);
			return;
		}
		this.socket = socket;
		socket.onopen = () => {
			const orgId = tokens.current?.orgId;
			socket.send(JSON.stringify(orgId ? { token, org_id: orgId, batch: true } : { token, batch: true }));
			this.watchSilence();
		};
		socket.onmessage = (event) => {
			if (this.socket !== socket) return;
			this.watchSilence();
			this.handle(event.data);
		};
		socket.onclose = (event) => {
			if (this.socket !== socket) return;
			this.socket = null;
			clearTimeout(this.silenceTimer);
			if (this.connectedAt !== null && Date.now() - this.connectedAt > STEADY_MS) this.attempt = 0;
			this.connectedAt = null;
			this.viewers = [];
			this.connectionId = null;
			if (!this.wanted) return;
			this.lastError = event.reason || null;
			// 1008: the token was refused or the session ended; try once more with a new token.
			this.scheduleReconnect(event.code === CLOSE_POLICY, event.code === CLOSE_TRY_AGAIN ? TRY_AGAIN_MAX_BACKOFF_MS : MAX_BACKOFF_MS);
		};
	}

	private handle(raw: unknown) {
		if (typeof raw !== 'string') return;
		let message: unknown;
		try {
			message = JSON.parse(raw);
		} catch {
			return;
		}
		const frame = message as { type?: string; messages?: unknown[] };
		// A batch carries what queued up while the socket was busy, in order.
		const messages = frame.type === 'batch' && Array.isArray(frame.messages) ? frame.messages : [message];
		for (const one of messages) this.handleOne(one as Omit<Partial<LiveRecord>, 'type'> & { type?: string });
	}

	private handleOne(message: Omit<Partial<LiveRecord>, 'type'> & { type?: string }) {
		if (!message || typeof message !== 'object') return;
		if (message.type === 'ready') {
			const ready = message as { connection_id?: number; viewers?: Viewer[] };
			this.status = 'live';
			this.connectedAt = Date.now();
			this.lastError = null;
			this.connectionId = ready.connection_id ?? null;
			this.viewers = ready.viewers ?? [];
			this.resyncs += 1;
			this.sendView();
			return;
		}
		if (message.type === 'presence') {
			this.viewers = (message as { viewers?: Viewer[] }).viewers ?? [];
			return;
		}
		if (message.type === 'annotation') {
			const change = message as unknown as AnnotationChange;
			if (change.annotation && (change.action === 'created' || change.action === 'deleted')) {
				this.annotationSeq += 1;
				const entry = { seq: this.annotationSeq, action: change.action, annotation: change.annotation };
				this.annotationChanges = [...this.annotationChanges.slice(-199), entry];
			}
			return;
		}
		if (message.type === 'gap') {
			// the server skipped a burst it could not relay: let pages re-read their numbers
			this.tick += 1;
			this.resyncs += 1;
			return;
		}
		if (message.type === 'heartbeat' || !message.app_id || !message.id) return;
		const record = message as LiveRecord;
		const counts = this.counts[record.app_id] ?? emptyCounts();
		if (record.type === 'install') counts.installs += 1;
		else if (record.type === 'click' || record.type === 'impression') counts.clicks += 1;
		else counts.events += 1;
		counts.revenue += Number(record.revenue) || 0;
		this.counts[record.app_id] = counts;
		if (record.type !== 'click' && record.type !== 'impression') {
			this.recent = [record, ...this.recent].slice(0, RECENT);
			this.tick += 1;
		}
	}

	private watchSilence() {
		clearTimeout(this.silenceTimer);
		this.silenceTimer = setTimeout(() => {
			// no heartbeat: the connection died without a close frame
			const socket = this.socket;
			this.socket = null;
			socket?.close();
			this.connectedAt = null;
			if (this.wanted) this.scheduleReconnect(false, MAX_BACKOFF_MS);
		}, SILENCE_LIMIT_MS);
	}

	private scheduleReconnect(refresh: boolean, maxBackoffMs: number) {
		clearTimeout(this.retryTimer);
		this.status = 'reconnecting';
		const base = Math.min(maxBackoffMs, 1000 * 2 ** this.attempt);
		const delay = base / 2 + Math.random() * (base / 2);
		this.attempt += 1;
		this.retryTimer = setTimeout(() => void this.connect(refresh), delay);
	}
}

export const live = new LiveFeed();
