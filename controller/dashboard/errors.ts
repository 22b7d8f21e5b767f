import { LanyardError } from '../../lib/errors.ts';

/**
 * Error codes of the dashboard (controller/dashboard/). They reach the browser as the `code` of
 * a JSON error or as a short message on the login form, and the log as the `code` field.
 */
export const DASHBOARD_ERRORS = Object.freeze({
  ERR_DASHBOARD_UNAUTHENTICATED:
    'The request carries no valid dashboard session (none, unknown or expired); pages redirect to the login form, the JSON endpoint answers 401.',
  ERR_DASHBOARD_LOGIN_FAILED:
    'The login token is wrong or missing; the form answers 401 and the failure counts toward the login rate limit.',
  ERR_DASHBOARD_LOGIN_RATE_LIMITED:
    'Too many failed logins within the window; every login is refused with 429 until the window passes.',
  ERR_DASHBOARD_CROSS_ORIGIN:
    'A login or logout was not same-origin (Origin header missing or another origin) or its form token did not match; refused with 403.',
});

export type DashboardErrorCode = keyof typeof DASHBOARD_ERRORS;

export function dashboardError(code: DashboardErrorCode): LanyardError<DashboardErrorCode> {
  return new LanyardError<DashboardErrorCode>(code, DASHBOARD_ERRORS[code]);
}
