// The policy stream (lanyard.policy.v1.PolicyService/Watch). The caller is the workload whose
// X.509-SVID the TLS layer verified; its Hello names the pod, which must belong to that
// identity. It receives only the snapshot of the policies that select that pod, again on every
// change (debounced by the controller), and its ACKs feed the policies' Ready condition.
import { X509Certificate } from 'node:crypto';
import {
  status,
  type ServerDuplexStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { buildSnapshot, type PolicySnapshot } from '../lib/distribution/snapshot.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import { issuedByAny, verifyPeer } from '../lib/peer.ts';
import type { CompileOptions, PolicyIndex, WorkloadRef } from '../lib/policy/index.ts';
import { workloadIdentityOf, workloadSpiffeId, type WorkloadIdentity } from '../lib/spiffe.ts';
import { loadPolicyProto } from '../proto/load-policy.ts';
import type { PolicySnapshot as SnapshotMessage } from '../proto/generated/lanyard/policy/v1/PolicySnapshot.ts';
import type { WatchRequest__Output } from '../proto/generated/lanyard/policy/v1/WatchRequest.ts';
import { DeliveryLedger, type SnapshotPolicies } from './delivery-ledger.ts';
import type { Delivery } from './status.ts';

/** Finds the workload a caller runs as: the pod must exist and run as the caller's identity. */
export interface WorkloadResolver {
  resolve(identity: WorkloadIdentity, podName: string): WorkloadRef | undefined;
}

export interface PublishedPolicies {
  index: PolicyIndex;
  options: Required<CompileOptions>;
  /** metadata.generation of each accepted policy, by "namespace/name". */
  generations: ReadonlyMap<string, number>;
}

export interface PolicyStreamOptions {
  trustDomain: string;
  /**
   * The certificates that sign workload SVIDs (the CA's current signers). The gRPC port accepts
   * client certificates without verifying them (bootstrap callers have none), so the stream
   * checks the chain itself.
   */
  signers: () => readonly X509Certificate[];
  resolver: WorkloadResolver;
  /** Most concurrent streams; more are refused with RESOURCE_EXHAUSTED. Default 10 000. */
  maxStreams?: number;
  /** A stream that sends no Hello within this long is closed. Default 10 s. */
  helloTimeoutMs?: number;
  log?: Logger;
}

/** A sidecar connected to the stream, as its authenticated stream identifies it. */
export interface ConnectedSidecar {
  spiffeId: string;
  podName: string;
  connectedMs: number;
  /** notAfter of the SVID the sidecar authenticated its stream with. */
  certificateExpiresMs: number;
}

interface Subscriber {
  identity: WorkloadIdentity;
  podName: string;
  workload: WorkloadRef;
  call: ServerDuplexStream<WatchRequest__Output, SnapshotMessage>;
  connectedMs: number;
  /** notAfter of the SVID the stream was authenticated with. */
  certificateExpiresMs: number;
  sent?: PolicySnapshot;
  /** The policies of `sent`, and of the last snapshot ACKed: what the ledger counts. */
  sentPolicies?: SnapshotPolicies;
  ackedPolicies?: SnapshotPolicies;
}

const MAX_NACK_TEXT = 512;

export class PolicyStream {
  readonly definition: ServiceDefinition;
  private readonly subscribers = new Set<Subscriber>();
  private readonly ledger = new DeliveryLedger<Subscriber>();
  private published: PublishedPolicies | undefined;
  private readonly log: Logger;

  constructor(private readonly options: PolicyStreamOptions) {
    this.definition = loadPolicyProto().PolicyService.service;
    this.log = options.log ?? silentLogger;
  }

  get connected(): number {
    return this.subscribers.size;
  }

  /** The handlers to add to a gRPC server next to the CA's. */
  implementation(): UntypedServiceImplementation {
    return { Watch: (call: ServerDuplexStream<WatchRequest__Output, SnapshotMessage>) => this.watch(call) };
  }

  /** Takes a new compiled view and pushes every subscriber whose snapshot changed. */
  publish(policies: PublishedPolicies): void {
    this.published = policies;
    for (const subscriber of this.subscribers) this.push(subscriber);
  }

  /** The sidecars connected now, as their authenticated streams identify them (for the dashboard). */
  sidecars(): ConnectedSidecar[] {
    return [...this.subscribers].map((s) => ({
      spiffeId: workloadSpiffeId(s.identity).toString(),
      podName: s.podName,
      connectedMs: s.connectedMs,
      certificateExpiresMs: s.certificateExpiresMs,
    }));
  }

  /**
   * How many connected sidecars a policy selects, and how many enforce its generation. Every
   * publish pushes every subscriber the policies that select it now, so the ledger's count of
   * sidecars sent the policy is the count of those it selects.
   */
  delivery(policyKey: string, generation: number): Delivery {
    return this.ledger.delivery(policyKey, generation);
  }

  private watch(call: ServerDuplexStream<WatchRequest__Output, SnapshotMessage>): void {
    const refuse = (code: status, details: string) => {
      this.log.warn({ code, details }, 'policy stream refused');
      call.emit('error', { code, details });
    };
    const caller = this.callerIdentity(call);
    if (!caller) return refuse(status.UNAUTHENTICATED, 'a valid workload SVID is required');
    if (this.subscribers.size >= (this.options.maxStreams ?? 10_000)) {
      return refuse(status.RESOURCE_EXHAUSTED, 'too many policy streams');
    }

    let subscriber: Subscriber | undefined;
    const helloTimer = setTimeout(() => {
      if (!subscriber) refuse(status.DEADLINE_EXCEEDED, 'no Hello received');
    }, this.options.helloTimeoutMs ?? 10_000);
    const leave = () => {
      clearTimeout(helloTimer);
      if (subscriber && this.subscribers.delete(subscriber)) this.ledger.remove(subscriber);
    };
    call.on('cancelled', leave);
    call.on('close', leave);
    call.on('error', leave);
    call.on('end', () => {
      leave();
      call.end();
    });
    call.on('data', (message: WatchRequest__Output) => {
      if (message.hello) {
        if (subscriber) return refuse(status.INVALID_ARGUMENT, 'Hello sent twice');
        const { identity, certificateExpiresMs } = caller;
        const workload = this.options.resolver.resolve(identity, message.hello.podName);
        if (!workload) {
          return refuse(
            status.PERMISSION_DENIED,
            `no pod "${message.hello.podName.slice(0, 253)}" runs as ${identity.namespace}/${identity.serviceAccount}`,
          );
        }
        clearTimeout(helloTimer);
        subscriber = {
          identity,
          podName: message.hello.podName,
          workload,
          call,
          connectedMs: Date.now(),
          certificateExpiresMs,
        };
        this.subscribers.add(subscriber);
        this.push(subscriber);
      } else if (message.ack && subscriber) {
        // A late ACK from a stream that already left must not count it again.
        if (subscriber.sent?.version === message.ack.version && this.subscribers.has(subscriber)) {
          subscriber.ackedPolicies = subscriber.sentPolicies;
          this.ledger.update(subscriber, subscriber.sentPolicies, subscriber.ackedPolicies);
        }
      } else if (message.nack && subscriber) {
        this.log.warn(
          {
            workload: `${caller.identity.namespace}/${caller.identity.serviceAccount}`,
            version: message.nack.version,
            error: message.nack.error.slice(0, MAX_NACK_TEXT),
          },
          'sidecar refused a policy snapshot; it keeps enforcing its previous one',
        );
      } else if (!subscriber) {
        refuse(status.FAILED_PRECONDITION, 'the first message must be a Hello');
      }
    });
  }

  private callerIdentity(
    call: ServerDuplexStream<WatchRequest__Output, SnapshotMessage>,
  ): { identity: WorkloadIdentity; certificateExpiresMs: number } | undefined {
    const raw = call.getAuthContext()?.sslPeerCertificate?.raw;
    if (!raw) return undefined;
    const cert = new X509Certificate(raw);
    if (!issuedByAny(cert, this.options.signers(), Date.now())) return undefined;
    const verdict = verifyPeer(cert, {
      trustDomains: new Set([this.options.trustDomain]),
      role: 'client',
    });
    const identity = verdict.ok ? workloadIdentityOf(verdict.id) : undefined;
    return identity && { identity, certificateExpiresMs: Date.parse(cert.validTo) };
  }

  private push(subscriber: Subscriber): void {
    const published = this.published;
    if (!published) return;
    // Labels may have changed since the Hello; a pod that is gone keeps its last workload.
    subscriber.workload =
      this.options.resolver.resolve(subscriber.identity, subscriber.podName) ?? subscriber.workload;
    const snapshot = buildSnapshot(
      published.index,
      published.options,
      subscriber.workload,
      (policy) => published.generations.get(policy.key) ?? 0,
    );
    if (snapshot.version === subscriber.sent?.version) return;
    subscriber.sent = snapshot;
    subscriber.sentPolicies = new Map(
      snapshot.policies.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p.metadata.generation]),
    );
    this.ledger.update(subscriber, subscriber.sentPolicies, subscriber.ackedPolicies);
    subscriber.call.write({
      version: snapshot.version,
      workloadNamespace: subscriber.workload.namespace,
      workloadLabels: { ...subscriber.workload.labels },
      snapshotJson: JSON.stringify(snapshot),
    });
  }
}
