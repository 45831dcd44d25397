// The signed-in session's tokens. "Remember me" keeps them in localStorage (they survive a
// browser restart); otherwise in sessionStorage (gone with the tab). Other tabs' refreshes are
// picked up through the storage event, so two tabs never replay one refresh token.
import type { components } from './schema';

type AuthResponse = components['schemas']['AuthResponse'];

export interface StoredSession {
	accessToken: string;
	refreshToken: string;
	/** Epoch milliseconds when the access token expires. */
	expiresAt: number;
	remember: boolean;
	/** The organization selected with X-Org-Id; null for the token's own organization. */
	orgId: string | null;
}

const KEY = 'unmogrowp.session';
const hasWindow = typeof window !== 'undefined';

function parse(raw: string | null): StoredSession | null {
	if (!raw) return null;
	try {
		const value = JSON.parse(raw) as StoredSession;
		if (typeof value.accessToken === 'string' && typeof value.refreshToken === 'string') return value;
	} catch {
		// a damaged entry counts as signed out
	}
	return null;
}

function readStored(): StoredSession | null {
	if (!hasWindow) return null;
	return parse(sessionStorage.getItem(KEY)) ?? parse(localStorage.getItem(KEY));
}

class Tokens {
	current = $state<StoredSession | null>(readStored());
	/** Set when the server ended the session (refresh refused); the login page says so. */
	ended = $state(false);

	constructor() {
		if (hasWindow) {
			window.addEventListener('storage', (event) => {
				if (event.key === KEY) this.current = readStored();
			});
		}
	}

	/** The stored copy, which another tab may have refreshed meanwhile. */
	reread(): StoredSession | null {
		return readStored();
	}

	signIn(auth: AuthResponse, remember: boolean) {
		this.ended = false;
		this.save({
			accessToken: auth.access_token,
			refreshToken: auth.refresh_token,
			expiresAt: Date.now() + auth.expires_in * 1000,
			remember,
			orgId: null
		});
	}

	renew(auth: { access_token: string; refresh_token: string; expires_in: number }) {
		if (!this.current) return;
		this.save({
			...this.current,
			accessToken: auth.access_token,
			refreshToken: auth.refresh_token,
			expiresAt: Date.now() + auth.expires_in * 1000
		});
	}

	adopt(session: StoredSession) {
		this.current = session;
	}

	selectOrg(orgId: string | null) {
		if (!this.current) return;
		this.save({ ...this.current, orgId });
	}

	signOut(ended = false) {
		this.current = null;
		this.ended = ended;
		if (hasWindow) {
			sessionStorage.removeItem(KEY);
			localStorage.removeItem(KEY);
		}
	}

	private save(session: StoredSession) {
		this.current = session;
		if (!hasWindow) return;
		const raw = JSON.stringify(session);
		if (session.remember) {
			localStorage.setItem(KEY, raw);
			sessionStorage.removeItem(KEY);
		} else {
			sessionStorage.setItem(KEY, raw);
			localStorage.removeItem(KEY);
		}
	}
}

export const tokens = new Tokens();
