// Light or dark: the system's preference unless the person chose one (remembered in
// localStorage). app.html applies the same rule before the first paint; this store keeps it
// applied when the choice or the system's preference changes, in every open tab.
export type ThemeChoice = 'system' | 'light' | 'dark';

/** Also read by the script in app.html: keep the two in step. */
export const THEME_KEY = 'unmogrowp.theme';
const hasWindow = typeof window !== 'undefined';

function stored(): ThemeChoice {
	try {
		const value = localStorage.getItem(THEME_KEY);
		return value === 'light' || value === 'dark' ? value : 'system';
	} catch {
		return 'system';
	}
}

class Theme {
	choice = $state<ThemeChoice>(hasWindow ? stored() : 'system');
	systemDark = $state(hasWindow && window.matchMedia('(prefers-color-scheme: dark)').matches);

	constructor() {
		if (!hasWindow) return;
		window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', (event) => {
			this.systemDark = event.matches;
			this.apply();
		});
		window.addEventListener('storage', (event) => {
			if (event.key !== THEME_KEY) return;
			this.choice = stored();
			this.apply();
		});
		this.apply();
	}

	/** Whether the dark theme is showing. */
	get dark(): boolean {
		return this.choice === 'dark' || (this.choice === 'system' && this.systemDark);
	}

	set(choice: ThemeChoice) {
		this.choice = choice;
		try {
			if (choice === 'system') localStorage.removeItem(THEME_KEY);
			else localStorage.setItem(THEME_KEY, choice);
		} catch {
			// private mode: the choice lasts for this page only
		}
		this.apply();
	}

	private apply() {
		document.documentElement.classList.toggle('dark', this.dark);
	}
}

export const theme = new Theme();
