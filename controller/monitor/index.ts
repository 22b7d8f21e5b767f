// Authentication monitoring: decision events from sidecars, detectors, and the response.
export { BlockList, type Block, type BlockSnapshot, type BlockTarget, type BlockType } from './blocks.ts';
export { parseCountryTable, type CountryResolver } from './country.ts';
export {
  DEFAULT_DETECTOR_CONFIG,
  Monitor,
  resolveDetectorConfig,
  type Detection,
  type DetectionKind,
  type DetectorConfig,
} from './detectors.ts';
export { describeDetection } from './describe.ts';
export { MONITOR_ERRORS, type MonitorErrorCode } from './errors.ts';
export { DEFAULT_EVENT_LIMITS, validateBatch, validateEvent, type MonitorEvent } from './event.ts';
export { EventService, type EventServiceOptions } from './ingest.ts';
export { LeaseEventSink } from './kube-events.ts';
export { createMonitorMetrics, type MonitorMetrics } from './metrics.ts';
export { MonitorPipeline } from './pipeline.ts';
export { Responder, type DetectionSink, type Response } from './responder.ts';
export { WebhookNotifier } from './webhook.ts';
