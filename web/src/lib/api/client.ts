// Typed API client: every call goes through openapi-fetch with the paths generated from the
// server's OpenAPI document (src/lib/api/schema.d.ts). The authenticated client adds the bearer
// token and X-Org-Id, refreshes an access token that is about to expire, and on a 401 refreshes
// once and replays the request; if the refresh is refused the session is over.
import { untrack } from 'svelte';
import createClient from 'openapi-fetch';
import type { components, paths } from './schema';
import { tokens } from './tokens.svelte';
import { problemFrom, toApiError } from './problem';

export type Schemas = components['schemas'];

/** For endpoints that take no token (sign-in, registration, password reset, refresh). */
export const publicApi = createClient<paths>({ baseUrl: '' });

const REFRESH_MARGIN_MS = 30_000;

/** The session, read without making the calling effect depend on it (pages load data in
 * effects; a token refresh must not make them load again). */
function current() {
	return untrack(() => tokens.current);
}
let refreshing: Promise<boolean> | null = null;

/** Exchanges the refresh token for a new pair; concurrent callers share one exchange. */
export function refreshSession(): Promise<boolean> {
	refreshing ??= exchange().finally(() => {
		refreshing = null;
	});
	return refreshing;
}

async function exchange(): Promise<boolean> {
	const mine = current();
	if (!mine) return false;
	// Another tab may have refreshed already: its pair is the valid one now.
	const stored = tokens.reread();
	if (stored && stored.refreshToken !== mine.refreshToken && stored.expiresAt - Date.now() > REFRESH_MARGIN_MS) {
		tokens.adopt(stored);
		return true;
	}
	try {
		const { data, response } = await publicApi.POST('/api/v1/auth/refresh', {
			body: { refresh_token: mine.refreshToken }
		});
		if (data) {
			tokens.renew(data);
			return true;
		}
		if (response.status === 401 || response.status === 400) tokens.signOut(true);
		return false;
	} catch {
		return false; // network trouble: keep the session, the caller shows the error
	}
}

/** An access token valid for at least the next half minute (refreshing if needed). */
export async function freshAccessToken(): Promise<string | null> {
	const session = current();
	if (!session) return null;
	if (session.expiresAt - Date.now() < REFRESH_MARGIN_MS) await refreshSession();
	return current()?.accessToken ?? null;
}

function authorize(request: Request, token: string | null): Request {
	const authorized = new Request(request);
	if (token) authorized.headers.set('Authorization', `Bearer ${token}`);
	const orgId = current()?.orgId;
	if (orgId) authorized.headers.set('X-Org-Id', orgId);
	return authorized;
}

async function authFetch(request: Request): Promise<Response> {
	const token = await freshAccessToken();
	const replay = request.clone();
	const response = await fetch(authorize(request, token));
	if (response.status !== 401 || !token) return response;
	// A refused refresh ends the session (exchange() signs out); an unreachable server leaves
	// it, and the caller shows the 401.
	const renewed = (await refreshSession()) ? current() : null;
	if (!renewed) return response;
	return fetch(authorize(replay, renewed.accessToken));
}

/** The client for everything behind sign-in. */
export const api = createClient<paths>({ baseUrl: '', fetch: authFetch });

type Outcome<D> = { data?: D; error?: unknown; response: Response };

/** Awaits an openapi-fetch call: its data, or an ApiError built from the problem document. */
export async function call<D>(pending: Promise<Outcome<D>>): Promise<D> {
	return (await callWithResponse(pending)).data;
}

/** Like `call`, also handing back the response (for headers such as X-Next-Cursor). */
export async function callWithResponse<D>(
	pending: Promise<Outcome<D>>
): Promise<{ data: D; response: Response }> {
	let outcome: Outcome<D>;
	try {
		outcome = await pending;
	} catch (error) {
		throw toApiError(error);
	}
	if (!outcome.response.ok) throw problemFrom(outcome.response, outcome.error);
	return { data: outcome.data as D, response: outcome.response };
}
