import { describe, expect, it } from 'vitest';
import { isLanyardError } from '../lib/errors.ts';
import { loadControllerConfig, loadDashboardConfig, loadMonitorConfig, loadTtlConfig } from './config.ts';
import { resolveDetectorConfig } from './monitor/detectors.ts';

const base = { LANYARD_SIDECAR_IMAGE: 'ghcr.io/example/lanyard:1.0.0', POD_NAMESPACE: 'mesh' };

function refusal(env: NodeJS.ProcessEnv): string {
  try {
    loadControllerConfig(env);
  } catch (error) {
    if (!isLanyardError(error, 'ERR_CONFIG_INVALID')) throw error;
    return error.message;
  }
  throw new Error('the configuration was accepted');
}

describe('loadControllerConfig: the injection webhook', () => {
  it('hosts the webhook by default with the contract defaults', () => {
    const config = loadControllerConfig(base);
    expect(config.webhook).toEqual({
      port: 15017,
      configName: 'lanyard-injector',
      service: 'lanyard-webhook',
      sidecarImage: 'ghcr.io/example/lanyard:1.0.0',
      controlPlaneAddress: 'lanyard-controller.mesh.svc:15012',
      rewriteProbes: true,
    });
    expect(config.evictPodsWithoutSidecar).toBe(false);
    expect(config.httpPort).toBe(15014);
  });

  it('reads every webhook setting', () => {
    const config = loadControllerConfig({
      ...base,
      LANYARD_GRPC_PORT: '9443',
      LANYARD_WEBHOOK_PORT: '8443',
      LANYARD_WEBHOOK_CONFIG_NAME: 'mesh-injector',
      LANYARD_WEBHOOK_SERVICE: 'mesh-webhook',
      LANYARD_SIDECAR_IMAGE_PULL_POLICY: 'Always',
      LANYARD_CONTROL_PLANE_ADDRESS: 'cp.mesh.svc:9443',
      LANYARD_INJECT_REWRITE_PROBES: 'false',
      LANYARD_EVICT_PODS_WITHOUT_SIDECAR: 'true',
    });
    expect(config.webhook).toEqual({
      port: 8443,
      configName: 'mesh-injector',
      service: 'mesh-webhook',
      sidecarImage: 'ghcr.io/example/lanyard:1.0.0',
      sidecarImagePullPolicy: 'Always',
      controlPlaneAddress: 'cp.mesh.svc:9443',
      rewriteProbes: false,
    });
    expect(config.evictPodsWithoutSidecar).toBe(true);
  });

  it('port 0 disables the webhook, and then needs no sidecar image', () => {
    expect(loadControllerConfig({ LANYARD_WEBHOOK_PORT: '0' }).webhook).toBeUndefined();
  });

  it.each([
    [{ LANYARD_SIDECAR_IMAGE: '' }, /LANYARD_SIDECAR_IMAGE is required/],
    [{ LANYARD_WEBHOOK_PORT: '70000' }, /LANYARD_WEBHOOK_PORT must be a port/],
    [{ LANYARD_WEBHOOK_PORT: 'https' }, /LANYARD_WEBHOOK_PORT must be a port/],
    [{ LANYARD_HTTP_PORT: '-1' }, /LANYARD_HTTP_PORT must be a port/],
    [{ LANYARD_SIDECAR_IMAGE_PULL_POLICY: 'Sometimes' }, /LANYARD_SIDECAR_IMAGE_PULL_POLICY must be one of/],
    [
      { LANYARD_CONTROL_PLANE_ADDRESS: 'https://cp:15012' },
      /LANYARD_CONTROL_PLANE_ADDRESS must be host:port/,
    ],
    [{ LANYARD_INJECT_REWRITE_PROBES: 'yes' }, /LANYARD_INJECT_REWRITE_PROBES must be true or false/],
    [{ LANYARD_EVICT_PODS_WITHOUT_SIDECAR: '1' }, /LANYARD_EVICT_PODS_WITHOUT_SIDECAR must be true or false/],
    [{ LANYARD_WEBHOOK_CONFIG_NAME: 'Lanyard_Injector' }, /LANYARD_WEBHOOK_CONFIG_NAME must be a Kubernetes/],
    [{ LANYARD_WEBHOOK_SERVICE: 'a/b' }, /LANYARD_WEBHOOK_SERVICE must be a Kubernetes/],
  ])('refuses %o', (env, message) => {
    expect(refusal({ ...base, ...env })).toMatch(message);
  });
});

describe('loadTtlConfig', () => {
  it('defaults to 1h within [5m, 24h] and 5m JWT-SVIDs', () => {
    expect(loadTtlConfig({})).toEqual({
      svidDefaultMs: 3600_000,
      svidMinMs: 300_000,
      svidMaxMs: 86_400_000,
      jwtSvidMs: 300_000,
    });
  });

  it('reads Go-style durations', () => {
    expect(
      loadTtlConfig({
        LANYARD_SVID_TTL: '1h30m',
        LANYARD_SVID_MIN_TTL: '90s',
        LANYARD_SVID_MAX_TTL: '48h',
        LANYARD_JWT_SVID_TTL: '10m',
      }),
    ).toEqual({ svidDefaultMs: 5_400_000, svidMinMs: 90_000, svidMaxMs: 172_800_000, jwtSvidMs: 600_000 });
  });

  it.each([
    [
      { LANYARD_SVID_TTL: '1 hour' },
      /LANYARD_SVID_TTL must be a positive duration such as 90s, 5m or 1h, not "1 hour"/,
    ],
    [{ LANYARD_SVID_TTL: '3600' }, /LANYARD_SVID_TTL must be a positive duration/],
    [{ LANYARD_SVID_MIN_TTL: '0s' }, /LANYARD_SVID_MIN_TTL must be a positive duration/],
    [{ LANYARD_JWT_SVID_TTL: '-5m' }, /LANYARD_JWT_SVID_TTL must be a positive duration/],
    [{ LANYARD_SVID_MIN_TTL: '30s', LANYARD_SVID_TTL: '1m' }, /LANYARD_SVID_MIN_TTL must be at least 1m/],
    [{ LANYARD_SVID_MAX_TTL: '721h' }, /at most 720h/],
    [{ LANYARD_SVID_MIN_TTL: '2h' }, /LANYARD_SVID_MIN_TTL must not exceed LANYARD_SVID_TTL/],
    [{ LANYARD_SVID_MAX_TTL: '30m' }, /LANYARD_SVID_TTL must not exceed LANYARD_SVID_MAX_TTL/],
    [{ LANYARD_JWT_SVID_TTL: '2h' }, /LANYARD_JWT_SVID_TTL must be at most 1h/],
  ])('refuses %o with a clear message', (env, message) => {
    expect(refusal({ ...base, ...env })).toMatch(message);
  });
});

describe('loadMonitorConfig: detectors, automatic blocks and the webhook', () => {
  it('defaults to the detector defaults, no automatic block and no webhook', () => {
    const config = loadMonitorConfig({});
    expect(config.detectors).toEqual(resolveDetectorConfig());
    expect(config.autoBlock).toBeUndefined();
    expect(config.webhook).toBeUndefined();
    expect(loadControllerConfig(base).monitor).toEqual(config);
  });

  it('reads every setting', () => {
    const config = loadMonitorConfig({
      LANYARD_MONITOR_DENIAL_SPIKE_THRESHOLD: '50',
      LANYARD_MONITOR_DENIAL_SPIKE_WINDOW: '2m',
      LANYARD_MONITOR_TOKEN_SPREAD_THRESHOLD: '4',
      LANYARD_MONITOR_TOKEN_SPREAD_WINDOW: '30m',
      LANYARD_MONITOR_TOKEN_COUNTRIES_THRESHOLD: '3',
      LANYARD_MONITOR_TOKEN_COUNTRIES_WINDOW: '6h',
      LANYARD_MONITOR_BAD_TOKENS_THRESHOLD: '25',
      LANYARD_MONITOR_BAD_TOKENS_WINDOW: '30s',
      LANYARD_MONITOR_AUTOBLOCK_KINDS: 'denial-spike, token-countries,denial-spike',
      LANYARD_MONITOR_AUTOBLOCK_TTL: '1h30m',
      LANYARD_MONITOR_WEBHOOK_URL: 'https://hooks.example/lanyard',
      LANYARD_MONITOR_WEBHOOK_SECRET_HEADER: 'Authorization',
      LANYARD_MONITOR_WEBHOOK_SECRET: 'Bearer s3cret',
    });
    expect(config.detectors.denialSpike).toEqual({ threshold: 50, windowMs: 120_000 });
    expect(config.detectors.tokenSpread).toEqual({ threshold: 4, windowMs: 1_800_000 });
    expect(config.detectors.tokenCountries).toEqual({ threshold: 3, windowMs: 6 * 3600_000 });
    expect(config.detectors.badTokens).toMatchObject({ threshold: 25, windowMs: 30_000 });
    expect(config.detectors.badTokens.kinds).toEqual(resolveDetectorConfig().badTokens.kinds);
    expect(config.autoBlock).toEqual({ kinds: ['denial-spike', 'token-countries'], ttlMs: 5_400_000 });
    expect(config.webhook).toEqual({
      url: 'https://hooks.example/lanyard',
      headers: { Authorization: 'Bearer s3cret' },
    });
  });

  it.each<[NodeJS.ProcessEnv, RegExp]>([
    [{ LANYARD_MONITOR_DENIAL_SPIKE_THRESHOLD: '1' }, /DENIAL_SPIKE_THRESHOLD must be a whole number from 2/],
    [{ LANYARD_MONITOR_TOKEN_SPREAD_THRESHOLD: '3.5' }, /TOKEN_SPREAD_THRESHOLD/],
    [{ LANYARD_MONITOR_BAD_TOKENS_THRESHOLD: '1000001' }, /BAD_TOKENS_THRESHOLD/],
    [
      { LANYARD_MONITOR_TOKEN_COUNTRIES_WINDOW: '25h' },
      /TOKEN_COUNTRIES_WINDOW must be a duration from 1s to 24h/,
    ],
    [{ LANYARD_MONITOR_DENIAL_SPIKE_WINDOW: '10 minutes' }, /DENIAL_SPIKE_WINDOW.*"10 minutes"/],
    [{ LANYARD_MONITOR_AUTOBLOCK_KINDS: 'denial-spike,everything' }, /must list kinds among .*"everything"/],
    [{ LANYARD_MONITOR_AUTOBLOCK_KINDS: 'bad-tokens' }, /source address/],
    [
      { LANYARD_MONITOR_AUTOBLOCK_KINDS: 'idp-credential-stuffing' },
      /idp-credential-stuffing.*source address/,
    ],
    [{ LANYARD_MONITOR_IDP_TOKEN_FILE: 'relative/token' }, /IDP_TOKEN_FILE must be an absolute file path/],
    [
      { LANYARD_MONITOR_IDP_TOKEN_FILE: '/etc/lanyard/idp/token', LANYARD_HTTP_PORT: '0' },
      /IDP_TOKEN_FILE needs the HTTP port/,
    ],
    [{ LANYARD_MONITOR_AUTOBLOCK_TTL: '0s' }, /AUTOBLOCK_TTL must be a duration from 1s to 168h/],
    [{ LANYARD_MONITOR_AUTOBLOCK_TTL: '169h' }, /AUTOBLOCK_TTL/],
    [{ LANYARD_MONITOR_WEBHOOK_URL: 'hooks.example' }, /absolute http\(s\) URL/],
    [{ LANYARD_MONITOR_WEBHOOK_URL: 'ftp://hooks.example/' }, /http\(s\) URL/],
    [{ LANYARD_MONITOR_WEBHOOK_URL: 'https://u:p@hooks.example/' }, /no user:password/],
    [{ LANYARD_MONITOR_WEBHOOK_SECRET: 'x' }, /need LANYARD_MONITOR_WEBHOOK_URL/],
    [
      { LANYARD_MONITOR_WEBHOOK_URL: 'https://hooks.example/', LANYARD_MONITOR_WEBHOOK_SECRET: 'x' },
      /go together/,
    ],
    [
      {
        LANYARD_MONITOR_WEBHOOK_URL: 'https://hooks.example/',
        LANYARD_MONITOR_WEBHOOK_SECRET_HEADER: 'Bad Header',
        LANYARD_MONITOR_WEBHOOK_SECRET: 'x',
      },
      /HTTP header name/,
    ],
    [
      {
        LANYARD_MONITOR_WEBHOOK_URL: 'http://hooks.example/',
        LANYARD_MONITOR_WEBHOOK_SECRET_HEADER: 'Authorization',
        LANYARD_MONITOR_WEBHOOK_SECRET: 'x',
      },
      /must be https when a secret header is sent/,
    ],
  ])('refuses %j at start with a message naming the variable', (env, message) => {
    expect(refusal({ ...base, ...env })).toMatch(message);
  });

  it('blocks users on idp-impossible-travel and receives IdP notices when a token file is named', () => {
    const config = loadMonitorConfig({
      LANYARD_MONITOR_AUTOBLOCK_KINDS: 'idp-impossible-travel',
      LANYARD_MONITOR_IDP_TOKEN_FILE: '/etc/lanyard/idp/token',
    });
    expect(config.autoBlock?.kinds).toEqual(['idp-impossible-travel']);
    expect(config.idpNotices).toEqual({ tokenFile: '/etc/lanyard/idp/token' });
    expect(loadMonitorConfig({}).idpNotices).toBeUndefined();
  });

  it('geolocates with the packaged database by default, or with named files, or not at all', () => {
    expect(loadMonitorConfig({}).geoip).toEqual([]);
    expect(loadMonitorConfig({ LANYARD_MONITOR_GEOIP: 'builtin' }).geoip).toEqual([]);
    expect(loadMonitorConfig({ LANYARD_MONITOR_GEOIP: 'off' }).geoip).toBe('off');
    expect(
      loadMonitorConfig({ LANYARD_MONITOR_GEOIP: '/geo/GeoLite2-City.mmdb, /geo/extra.mmdb' }).geoip,
    ).toEqual(['/geo/GeoLite2-City.mmdb', '/geo/extra.mmdb']);
    expect(refusal({ ...base, LANYARD_MONITOR_GEOIP: 'relative.mmdb' })).toMatch(
      /LANYARD_MONITOR_GEOIP must be builtin, off, or up to 8/,
    );
  });

  it('never repeats the secret in its refusal', () => {
    const secret = 'Bearer leaked\r\nX-Injected: 1';
    const message = refusal({
      ...base,
      LANYARD_MONITOR_WEBHOOK_URL: 'https://hooks.example/',
      LANYARD_MONITOR_WEBHOOK_SECRET_HEADER: 'Authorization',
      LANYARD_MONITOR_WEBHOOK_SECRET: secret,
    });
    expect(message).toMatch(/LANYARD_MONITOR_WEBHOOK_SECRET must be/);
    expect(message).not.toContain('leaked');
  });
});

describe('loadDashboardConfig', () => {
  it('is off by default and when the port is 0', () => {
    expect(loadDashboardConfig({})).toBeUndefined();
    expect(
      loadDashboardConfig({ LANYARD_DASHBOARD_PORT: '0', LANYARD_DASHBOARD_TOKEN_FILE: '/t' }),
    ).toBeUndefined();
    expect(loadControllerConfig({ LANYARD_WEBHOOK_PORT: '0' }).dashboard).toBeUndefined();
  });

  it('reads the port and the token file', () => {
    const env = {
      LANYARD_WEBHOOK_PORT: '0',
      LANYARD_DASHBOARD_PORT: '15015',
      LANYARD_DASHBOARD_TOKEN_FILE: '/var/run/t',
    };
    expect(loadControllerConfig(env).dashboard).toEqual({ port: 15015, tokenFile: '/var/run/t' });
  });

  it('fails closed without a token file, and on a bad port', () => {
    const refused = (env: NodeJS.ProcessEnv) => {
      try {
        loadDashboardConfig(env);
      } catch (error) {
        return isLanyardError(error, 'ERR_CONFIG_INVALID') ? error.message : 'other error';
      }
      return 'accepted';
    };
    expect(refused({ LANYARD_DASHBOARD_PORT: '15015' })).toMatch(/LANYARD_DASHBOARD_TOKEN_FILE is required/);
    expect(refused({ LANYARD_DASHBOARD_PORT: '70000', LANYARD_DASHBOARD_TOKEN_FILE: '/t' })).toMatch(
      /LANYARD_DASHBOARD_PORT must be a port/,
    );
  });
});
