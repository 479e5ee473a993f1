/** The innermost cause's message: Temporal wraps the failure that says what went wrong. Pure, for workflows and the CLI. */
export function rootMessage(err: unknown): string {
  let e = err as { message?: unknown; cause?: unknown } | null | undefined;
  while (e && typeof e === 'object' && e.cause) e = e.cause as typeof e;
  return e && typeof e === 'object' && typeof e.message === 'string' ? e.message : String(e ?? err);
}
