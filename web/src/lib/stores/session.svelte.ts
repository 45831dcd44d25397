// Who is signed in, in which organization, with which role (from GET /api/v1/me).
import { api, call, publicApi, type Schemas } from '$lib/api/client';
import { tokens } from '$lib/api/tokens.svelte';
import { toApiError } from '$lib/api/problem';

export type Role = 'owner' | 'admin' | 'member' | 'viewer';
const RANK: Record<Role, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };

class Session {
	me = $state<Schemas['MeResponse'] | null>(null);

	get signedIn(): boolean {
		return tokens.current !== null;
	}

	get role(): Role | null {
		const role = this.me?.role;
		return role && role in RANK ? (role as Role) : null;
	}

	/** Whether the user's role is at least `needed` (viewers read; members manage links,
	 * postbacks and exports; admins apps, keys and members; owners everything). */
	atLeast(needed: Role): boolean {
		const role = this.role;
		return role !== null && RANK[role] >= RANK[needed];
	}

	/** Roles this user may give or take: admins manage admins, members and viewers. */
	manageableRoles(): Role[] {
		if (this.role === 'owner') return ['owner', 'admin', 'member', 'viewer'];
		if (this.role === 'admin') return ['admin', 'member', 'viewer'];
		return [];
	}

	async loadMe(): Promise<Schemas['MeResponse']> {
		this.me = await call(api.GET('/api/v1/me'));
		return this.me;
	}

	async login(email: string, password: string, remember: boolean) {
		const auth = await call(
			publicApi.POST('/api/v1/auth/login', { body: { email, password, remember_me: remember } })
		);
		tokens.signIn(auth, remember);
		this.me = null;
		return auth;
	}

	/** Signs in with a pair of tokens from registration or an accepted invitation. */
	adopt(auth: Schemas['AuthResponse'], remember = false) {
		tokens.signIn(auth, remember);
		this.me = null;
	}

	switchOrganization(orgId: string) {
		const own = this.me?.organizations.find((o) => o.id === orgId);
		if (!own) return;
		tokens.selectOrg(orgId);
		this.me = null;
	}

	async logout() {
		try {
			if (tokens.current) await call(api.POST('/api/v1/auth/logout'));
		} catch (error) {
			// the tokens are dropped here either way; an expired session is already over
			console.warn('logout:', toApiError(error).message);
		}
		tokens.signOut(false);
		this.me = null;
	}
}

export const session = new Session();
