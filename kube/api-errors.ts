import { ApiException } from '@kubernetes/client-node';

/** The HTTP status of a failed API call, or undefined when the server was not reached. */
export function apiStatus(error: unknown): number | undefined {
  if (error instanceof ApiException) return (error as ApiException<unknown>).code;
  return undefined;
}
