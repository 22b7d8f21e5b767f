import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { AuditRecord, IdpStore } from './store/types.ts';

export type AuditEvent = Omit<AuditRecord, 'at'>;

/** Every login attempt and security event: a stored record, a metric and a log line. */
export class Auditor {
  private readonly attempts: Counter<'event' | 'outcome' | 'reason'>;

  constructor(
    private readonly store: IdpStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    registry: Registry,
  ) {
    this.attempts = new Counter({
      name: 'lanyard_idp_auth_events_total',
      help: 'Identity provider events (login, mfa, refresh reuse, ...) by outcome and reason',
      labelNames: ['event', 'outcome', 'reason'],
      registers: [registry],
    });
  }

  async record(event: AuditEvent): Promise<void> {
    this.attempts.inc({ event: event.event, outcome: event.outcome, reason: event.reason ?? 'none' });
    const fields = { ...event, audit: true };
    if (event.outcome === 'security') this.logger.warn(fields, `idp security event: ${event.event}`);
    else this.logger.info(fields, `idp ${event.event}: ${event.outcome}`);
    await this.store.appendAudit({ ...event, at: this.clock.now() });
  }
}
