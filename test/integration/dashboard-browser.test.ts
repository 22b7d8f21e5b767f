// The monitoring dashboard as an operator meets it: the dev mesh (a real control plane, real
// sidecars over mTLS reporting real decision events), a block on the BlockList, and Debian's
// chromium signing in and watching the page update itself.
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevMesh, type DevMesh } from '../../dev/mesh.ts';
import { runScenario } from '../../dev/scenario.ts';
import type { DashboardHandle } from '../../controller/dashboard/index.ts';

const screenshot = fileURLToPath(new URL('../../docs/images/dashboard.png', import.meta.url));
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => existsSync(path));
const WEB = 'spiffe://cluster.local/ns/demo/sa/web';
// A request path (any caller chooses it) carrying markup that must stay text.
const HOSTILE_PATH = '/admin/<img/src=x/onerror=window.pwned=1>';

const dir = mkdtempSync(join(tmpdir(), 'lanyard-dashboard-browser-'));
let mesh: DevMesh | undefined;
let dashboard: DashboardHandle | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!CHROMIUM) throw new Error('chromium is not installed (apt-get install -y chromium)');
  mesh = await startDevMesh({ stateDir: join(dir, 'state') });
  dashboard = await mesh.controlPlane.startDashboard({ port: 0 });
  const results = await runScenario(mesh);
  expect(results.filter((r) => !r.ok)).toEqual([]);
  // The sidecar refuses the path itself (400), and records the refusal with the raw path.
  expect((await mesh.call('GET', `/shop${HOSTILE_PATH}`)).status).toBe(400);
  // A spike of denials for the driver's principal: the detector's default is 20 in a minute.
  for (let i = 0; i < 20; i += 1) expect((await mesh.call('GET', '/shop/admin')).status).toBe(403);
  mesh.controlPlane.monitor.blocks.add(
    { type: 'user', value: 'mallory' },
    15 * 60_000,
    'refund abuse, see ticket 42',
    'operator',
  );
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  await mesh?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The text of the table's rows, one string per row. */
async function rows(page: Page, id: string): Promise<string[]> {
  return page.locator(`#${id}-table tbody tr`).allInnerTexts();
}

/** The (allowed, denied) counts of the web → orders row of the Calls table. */
async function webToOrders(page: Page): Promise<[number, number] | undefined> {
  for (const row of await rows(page, 'calls')) {
    const cells = row.split('\t');
    if (cells[0] === 'demo/web' && cells[1] === 'demo/orders') return [Number(cells[2]), Number(cells[3])];
  }
  return undefined;
}

describe('dashboard in a real browser', () => {
  it('signs in with the login token and shows workloads, policies, calls, denials and blocks, updating live', async () => {
    const context = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      // Script errors and CSP refusals; not the HTTP statuses the test provokes (a 401 login,
      // the favicon's 404).
      page.on('console', (message) => {
        if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
          errors.push(message.text());
        }
      });

      await page.goto(dashboard!.url);
      expect(new URL(page.url()).pathname).toBe('/login');
      await page.getByLabel('Login token').fill('not-the-token-not-the-token-not-the-token');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('That login token is not valid.').waitFor();
      await page.getByLabel('Login token').fill(dashboard!.token);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { level: 1, name: 'Lanyard dashboard' }).waitFor();
      expect(new URL(page.url()).pathname).toBe('/');
      expect(page.url()).not.toContain(dashboard!.token);
      const session = (await context.cookies()).find((c) => c.name === 'lanyard_dashboard');
      expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict' });

      // Events reach the control plane in batches: wait (through the page's own polling) until
      // every denial of the scenario is in.
      await expect
        .poll(async () => (await rows(page, 'denials')).join('\n'), { timeout: 30_000, interval: 500 })
        .toMatch(/no-admin rule admin-paths[\s\S]*no-admin rule admin-paths/);

      const workloads = await rows(page, 'workloads');
      for (const name of ['web', 'orders', 'payments']) {
        const row = workloads.find((r) => r.startsWith(`spiffe://cluster.local/ns/demo/sa/${name}\t`));
        expect(row, `workload ${name}`).toBeDefined();
        expect(row).toMatch(/\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in \d+ min\)\t/);
      }

      const policies = await rows(page, 'policies');
      expect(policies.find((r) => r.startsWith('demo/orders\t'))).toMatch(
        /^demo\/orders\tTrue \(Accepted\)\tTrue \(Delivered\)\t1\t/,
      );
      expect(policies.some((r) => /no-admin\tTrue \(Accepted\)/.test(r))).toBe(true);

      const before = await webToOrders(page);
      expect(before).toBeDefined();
      expect(before![0]).toBeGreaterThan(0);
      expect(before![1]).toBeGreaterThan(0);
      const edge = page.locator('#graph g.edge', { hasText: `${before![0]} / ${before![1]}` });
      expect(await page.locator('#graph g.edge title').allTextContents()).toContain(
        `demo/web → demo/orders: ${before![0]} allowed, ${before![1]} denied`,
      );
      expect(await edge.count()).toBeGreaterThan(0);

      const denials = await rows(page, 'denials');
      expect(
        denials.some((r) => r.includes('GET /shop/admin\t') && r.includes('no-admin rule admin-paths')),
      ).toBe(true);
      expect(denials.some((r) => r.includes(`\tGET /shop${HOSTILE_PATH}\t`))).toBe(true);
      expect(await page.evaluate('window.pwned')).toBeUndefined();
      expect(await page.locator('main img').count()).toBe(0);

      await expect
        .poll(async () => (await rows(page, 'anomalies')).join('\n'), { timeout: 30_000, interval: 500 })
        .toMatch(
          /\tdenial-spike\tprincipal spiffe:\/\/cluster\.local\/ns\/demo\/sa\/driver\t\d+ \(threshold 20\)\t/,
        );

      const blocks = await rows(page, 'blocks');
      expect(blocks.some((r) => r.startsWith('user\tmallory\trefund abuse, see ticket 42\toperator\t'))).toBe(
        true,
      );

      // A new call shows up without a reload: the page is the same document throughout.
      await page.evaluate('window.sameDocument = true');
      const alice = await mesh!.sessions.accessToken('alice');
      expect((await mesh!.call('GET', '/shop/orders/17', alice)).status).toBe(200);
      await expect
        .poll(async () => (await webToOrders(page))?.[0], { timeout: 30_000, interval: 500 })
        .toBeGreaterThan(before![0]);
      expect(await page.evaluate('window.sameDocument')).toBe(true);
      expect(await page.locator('#graph g.edge title').allTextContents()).toContain(
        `demo/web → demo/orders: ${(await webToOrders(page))![0]} allowed, ${before![1]} denied`,
      );
      expect(await page.locator('#workloads-table').textContent()).toContain(WEB);
      expect(errors).toEqual([]);

      const shot = join(dir, 'dashboard.png');
      await page.screenshot({ path: shot, fullPage: true });
      // Only a passing run replaces the screenshot in docs/.
      copyFileSync(shot, screenshot);
    } finally {
      await context.close();
    }
  });

  it('answers the JSON endpoint only to a session', async () => {
    const response = await fetch(new URL('/api/state', dashboard!.url));
    expect(response.status).toBe(401);
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
  });
});
