// Errors from the API: RFC 9457 problem details, parsed into one error type the pages show.
export interface FieldProblem {
	field: string;
	message: string;
}

export class ApiError extends Error {
	readonly status: number;
	readonly title: string;
	readonly detail: string | null;
	readonly code: string | null;
	readonly fieldErrors: FieldProblem[];
	readonly requestId: string | null;

	constructor(init: {
		status: number;
		title: string;
		detail?: string | null;
		code?: string | null;
		fieldErrors?: FieldProblem[];
		requestId?: string | null;
	}) {
		super(init.detail || init.title);
		this.name = 'ApiError';
		this.status = init.status;
		this.title = init.title;
		this.detail = init.detail ?? null;
		this.code = init.code ?? null;
		this.fieldErrors = init.fieldErrors ?? [];
		this.requestId = init.requestId ?? null;
	}

	/** The message for one form field, if the API named it. */
	field(name: string): string | undefined {
		return this.fieldErrors.find((e) => e.field === name)?.message;
	}
}

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Builds an ApiError from a failed response and its (already parsed) body. */
export function problemFrom(response: Response, body: unknown): ApiError {
	const requestId = response.headers.get('x-request-id');
	if (isRecord(body)) {
		const errors = Array.isArray(body.errors)
			? body.errors.filter(isRecord).map((e) => ({
					field: String(e.field ?? ''),
					message: String(e.message ?? '')
				}))
			: [];
		return new ApiError({
			status: typeof body.status === 'number' ? body.status : response.status,
			title: typeof body.title === 'string' ? body.title : response.statusText || 'Error',
			detail: typeof body.detail === 'string' ? body.detail : null,
			code: typeof body.code === 'string' ? body.code : null,
			fieldErrors: errors,
			requestId: typeof body.request_id === 'string' ? body.request_id : requestId
		});
	}
	const text = typeof body === 'string' ? body.trim().slice(0, 300) : '';
	return new ApiError({
		status: response.status,
		title: response.statusText || `HTTP ${response.status}`,
		detail: text || `The server answered ${response.status}.`,
		requestId
	});
}

/** Anything thrown while talking to the API, as an ApiError. */
export function toApiError(error: unknown): ApiError {
	if (error instanceof ApiError) return error;
	if (error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
		return new ApiError({
			status: 0,
			title: 'Timed out',
			detail: 'The server did not finish answering in time. Try again, or a shorter date range.'
		});
	}
	if (error instanceof TypeError) {
		return new ApiError({
			status: 0,
			title: 'Network error',
			detail: 'Cannot reach the server. Check your connection and try again.'
		});
	}
	return new ApiError({
		status: 0,
		title: 'Unexpected error',
		detail: error instanceof Error ? error.message : String(error)
	});
}
