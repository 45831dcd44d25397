// A typed client for the UnMoGrowP API: every path, parameter, body and answer comes from the
// server's OpenAPI document (src/schema.d.ts, generated), calls go through openapi-fetch.
import createFetchClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './schema.js';

export type { components, paths };
/** Every schema of the API by name, e.g. `Schemas['IncomingEvent']`. */
export type Schemas = components['schemas'];
/** An event as `/v1/events` and `/v1/s2s/events` take it. */
export type IncomingEvent = Schemas['IncomingEvent'];
/** What collection answers: accepted, duplicates, rejected (with index, id, code, message). */
export type IngestResponse = Schemas['IngestResponse'];

/** An RFC 9457 problem document, as every error of the API is. */
export interface Problem {
	type?: string;
	title?: string;
	status?: number;
	detail?: string;
	code?: string;
	errors?: { field: string; message: string }[];
	request_id?: string;
	trace_id?: string;
}

/** A call the server answered with an error status; `problem` holds its problem document. */
export class ApiError extends Error {
	readonly status: number;
	readonly problem: Problem;

	constructor(status: number, problem: Problem) {
		super(`${status} ${problem.title ?? 'error'}: ${problem.detail ?? problem.code ?? ''}`.trim());
		this.name = 'ApiError';
		this.status = status;
		this.problem = problem;
	}
}

export interface ClientOptions {
	/** The server, e.g. `https://attribution.example.com` (no trailing path). */
	baseUrl: string;
	/**
	 * `Authorization: Bearer …`: an access token from sign-in, or a long-lived API token
	 * (`unm_…`, created under Organization → API tokens). A function is called before each
	 * request (to hand out a refreshed token).
	 */
	token?: string | (() => string | undefined | Promise<string | undefined>);
	/** `X-Org-Id`: act in another organization the user belongs to. */
	orgId?: string;
	/** A `fetch` to use instead of the global one. */
	fetch?: typeof fetch;
}

/**
 * A client for every path of the API. Calls answer `{ data, error, response }` (openapi-fetch);
 * pass the result to {@link unwrap} to get the data or an {@link ApiError}.
 *
 * ```ts
 * const api = createClient({ baseUrl: 'http://127.0.0.1:8080', token: process.env.UNMOGROWP_TOKEN });
 * const apps = unwrap(await api.GET('/api/v1/apps'));
 * ```
 */
export function createClient(options: ClientOptions): Client<paths> {
	const client = createFetchClient<paths>({
		baseUrl: options.baseUrl.replace(/\/+$/, ''),
		fetch: options.fetch
	});
	client.use({
		async onRequest({ request }) {
			const token = typeof options.token === 'function' ? await options.token() : options.token;
			if (token) request.headers.set('Authorization', `Bearer ${token}`);
			if (options.orgId) request.headers.set('X-Org-Id', options.orgId);
			return request;
		}
	});
	return client;
}

/** The data of a successful call; throws {@link ApiError} (with the problem document) otherwise. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
	if (result.response.ok) return result.data as T;
	const problem = (result.error ?? {}) as Problem;
	throw new ApiError(result.response.status, typeof problem === 'object' ? problem : { detail: String(problem) });
}

/**
 * The `X-Signature` of an S2S request: `sha256=` and the hex HMAC-SHA256 of the exact body
 * bytes under the key's secret (Web Crypto; Node 20+ and browsers).
 */
export async function signS2S(secret: string, body: string | Uint8Array<ArrayBuffer>): Promise<string> {
	const encoder = new TextEncoder();
	const key = await crypto.subtle.importKey(
		'raw',
		encoder.encode(secret),
		{ name: 'HMAC', hash: 'SHA-256' },
		false,
		['sign']
	);
	const bytes = typeof body === 'string' ? encoder.encode(body) : body;
	const signature = new Uint8Array(await crypto.subtle.sign('HMAC', key, bytes));
	return `sha256=${Array.from(signature, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

export interface S2SOptions {
	/** The server, e.g. `https://attribution.example.com`. */
	baseUrl: string;
	/** The S2S key's id (`POST /api/v1/apps/{app_id}/keys` answers it with the secret). */
	keyId: string;
	/** The key's secret (`sk_…`), shown once when the key is created. Keep it server-side. */
	secret: string;
	/** A `fetch` to use instead of the global one. */
	fetch?: typeof fetch;
}

/**
 * Sends events server to server (`POST /v1/s2s/events`), signed with an S2S key. Each event is
 * checked on its own: the answer lists the accepted count, re-sent ids (`duplicates`, counted
 * once) and the rejected ones with a reason. Throws {@link ApiError} when the whole request is
 * refused (bad signature 401, too large 413, busy 503 — retry after `Retry-After`; a re-sent
 * event id is counted once, so retrying is safe).
 */
export async function sendS2SEvents(options: S2SOptions, events: IncomingEvent[]): Promise<IngestResponse> {
	const body = JSON.stringify({ events });
	const response = await (options.fetch ?? fetch)(`${options.baseUrl.replace(/\/+$/, '')}/v1/s2s/events`, {
		method: 'POST',
		headers: {
			'Content-Type': 'application/json',
			'X-Key-Id': options.keyId,
			'X-Signature': await signS2S(options.secret, body)
		},
		body
	});
	const text = await response.text();
	const answer = text ? JSON.parse(text) : {};
	if (!response.ok) throw new ApiError(response.status, answer as Problem);
	return answer as IngestResponse;
}
