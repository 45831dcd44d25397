// What this browser remembers of each app's first steps (localStorage): `waiting` once the
// checklist has been shown for an app without data (so it shows at once next time, and turns
// green when the data has come meanwhile), `done` once it was hidden or the app had data
// before anyone looked; and whether the SDK snippet was copied.
export type OnboardingStatus = 'waiting' | 'done';

const key = (appId: string, what: string) => `unmogrowp.onboarding.${appId}.${what}`;

function read(name: string): string | null {
	try {
		return localStorage.getItem(name);
	} catch {
		return null;
	}
}

function write(name: string, value: string) {
	try {
		localStorage.setItem(name, value);
	} catch {
		// private mode: remembered for this page only
	}
}

export const onboarding = {
	get(appId: string): OnboardingStatus | null {
		const value = read(key(appId, 'status'));
		return value === 'waiting' || value === 'done' ? value : null;
	},
	set(appId: string, status: OnboardingStatus) {
		write(key(appId, 'status'), status);
	},
	copied(appId: string): boolean {
		return read(key(appId, 'copied')) === 'yes';
	},
	setCopied(appId: string) {
		write(key(appId, 'copied'), 'yes');
	}
};
