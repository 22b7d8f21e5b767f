// The monitoring dashboard: a read-only, authenticated web view of the mesh served by the
// control plane.
export { checkLoginToken, generateLoginToken } from './auth.ts';
export { DASHBOARD_ERRORS, type DashboardErrorCode } from './errors.ts';
export {
  readLoginTokenFile,
  startDashboard,
  type DashboardHandle,
  type DashboardOptions,
  type DashboardSources,
} from './hosting.ts';
export { DashboardModel, type DashboardModelOptions } from './model.ts';
export { folderPolicyView, policyStates, type PolicyView } from './policies.ts';
export { buildView, type DashboardView } from './view.ts';
