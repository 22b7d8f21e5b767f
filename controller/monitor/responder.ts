// Turns detections into responses: a log line always; a Kubernetes Event and a webhook
// notification when configured; and, when enabled for its kind, an automatic expiring block.
// Nothing here waits on the network: Events and webhooks are fire-and-forget with their own bounds.
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { isLanyardError } from '../../lib/errors.ts';
import type { Block, BlockTarget, BlockType } from './blocks.ts';
import type { Detection, DetectionKind, SubjectType } from './detectors.ts';
import { describeDetection } from './describe.ts';

/** Where detections become Kubernetes Events (kube-events.ts), or anything else that records them. */
export interface DetectionSink {
  record(detection: Detection): void;
}

/** What makes a block: the local BlockList, or the store that shares blocks across replicas. */
export interface BlockMaker {
  add(target: BlockTarget, ttlMs: number, reason: string, by: Block['by']): Block;
}

export interface ResponderOptions {
  log?: Logger;
  events?: DetectionSink;
  webhook?: { notify(payload: unknown): boolean };
  autoBlock?: {
    blocks: BlockMaker;
    ttlMs: number;
    /** The detection kinds that block their subject. Default: none. */
    kinds: readonly DetectionKind[];
  };
}

// A source address is not something sidecars block: its detections are reported only.
const BLOCKABLE: Partial<Record<SubjectType, BlockType>> = {
  principal: 'principal',
  user: 'user',
  token: 'token',
};

export interface Response {
  detection: Detection;
  block?: Block;
}

export class Responder {
  private readonly log: Logger;
  private readonly listeners = new Set<(response: Response) => void>();

  constructor(private readonly options: ResponderOptions = {}) {
    this.log = options.log ?? silentLogger;
  }

  /** Called with every response (e.g. to keep recent anomalies for a status endpoint). */
  onResponse(listener: (response: Response) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  respond(detection: Detection): Response {
    const response: Response = { detection };
    const auto = this.options.autoBlock;
    const type = BLOCKABLE[detection.subject.type];
    if (auto && type && auto.kinds.includes(detection.kind)) {
      try {
        response.block = auto.blocks.add(
          { type, value: detection.subject.value },
          auto.ttlMs,
          detection.kind,
          'detector',
        );
      } catch (error) {
        if (!isLanyardError(error)) throw error;
        this.log.warn({ code: error.code, kind: detection.kind }, 'automatic block refused');
      }
    }
    this.log.warn(
      {
        detection: detection.kind,
        subjectType: detection.subject.type,
        subject: detection.subject.value,
        count: detection.count,
        threshold: detection.threshold,
        windowMs: detection.windowMs,
        first: new Date(detection.firstMs).toISOString(),
        last: new Date(detection.lastMs).toISOString(),
        ...(detection.detail && { detail: detection.detail }),
        ...(response.block && {
          blockId: response.block.id,
          blockExpires: new Date(response.block.expiresMs).toISOString(),
        }),
      },
      describeDetection(detection),
    );
    this.options.events?.record(detection);
    this.options.webhook?.notify({
      detection,
      message: describeDetection(detection),
      ...(response.block && { block: response.block }),
    });
    for (const listener of this.listeners) listener(response);
    return response;
  }
}
