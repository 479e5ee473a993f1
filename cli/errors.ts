/** The innermost cause: Temporal wraps the failure that says what went wrong. */
export function rootCause(err: unknown): string {
  let e = err as { message?: string; cause?: unknown };
  while (e.cause) e = e.cause as typeof e;
  return e.message ?? String(err);
}
