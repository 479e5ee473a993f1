/** Where the audit collector reads records from, in search order: the first one there is followed. */

export const DEFAULT_SOURCES = ['/var/log/audit/audit.log', '/var/log/kern.log'];

/** `FILE|FILE|...` → search order. */
export function parseSources(spec: string): string[] {
  const list = spec.split('|').filter((s) => s !== '');
  if (list.length === 0) throw new Error(`no audit log source in "${spec}"`);
  return list;
}

/** Audit log search order (vArmor's --auditLogPaths): VARMOR_MODELER_AUDIT_LOG_PATHS=FILE|FILE, "" for none. */
export function auditSources(): string[] {
  const spec = process.env.VARMOR_MODELER_AUDIT_LOG_PATHS;
  if (spec === undefined) return [...DEFAULT_SOURCES];
  return spec === '' ? [] : parseSources(spec);
}
