import type { CaState } from './state.ts';

/** A stored state and the revision that a later replace() must name. */
export interface StoredState {
  readonly state: CaState;
  readonly revision: string;
}

/**
 * Where the CA keeps its key material: a Kubernetes Secret, or a file in local mode.
 * Implementations never log the state: it holds private keys.
 */
export interface KeyStore {
  load(): Promise<StoredState | undefined>;
  /**
   * Stores `state` if nothing is stored yet. Returns what is stored afterwards: ours, or the
   * state of a replica that won the race, so that all replicas end with one root.
   */
  createIfAbsent(state: CaState): Promise<StoredState>;
  /** Replaces the state if it is still at `revision`; else throws ERR_CA_KEYSTORE_CONFLICT. */
  replace(state: CaState, revision: string): Promise<StoredState>;
}
