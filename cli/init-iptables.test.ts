import { describe, expect, it } from 'vitest';
import { runInitIptables, type Exec } from './init-iptables.ts';

const flags = [
  '--proxy-uid=1337',
  '--inbound-proxy-port=15006',
  '--outbound-proxy-port=15001',
  '--inbound-ports=8080',
  '--exclude-inbound-ports=15020',
  '--exclude-outbound-ports=',
  '--exclude-outbound-cidrs=',
];

/** Records the commands; `fail` names a command that exits 1. */
function fakeExec(fail?: string) {
  const calls: { command: string; args: readonly string[]; input?: string }[] = [];
  const exec: Exec = (command, args, input) => {
    calls.push({ command, args, ...(input === undefined ? {} : { input }) });
    if (command === fail) return Promise.resolve({ code: 1, stdout: '', stderr: 'refused by test' });
    const stdout = command.endsWith('-save') ? `*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n` : '';
    return Promise.resolve({ code: 0, stdout, stderr: '' });
  };
  return { exec, calls };
}

async function run(args: string[], exec: Exec, ipv6 = false) {
  let out = '';
  let err = '';
  const code = await runInitIptables(
    args,
    { out: (t) => (out += t), err: (t) => (err += t) },
    { exec, ipv6: () => ipv6 },
  );
  return { code, out, err };
}

describe('lanyard init-iptables', () => {
  it('prints both families on --dry-run and runs nothing', async () => {
    const { exec, calls } = fakeExec();
    const { code, out } = await run([...flags, '--dry-run'], exec);
    expect(code).toBe(0);
    expect(calls).toEqual([]);
    expect(out).toContain('# iptables-restore --noflush\n*nat\n');
    expect(out).toContain('# ip6tables-restore --noflush\n*nat\n');
    expect(out).toContain('-A LANYARD_INBOUND -p tcp --dport 8080 -j LANYARD_IN_REDIRECT');
  });

  it('exits 2 on a bad flag, with a clear message, and applies nothing', async () => {
    for (const bad of ['--inbound-ports=80,x', '--exclude-outbound-cidrs=10.0.0.1/8', '--no-such-flag']) {
      const { exec, calls } = fakeExec();
      const { code, err } = await run([...flags, bad], exec);
      expect(code).toBe(2);
      expect(err).toMatch(/^lanyard init-iptables: /);
      expect(calls).toEqual([]);
    }
  });

  it('applies IPv4 (and IPv6 when present) as one iptables-restore transaction each', async () => {
    const { exec, calls } = fakeExec();
    expect((await run(flags, exec, true)).code).toBe(0);
    expect(calls.map((c) => [c.command, ...c.args].join(' '))).toEqual([
      'iptables-save -t nat',
      'iptables-restore --noflush -w 10',
      'ip6tables-save -t nat',
      'ip6tables-restore --noflush -w 10',
    ]);
    expect(calls[1]!.input).toContain('-A OUTPUT -p tcp -j LANYARD_OUTPUT');
    expect(calls[3]!.input).toContain('::1/128');
  });

  it('puts IPv4 back as it was when IPv6 is refused, and exits 1', async () => {
    const { exec, calls } = fakeExec('ip6tables-restore');
    const { code, err } = await run(flags, exec, true);
    expect(code).toBe(1);
    expect(err).toContain('ip6tables-restore --noflush -w 10 failed (exit 1): refused by test');
    const last = calls.at(-1)!;
    expect([last.command, ...last.args].join(' ')).toBe('iptables-restore -T nat -w 10');
    expect(last.input).toBe('*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n');
  });

  it('exits 1 naming the tool when it cannot run', async () => {
    const exec: Exec = () => Promise.reject(new Error('spawn iptables-save ENOENT'));
    const { code, err } = await run(flags, exec);
    expect(code).toBe(1);
    expect(err).toContain('iptables-save could not run: spawn iptables-save ENOENT');
  });
});
