import { pino, type Logger } from 'pino';

/** Structured logs on stderr (stdout belongs to command output). VARMOR_MODELER_LOG sets the level. */
export function createLogger(name: string, defaultLevel = 'info'): Logger {
  return pino({ name, level: process.env.VARMOR_MODELER_LOG ?? defaultLevel }, pino.destination(2));
}
