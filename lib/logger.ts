/** The logging surface Lanyard code depends on; pino's logger satisfies it. */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export const silentLogger: Logger = Object.freeze({
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
});

/**
 * Writes an info line whose fields are JSON already (an object's members, without the braces):
 * for a line per request, where a logger's generic serializer would cost more than the request.
 */
export type InfoJsonWriter = (fieldsJson: string, message: string) => void;

/** An InfoJsonWriter through any Logger (tests, `lanyard dev`): parses what it is given. */
export function infoJsonVia(log: Logger): InfoJsonWriter {
  return (fieldsJson, message) => log.info(JSON.parse(`{${fieldsJson}}`) as Record<string, unknown>, message);
}
