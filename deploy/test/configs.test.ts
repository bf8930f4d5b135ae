import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEPLOY, requireBinary } from './support.js';

/** Runs a tool to completion; its output becomes the failure message. */
function run(command: string, args: string[], env: Record<string, string> = {}): { status: number | null; output: string } {
  const result = spawnSync(command, args, { cwd: DEPLOY, env: { ...process.env, ...env }, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('the shipped configurations', () => {
  it('promtool accepts prometheus.yml and alerts.yml (lint included)', () => {
    const promtool = requireBinary('/usr/bin/promtool', 'prometheus');
    const config = run(promtool, ['check', 'config', 'prometheus/prometheus.yml']);
    expect(config.status, config.output).toBe(0);
    const rules = run(promtool, ['check', 'rules', '--lint=all', '--lint-fatal', 'prometheus/alerts.yml']);
    expect(rules.status, rules.output).toBe(0);
    expect(rules.output).toContain('SUCCESS: 12 rules found');
  });

  it('every alert passes its promtool unit test', () => {
    const promtool = requireBinary('/usr/bin/promtool', 'prometheus');
    const result = run(promtool, ['test', 'rules', 'prometheus/alerts.test.yml']);
    expect(result.status, result.output).toBe(0);
    expect(result.output).toContain('SUCCESS');
  });

  it('the unit test shows every alert both firing and quiet', () => {
    const alerts = [...readFileSync(join(DEPLOY, 'prometheus/alerts.yml'), 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
    const cases = readFileSync(join(DEPLOY, 'prometheus/alerts.test.yml'), 'utf8')
      .split('- eval_time:')
      .slice(1)
      .map((block) => ({ alert: /alertname: (\w+)/.exec(block)![1]!, quiet: /exp_alerts: \[\]/.test(block) }));
    expect(alerts).toHaveLength(12);
    for (const alert of alerts) {
      expect(cases.filter((c) => c.alert === alert).map((c) => (c.quiet ? 'quiet' : 'firing')), alert).toEqual(
        expect.arrayContaining(['firing', 'quiet']),
      );
    }
  });

  it('HAProxy accepts haproxy.cfg, with its defaults and with the environment the compose file sets', () => {
    const haproxy = requireBinary('/usr/sbin/haproxy', 'haproxy');
    const defaults = run(haproxy, ['-c', '-f', 'haproxy/haproxy.cfg']);
    expect(defaults.status, defaults.output).toBe(0);
    const compose = run(haproxy, ['-c', '-f', 'haproxy/haproxy.cfg'], {
      CLASSWIRE_LB_BIND: ':8080',
      CLASSWIRE_NODE1: 'node1.invalid:8080',
      CLASSWIRE_NODE2: 'node2.invalid:8080',
      CLASSWIRE_NODE3: 'node3.invalid:8080',
      HAPROXY_STATS_BIND: ':8404',
      HAPROXY_STATS_SOCKET: 'ipv4@127.0.0.1:9999',
    });
    expect(compose.status, compose.output).toBe(0);
  });

  it('the dashboard uses the provisioned data source and only Grafana variables Prometheus-side tests replace', () => {
    const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana/dashboards/classwire.json'), 'utf8')) as {
      uid: string;
      panels: { id: number; type: string; datasource?: { uid: string }; targets?: { expr: string }[] }[];
    };
    const datasource = readFileSync(join(DEPLOY, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8');
    const uid = /uid: (\S+)/.exec(datasource)![1];
    const panels = dashboard.panels.filter((p) => p.type !== 'row');
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    for (const panel of panels) {
      expect(panel.datasource?.uid).toBe(uid);
      expect(panel.targets?.length).toBeGreaterThan(0);
      for (const target of panel.targets!) expect(target.expr.replaceAll('$__rate_interval', '')).not.toContain('$');
    }
  });
});
