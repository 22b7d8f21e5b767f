// The monitor as one unit: accepted events go through the detectors, each detection is counted
// and handed to the responder. Old window state is pruned on a timer.
import type { Clock } from '../../lib/clock.ts';
import type { CountryResolver } from './country.ts';
import { Monitor, type Detection, type DetectorConfig } from './detectors.ts';
import type { MonitorEvent } from './event.ts';
import type { MonitorMetrics } from './metrics.ts';
import type { Responder } from './responder.ts';

export interface MonitorPipelineOptions {
  detectors: DetectorConfig;
  responder: Responder;
  countries?: CountryResolver;
  metrics?: MonitorMetrics;
  clock: Clock;
  /** How often window state is pruned. Default 30 s. */
  pruneEveryMs?: number;
}

export class MonitorPipeline {
  private readonly monitor: Monitor;
  private readonly timer: NodeJS.Timeout;
  private readonly listeners = new Set<(event: MonitorEvent) => void>();

  constructor(private readonly options: MonitorPipelineOptions) {
    this.monitor = new Monitor(options.detectors, options.countries);
    this.timer = setInterval(() => this.monitor.prune(options.clock.now()), options.pruneEveryMs ?? 30_000);
    this.timer.unref();
  }

  /** Called with every event processed (e.g. by the dashboard's read model). */
  onEvent(listener: (event: MonitorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  process(event: MonitorEvent): Detection[] {
    const detections = this.monitor.observe(event);
    for (const detection of detections) {
      this.options.metrics?.detection(detection.kind);
      this.options.responder.respond(detection);
    }
    // After the response: a failing listener costs only its own view of the event.
    for (const listener of this.listeners) listener(event);
    return detections;
  }

  close(): void {
    clearInterval(this.timer);
  }
}
