// Loads the password-strength module (zxcvbn and its dictionaries) once, on first use; a
// failed download may be tried again.
type StrengthModule = typeof import('./strength');

let pending: Promise<StrengthModule> | null = null;

export function loadStrength(): Promise<StrengthModule> {
	pending ??= import('./strength').catch((error: unknown) => {
		pending = null;
		throw error;
	});
	return pending;
}
