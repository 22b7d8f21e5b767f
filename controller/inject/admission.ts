// AdmissionReview v1 in and out, without I/O: checks the review the API server sent and turns
// the injector's decision into the response it expects.
import { injectPod, type InjectOptions, type InjectReason } from './injector.ts';

export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  operation: string;
  namespace?: string;
  name?: string;
  dryRun?: boolean;
  object?: unknown;
}

export interface AdmissionResponseBody {
  uid: string;
  allowed: true;
  patchType?: 'JSONPatch';
  /** Base64 of the JSON Patch. */
  patch?: string;
  warnings?: string[];
}

export interface AdmissionReviewOut {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: AdmissionResponseBody;
}

export type AdmissionDecision = InjectReason | 'not-a-pod' | 'not-a-create';

export interface AdmissionOutcome {
  review: AdmissionReviewOut;
  decision: AdmissionDecision;
  message: string;
  /** namespace/name of the object (or its generateName prefix), for logs. */
  subject: string;
}

/** Thrown for a body that is not an AdmissionReview v1 request; the server answers 400. */
export class MalformedReviewError extends Error {
  override name = 'MalformedReviewError';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseAdmissionReview(body: unknown): AdmissionRequest {
  if (!isRecord(body)) throw new MalformedReviewError('the body is not a JSON object');
  if (body.apiVersion !== 'admission.k8s.io/v1' || body.kind !== 'AdmissionReview') {
    throw new MalformedReviewError('expected apiVersion admission.k8s.io/v1, kind AdmissionReview');
  }
  const request = body.request;
  if (!isRecord(request)) throw new MalformedReviewError('the review has no request');
  if (typeof request.uid !== 'string' || request.uid === '') {
    throw new MalformedReviewError('request.uid must be a non-empty string');
  }
  const kind = request.kind;
  if (!isRecord(kind) || typeof kind.kind !== 'string' || typeof kind.version !== 'string') {
    throw new MalformedReviewError('request.kind must name a group, version and kind');
  }
  if (typeof request.operation !== 'string') throw new MalformedReviewError('request.operation is missing');
  return {
    uid: request.uid,
    kind: { group: typeof kind.group === 'string' ? kind.group : '', version: kind.version, kind: kind.kind },
    operation: request.operation,
    ...(typeof request.namespace === 'string' ? { namespace: request.namespace } : {}),
    ...(typeof request.name === 'string' ? { name: request.name } : {}),
    dryRun: request.dryRun === true,
    object: request.object,
  };
}

function review(response: AdmissionResponseBody): AdmissionReviewOut {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

/**
 * Answers one admission request. Every answer allows the object: the webhook only mutates.
 * The mutation has no side effects, so a dry-run request gets the same patch as a real one.
 */
export function admit(request: AdmissionRequest, options: InjectOptions): AdmissionOutcome {
  const { uid } = request;
  const metadata =
    isRecord(request.object) && isRecord(request.object.metadata) ? request.object.metadata : {};
  const name = request.name ?? metadata.name ?? metadata.generateName;
  const subject = `${request.namespace ?? ''}/${typeof name === 'string' ? name : ''}`;
  if (request.kind.group !== '' || request.kind.kind !== 'Pod') {
    const message = `not a Pod (${request.kind.kind}); nothing to inject`;
    return { review: review({ uid, allowed: true }), decision: 'not-a-pod', message, subject };
  }
  if (request.operation !== 'CREATE') {
    const message = `operation ${request.operation}; sidecars are injected on CREATE only`;
    return { review: review({ uid, allowed: true }), decision: 'not-a-create', message, subject };
  }
  if (!isRecord(request.object) || !isRecord(request.object.spec)) {
    throw new MalformedReviewError('request.object must be a Pod with a spec');
  }
  const result = injectPod(request.object, options);
  const response: AdmissionResponseBody = { uid, allowed: true };
  if (result.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(result.patch)).toString('base64');
  }
  if (result.reason === 'host-network' || result.reason === 'name-conflict') {
    response.warnings = [`lanyard: ${result.message}`];
  }
  return { review: review(response), decision: result.reason, message: result.message, subject };
}
