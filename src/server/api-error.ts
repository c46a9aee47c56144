/** OpenAI's error `type`s that this server answers with. */
export type ErrorType = 'invalid_request_error' | 'unavailable_error' | 'server_error';

/** A request the server answers with an OpenAI error object, `{"error": {message, type, param, code}}`, and an HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number, message: string, readonly type: ErrorType,
    /** The request field at fault, as OpenAI names it (`messages[1].content`). */
    readonly param: string | null = null,
    readonly code: string | null = null,
    /** Headers the answer carries besides the body's (405's `Allow`). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): { error: { message: string; type: ErrorType; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const badRequest = (message: string, param: string | null = null, code: string | null = null): ApiError =>
  new ApiError(400, message, 'invalid_request_error', param, code);
