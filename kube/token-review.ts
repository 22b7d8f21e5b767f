import { AuthenticationV1Api, type KubeConfig } from '@kubernetes/client-node';

/** The parts of a TokenReview status that an attestor decides on. */
export interface TokenReviewResult {
  readonly authenticated: boolean;
  readonly username?: string;
  readonly audiences: readonly string[];
  readonly extra: Readonly<Record<string, readonly string[]>>;
  readonly error?: string;
}

/** Asks the API server whether a token is valid for the given audiences. Throws if unreachable. */
export interface TokenReviewer {
  review(token: string, audiences: readonly string[]): Promise<TokenReviewResult>;
}

export function kubeTokenReviewer(kc: KubeConfig): TokenReviewer {
  const api = kc.makeApiClient(AuthenticationV1Api);
  return {
    async review(token, audiences) {
      const review = await api.createTokenReview({ body: { spec: { token, audiences: [...audiences] } } });
      const status = review.status ?? {};
      return {
        authenticated: status.authenticated === true,
        ...(status.user?.username ? { username: status.user.username } : {}),
        audiences: status.audiences ?? [],
        extra: status.user?.extra ?? {},
        ...(status.error ? { error: status.error } : {}),
      };
    },
  };
}
